//! The planted, systematic stock-record errors: which SKU-locations get one (weighted
//! toward each warehouse's messy zone and a few sloppy suppliers, spread over every
//! warehouse and velocity class), what cause each has, the damage done before day 1,
//! and how the cause strikes when stock is put away.
//!
//! The simulation calls [`World::put_away`] on every put-away and applies the silent
//! drains itself (`counts.rs`); the ground truth is written by `report.rs`.

use super::model::{ErrorKind, NO_PLANT, Planted};
use super::rng::{Rng, ln};
use super::timefmt::HOUR;
use super::world::{BACKLOG_DAYS, World};

impl World {
    /// Pick the planted SKU-locations (weighted toward each warehouse's messy zone and
    /// sloppy suppliers, never all in one place) and their error mechanisms.
    pub(crate) fn plant_errors(&mut self, rng: &mut Rng) {
        let eligible: Vec<usize> = (0..self.slots.len())
            .filter(|&s| self.slots[s].active_from == 0)
            .collect();
        let target = ((300.0 * self.scale).round() as usize)
            .max(30)
            .min(eligible.len() / 3);
        // Efraimidis–Spirakis weighted sampling without replacement: key = ln(u) / w.
        let mut keyed: Vec<(f64, usize)> = eligible
            .iter()
            .map(|&s| {
                let slot = &self.slots[s];
                let wh = &self.warehouses[slot.wh as usize];
                let item = &self.items[slot.item as usize];
                let mut weight = 1.0;
                if self.locations[slot.loc as usize].zone == wh.messy_zone {
                    weight *= 4.0;
                }
                if self.suppliers[item.supplier as usize].messy {
                    weight *= 3.0;
                }
                (ln(1.0 - rng.f64()) / weight, s)
            })
            .collect();
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut chosen: Vec<usize> = keyed.iter().take(target).map(|k| k.1).collect();
        chosen.sort_unstable();
        for s in chosen {
            let item = &self.items[self.slots[s].item as usize];
            let messy = self.suppliers[item.supplier as usize].messy;
            let uom = if messy { 0.5 } else { 0.18 };
            // Receipt-driven causes need receipts: rare on slots replenished less than
            // every three weeks or so.
            let slot = &self.slots[s];
            let receipt_days = slot.order_qty / slot.rate.max(1e-6);
            let by_receipt = if receipt_days > 21.0 { 0.25 } else { 1.0 };
            let uom_fit = if receipt_days > 12.0 { 0.35 } else { 1.0 };
            let weights = [
                0.32,
                0.22 * by_receipt,
                uom * 0.45 * uom_fit,
                uom * 0.55 * uom_fit,
                0.24,
            ];
            let kind = match rng.weighted(&weights) {
                0 => ErrorKind::PhantomStock,
                1 => ErrorKind::MisSlotting,
                2 => ErrorKind::UomHidden,
                3 => ErrorKind::UomOver,
                _ => ErrorKind::DamagedNotRecorded,
            };
            let day = if rng.chance(0.45) {
                -(rng.range(1, i64::from(BACKLOG_DAYS)) as i32)
            } else {
                rng.range(0, i64::from((self.days * 7 / 10).max(1))) as i32
            };
            let (strength, period) = match kind {
                ErrorKind::PhantomStock => {
                    // Thieves take from busy bins more often; slow bins lose a unit now
                    // and then.
                    let rate = self.slots[s].rate;
                    let period = if rate >= 1.0 {
                        rng.range(1, 2)
                    } else {
                        rng.range(2, 5)
                    } as i32;
                    (1.0 + rng.poisson(rate.min(6.0) * 0.3) as f64, period)
                }
                ErrorKind::MisSlotting => (rng.uniform(0.2, 0.5), 0),
                ErrorKind::UomHidden | ErrorKind::UomOver => (*rng.pick(&[2.0, 3.0, 4.0, 6.0]), 0),
                ErrorKind::DamagedNotRecorded => (rng.uniform(0.08, 0.25), rng.range(3, 7) as i32),
            };
            let w = self.slots[s].wh as usize;
            let at = self.warehouses[w]
                .clock
                .at(day, rng.range(6 * HOUR, 20 * HOUR));
            let idx = self.planted.len() as u32;
            self.slots[s].planted = idx;
            self.planted.push(Planted {
                slot: s as u32,
                kind,
                day,
                at,
                strength,
                period,
                next_event: day.max(0),
            });
        }
    }

    /// Errors planted before day 1 have already done damage: the first hit, plus the
    /// drains accumulated since the slot's last count.
    pub(crate) fn age_planted_errors(&mut self) {
        for p in 0..self.planted.len() {
            let pl = self.planted[p].clone();
            if pl.day >= 0 {
                continue;
            }
            self.first_hit(p);
            let slot = &mut self.slots[pl.slot as usize];
            let elapsed = f64::from(-pl.day.max(slot.last_count));
            let drains = (elapsed / f64::from(pl.period.max(1))).floor();
            let loss = match pl.kind {
                ErrorKind::PhantomStock => drains * pl.strength,
                ErrorKind::DamagedNotRecorded => drains,
                _ => 0.0,
            };
            slot.truth = (slot.truth - loss).max(0.0);
        }
    }

    /// Units that physically reach the bin when `qty` units are put away there (receipts,
    /// transfers in, restocked returns) at a planted slot on `day`.
    pub(crate) fn put_away(&self, slot: usize, qty: f64, day: i32) -> f64 {
        let s = &self.slots[slot];
        if s.planted == NO_PLANT {
            return qty;
        }
        let p = &self.planted[s.planted as usize];
        if p.day > day {
            return qty;
        }
        let by_weight = self.items[s.item as usize].by_weight();
        let step = if by_weight { 0.5 } else { 1.0 };
        match p.kind {
            ErrorKind::MisSlotting | ErrorKind::DamagedNotRecorded => {
                let lost = ((qty * p.strength) / step).round() * step;
                qty - lost.max(if qty >= 2.0 * step { step } else { 0.0 })
            }
            ErrorKind::UomHidden => qty * p.strength,
            ErrorKind::UomOver => ((qty / p.strength) / step).floor() * step,
            ErrorKind::PhantomStock => qty,
        }
    }

    /// The moment a planted cause starts, it strikes once: the receipt being put away
    /// is mis-slotted, booked in the wrong unit or partly damaged; the first units
    /// disappear from a phantom bin.
    pub(crate) fn first_hit(&mut self, p: usize) {
        let pl = &self.planted[p];
        let slot = &mut self.slots[pl.slot as usize];
        let lot = slot.truth.min(slot.order_qty).max(0.0);
        let change = match pl.kind {
            ErrorKind::PhantomStock => -pl.strength,
            ErrorKind::MisSlotting | ErrorKind::DamagedNotRecorded => {
                -(lot * pl.strength).round().max(1.0)
            }
            ErrorKind::UomHidden => (lot * (pl.strength - 1.0)).round().max(1.0),
            ErrorKind::UomOver => -(lot * (1.0 - 1.0 / pl.strength)).floor().max(1.0),
        };
        slot.truth = (slot.truth + change).max(0.0);
    }
}
