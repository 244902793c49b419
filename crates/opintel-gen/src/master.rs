//! Master data exports: day 1's full `items.csv`, `locations.csv` and `suppliers.csv`,
//! and the small `items-YYYY-MM-DD.csv` change files of later days (cost changes, ABC
//! reclassifications, SKUs launched during the period).
//!
//! Master rows carry their own `updated_at`; later versions win in the product.

use std::io;

use super::layout::EnumOf;
use super::model::Abc;
use super::noise::Table;
use super::simulate::Sim;
use super::timefmt::{HOUR, MINUTE};

impl Sim {
    /// Day 1: the full master data.
    pub(crate) fn write_master(&mut self) -> io::Result<()> {
        let id = self.out.open_master(Table::Suppliers)?;
        for i in 0..self.world.suppliers.len() {
            let s = &self.world.suppliers[i];
            self.out
                .f(id)
                .begin()
                .s(&s.id)
                .s(&s.name)
                .s(s.country)
                .ts(s.updated_at);
            self.out.end(id, s.updated_at)?;
        }
        let id = self.out.open_master(Table::Items)?;
        for i in 0..self.world.items.len() {
            if self.world.item_intro[i] <= 0 {
                let t = self.world.items[i].updated_at;
                self.write_item(id, i, t)?;
            }
        }
        let id = self.out.open_master(Table::Locations)?;
        for l in 0..self.world.locations.len() {
            let world = &self.world;
            let loc = &world.locations[l];
            let wh = &world.warehouses[loc.wh as usize];
            // Locations were set up when the site opened its zones.
            let t = (world.day0 - 400 - i64::from(loc.zone) * 17) * 86_400
                + 9 * HOUR
                + (l as i64 % 3600);
            let f = self.out.f(id).begin();
            f.loc(loc)
                .s(&wh.id)
                .s(&wh.zones[loc.zone as usize].name)
                .en(EnumOf::Other, loc.ltype.name())
                .ts(t);
            self.out.end(id, t)?;
        }
        Ok(())
    }

    fn write_item(&mut self, id: usize, i: usize, t: i64) -> io::Result<()> {
        let world = &self.world;
        let it = &world.items[i];
        let family = super::catalog::FAMILIES[it.family as usize].name;
        let f = self.out.f(id).begin();
        f.sku(it)
            .s(&it.description)
            .s(family)
            .s(&world.suppliers[it.supplier as usize].id);
        f.money(it.unit_cost).en(EnumOf::Other, it.abc.name()).ts(t);
        self.out.end(id, t)
    }

    /// Later days: a few cost and class changes, and the SKUs launched today.
    pub(crate) fn write_item_changes(&mut self, d: i32) -> io::Result<()> {
        let Some(id) = self.out.ids.items else {
            return Ok(());
        };
        let clock = self.world.warehouses[0].clock.clone();
        let mut t = clock.at(d, 7 * HOUR + self.rng_ops.range(0, HOUR));
        let n_items = self.world.items.len();
        let launches: Vec<usize> = (0..n_items)
            .filter(|&i| self.world.item_intro[i] == d)
            .collect();
        for i in launches {
            self.stats.new_skus += 1;
            self.world.items[i].updated_at = t;
            self.write_item(id, i, t)?;
            t += self.rng_ops.range(MINUTE, 20 * MINUTE);
        }
        let costs = 1 + self.rng_ops.poisson(n_items as f64 * 0.0015) as usize;
        let classes = self.rng_ops.poisson(n_items as f64 * 0.0006) as usize;
        for k in 0..costs + classes {
            let i = self.rng_ops.index(n_items);
            if self.world.item_intro[i] > d {
                continue;
            }
            let item = &mut self.world.items[i];
            if k < costs {
                item.unit_cost = ((item.unit_cost * self.rng_ops.uniform(0.9, 1.12)) * 100.0)
                    .round()
                    .max(150.0)
                    / 100.0;
            } else {
                item.abc = match item.abc {
                    Abc::A => Abc::B,
                    Abc::B if self.rng_ops.chance(0.5) => Abc::A,
                    Abc::B | Abc::None => Abc::C,
                    Abc::C => Abc::B,
                };
            }
            item.updated_at = t;
            self.write_item(id, i, t)?;
            t += self.rng_ops.range(MINUTE, 30 * MINUTE);
        }
        Ok(())
    }
}
