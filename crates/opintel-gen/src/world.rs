//! Builds the operation before day 1: suppliers and their habits, the item master with
//! heavy-tailed popularity and ABC classes, warehouses with zones and bin locations,
//! the stock slots (one pick location per SKU and warehouse) with opening stock and
//! reorder parameters, and the planted, systematic stock-record errors.
//!
//! Everything is drawn from the `world` RNG stream, so the same seed and scale always
//! give the same operation. Nothing here writes files.

use chrono_tz::Tz;

use super::GenerateOptions;
use super::assortment;
use super::model::{
    Abc, BinCode, Item, LocType, Location, NO_PLANT, Planted, Slot, Style, Supplier, Warehouse,
    Zone,
};
use super::rng::Rng;
use super::timefmt::{ZoneClock, epoch_day};

/// Order lines per day at scale 1 (≈ 300,000 over 35 days).
pub(crate) const LINES_PER_DAY: f64 = 300_000.0 / 35.0;
/// Average units per order line over the channel mix (see `demand::line_qty`).
pub(crate) const UNITS_PER_LINE: f64 = 3.2;
/// First simulation day of the backlog (exceptions opened before day 1).
pub(crate) const BACKLOG_DAYS: i32 = 60;

pub(crate) struct World {
    /// Epoch day of simulation day 0 (the first exported day).
    pub day0: i64,
    pub days: i32,
    pub scale: f64,
    pub suppliers: Vec<Supplier>,
    pub items: Vec<Item>,
    /// Day each item first appears in the item master (≤ 0: in day 1's full file).
    pub item_intro: Vec<i32>,
    pub warehouses: Vec<Warehouse>,
    pub locations: Vec<Location>,
    pub slots: Vec<Slot>,
    /// Slot stocked at each location (`u32::MAX` for empty and non-pick locations).
    pub slot_at_loc: Vec<u32>,
    pub planted: Vec<Planted>,
    /// First day and length of the promotion.
    pub promo_start: i32,
    pub promo_days: i32,
    /// Items on promotion (their demand multiplies most during the promotion).
    pub promoted: Vec<bool>,
}

struct Site {
    id: &'static str,
    letter: char,
    tz: Tz,
    style: Style,
    share: f64,
}

const SITES: &[Site] = &[
    Site {
        id: "WH-EAST",
        letter: 'E',
        tz: chrono_tz::America::New_York,
        style: Style::East,
        share: 0.40,
    },
    Site {
        id: "WH-WEST",
        letter: 'W',
        tz: chrono_tz::America::Los_Angeles,
        style: Style::West,
        share: 0.34,
    },
    Site {
        id: "3PL-CENTRAL",
        letter: 'C',
        tz: chrono_tz::America::Chicago,
        style: Style::ThirdParty,
        share: 0.26,
    },
    Site {
        id: "WH-SOUTH",
        letter: 'S',
        tz: chrono_tz::America::Chicago,
        style: Style::Other,
        share: 0.22,
    },
    Site {
        id: "WH-NORTH",
        letter: 'N',
        tz: chrono_tz::America::Chicago,
        style: Style::Other,
        share: 0.20,
    },
    Site {
        id: "WH-MOUNTAIN",
        letter: 'M',
        tz: chrono_tz::America::Denver,
        style: Style::Other,
        share: 0.18,
    },
    Site {
        id: "WH-GULF",
        letter: 'G',
        tz: chrono_tz::America::Chicago,
        style: Style::Other,
        share: 0.18,
    },
    Site {
        id: "WH-PACIFIC",
        letter: 'P',
        tz: chrono_tz::America::Los_Angeles,
        style: Style::Other,
        share: 0.16,
    },
    Site {
        id: "WH-LAKES",
        letter: 'L',
        tz: chrono_tz::America::Chicago,
        style: Style::Other,
        share: 0.16,
    },
    Site {
        id: "WH-ATLANTIC",
        letter: 'A',
        tz: chrono_tz::America::New_York,
        style: Style::Other,
        share: 0.16,
    },
];

/// Zones of every warehouse: six pick zones (A fastest), reserve, bulk, staging,
/// returns and dock; the letter appears in location ids.
const ZONES: &[(&str, char, LocType)] = &[
    ("PICK-A", 'A', LocType::Pick),
    ("PICK-B", 'B', LocType::Pick),
    ("PICK-C", 'C', LocType::Pick),
    ("PICK-D", 'D', LocType::Pick),
    ("PICK-E", 'E', LocType::Pick),
    ("PICK-F", 'F', LocType::Pick),
    ("RESERVE-G", 'G', LocType::Reserve),
    ("RESERVE-H", 'H', LocType::Reserve),
    ("BULK-J", 'J', LocType::Bulk),
    ("STAGING-S", 'S', LocType::Staging),
    ("RETURNS-R", 'R', LocType::Returns),
    ("DOCK-K", 'K', LocType::Dock),
];

/// Number of warehouses for a scale: three up to scale 4, then one more per doubling.
pub(crate) fn warehouse_count(scale: f64) -> usize {
    let mut n = 3;
    let mut s = scale / 4.0;
    while s >= 2.0 && n < SITES.len() {
        n += 1;
        s /= 2.0;
    }
    n
}

impl World {
    pub(crate) fn build(opts: &GenerateOptions) -> World {
        let mut rng = Rng::stream(opts.seed, "world");
        let days = opts.days as i32;
        let day0 = epoch_day(opts.end) - i64::from(days) + 1;
        let scale = opts.scale;
        let suppliers = assortment::suppliers(&mut rng, scale, day0);
        let (items, item_intro) = assortment::items(&mut rng, scale, days, day0, suppliers.len());
        let mut world = World {
            day0,
            days,
            scale,
            suppliers,
            items,
            item_intro,
            warehouses: Vec::new(),
            locations: Vec::new(),
            slots: Vec::new(),
            slot_at_loc: Vec::new(),
            planted: Vec::new(),
            promo_start: 0,
            promo_days: 0,
            promoted: Vec::new(),
        };
        world.build_sites(&mut rng);
        world.plant_errors(&mut rng);
        world.age_planted_errors();
        // A 3-4 day promotion inside the last 28 days (and not on the very last days, so
        // that the stockouts after it are visible).
        world.promo_days = 3 + rng.below(2) as i32;
        let lo = (days - 28).max(0);
        let hi = (days - world.promo_days - 3).max(lo);
        world.promo_start = rng.range(i64::from(lo), i64::from(hi)) as i32;
        // The promotion features a selection of popular items.
        world.promoted = world
            .items
            .iter()
            .map(|i| match i.abc {
                Abc::A => rng.chance(0.25),
                Abc::B => rng.chance(0.1),
                _ => false,
            })
            .collect();
        world
    }

    /// Simulation day (local to warehouse `w`) of instant `t`.
    pub(crate) fn clock_day_of(&self, w: usize, t: i64) -> i32 {
        self.warehouses[w].clock.day_of(t)
    }

    /// Demand multiplier of the promotion for a consumer channel on `day`.
    pub(crate) fn promo_factor(&self, day: i32) -> f64 {
        if day >= self.promo_start && day < self.promo_start + self.promo_days {
            2.5
        } else {
            1.0
        }
    }

    fn build_sites(&mut self, rng: &mut Rng) {
        let n_wh = warehouse_count(self.scale);
        let n_items = self.items.len();
        for (w, site) in SITES.iter().take(n_wh).enumerate() {
            let clock = ZoneClock::new(site.tz, self.day0, -BACKLOG_DAYS - 2, self.days + 40);
            let zones = ZONES
                .iter()
                .map(|(name, _, _)| Zone {
                    name: (*name).to_string(),
                })
                .collect();
            self.warehouses.push(Warehouse {
                id: site.id.to_string(),
                letter: site.letter,
                file_tag: site.id.to_lowercase(),
                count_prefix: format!("CC-{}", site.letter),
                counter_prefix: format!("CNT-{}-", site.letter),
                user_prefix: format!("u.{}", site.letter.to_ascii_lowercase()),
                style: site.style,
                clock,
                share: site.share,
                zones,
                messy_zone: rng.range(1, 5) as u8,
                slot_of: vec![u32::MAX; n_items],
                slots: Vec::new(),
            });
            self.stock_warehouse(rng, w);
        }
        // Every active SKU is sold somewhere.
        for i in 0..n_items {
            if self.warehouses.iter().all(|w| w.slot_of[i] == u32::MAX) {
                let w = rng.index(self.warehouses.len());
                let zone = pick_zone_for(rng, self.items[i].abc);
                self.add_slot(rng, w, i, zone);
            }
        }
        for w in 0..self.warehouses.len() {
            self.assign_pick_locations(rng, w);
        }
        self.slot_at_loc = vec![u32::MAX; self.locations.len()];
        for (i, s) in self.slots.iter().enumerate() {
            self.slot_at_loc[s.loc as usize] = i as u32;
        }
        self.size_slots(rng);
    }

    fn stock_warehouse(&mut self, rng: &mut Rng, w: usize) {
        for i in 0..self.items.len() {
            let p = match self.items[i].abc {
                Abc::A => 0.9,
                Abc::B => 0.7,
                Abc::C | Abc::None => 0.52,
            };
            if rng.chance(p) {
                let zone = pick_zone_for(rng, self.items[i].abc);
                self.add_slot(rng, w, i, zone);
            }
        }
    }

    /// Create the slot; its location is assigned later (`loc` holds the zone for now)
    /// and its stock and reorder parameters once the assortment is known.
    fn add_slot(&mut self, rng: &mut Rng, w: usize, item: usize, zone: u8) {
        let interval = self.items[item].abc.count_interval();
        let slot = Slot {
            wh: w as u8,
            loc: u32::from(zone),
            item: item as u32,
            system: 0.0,
            truth: 0.0,
            rate: 0.0,
            reorder_point: 0.0,
            order_qty: 0.0,
            open_po: false,
            last_count: -(rng.range(1, i64::from(interval)) as i32),
            spot_day: i32::MIN,
            mispicked: false,
            planted: NO_PLANT,
            active_from: 0,
        };
        let idx = self.slots.len() as u32;
        self.slots.push(slot);
        self.warehouses[w].slot_of[item] = idx;
        self.warehouses[w].slots.push(idx);
    }

    /// Expected demand, reorder point, order quantity and opening stock of every slot:
    /// the planner's view, from the warehouse's share of lines and the item's share of
    /// the warehouse's popularity.
    fn size_slots(&mut self, rng: &mut Rng) {
        let total = total_share(self.warehouses.len());
        for w in 0..self.warehouses.len() {
            let lines = LINES_PER_DAY * self.scale * self.warehouses[w].share / total;
            let pop: f64 = self.warehouses[w]
                .slots
                .iter()
                .map(|&s| self.items[self.slots[s as usize].item as usize].popularity)
                .sum();
            for k in 0..self.warehouses[w].slots.len() {
                let s = self.warehouses[w].slots[k] as usize;
                let item = self.slots[s].item as usize;
                let it = &self.items[item];
                let lead = f64::from(self.suppliers[it.supplier as usize].lead_days);
                let rate = lines * UNITS_PER_LINE * it.popularity / pop.max(1e-9);
                let pack = f64::from(it.case_pack);
                let cover = rng.uniform(6.0, 15.0);
                let order_qty = (rate * cover / pack).ceil().max(1.0) * pack;
                let reorder_point = (rate * (lead + rng.uniform(2.0, 4.0))).ceil().max(1.0);
                let slot = &mut self.slots[s];
                slot.rate = rate;
                slot.reorder_point = reorder_point;
                slot.order_qty = order_qty;
                let intro = self.item_intro[item];
                if intro > 0 {
                    slot.active_from = intro + 3;
                    slot.last_count = intro + 3;
                } else {
                    let stock = (reorder_point + rng.uniform(0.2, 1.0) * order_qty).round();
                    slot.system = stock;
                    slot.truth = stock;
                }
            }
        }
    }

    /// Give every slot a bin in its zone (`Z-AA-BB-L`: aisle, bay, level), list spare
    /// pick bins and the non-pick locations.
    fn assign_pick_locations(&mut self, rng: &mut Rng, w: usize) {
        let letter = self.warehouses[w].letter;
        let wh_slots = self.warehouses[w].slots.clone();
        let mut per_zone: Vec<Vec<u32>> = vec![Vec::new(); ZONES.len()];
        for &s in &wh_slots {
            per_zone[self.slots[s as usize].loc as usize].push(s);
        }
        for (z, (_, zl, ltype)) in ZONES.iter().enumerate() {
            let needed = if *ltype == LocType::Pick {
                per_zone[z].len() + per_zone[z].len() / 12 + 2 // spare bins for new SKUs
            } else {
                let picks = wh_slots.len();
                match ltype {
                    LocType::Reserve => picks / 10 + 4,
                    LocType::Bulk => picks / 25 + 4,
                    LocType::Staging => 8 + picks / 400,
                    LocType::Returns => 10 + picks / 300,
                    _ => 6 + picks / 800,
                }
            };
            let levels = if *ltype == LocType::Pick { 5 } else { 3 };
            let bays = 20;
            let mut n = 0usize;
            let mut aisle = 1 + rng.below(3) as usize;
            'fill: loop {
                for bay in 1..=bays {
                    for level in 1..=levels {
                        if n == needed {
                            break 'fill;
                        }
                        let code = BinCode {
                            site: letter as u8,
                            zone: *zl as u8,
                            aisle: aisle as u16,
                            bay: bay as u8,
                            level: level as u8,
                        };
                        let loc = self.locations.len() as u32;
                        self.locations.push(Location {
                            code,
                            wh: w as u8,
                            zone: z as u8,
                            ltype: *ltype,
                        });
                        if *ltype == LocType::Pick && n < per_zone[z].len() {
                            self.slots[per_zone[z][n] as usize].loc = loc;
                        }
                        n += 1;
                    }
                }
                aisle += 1;
            }
        }
    }
}

/// Sum of the order-routing shares of the first `n` sites.
pub(crate) fn total_share(n: usize) -> f64 {
    SITES.iter().take(n).map(|s| s.share).sum()
}

/// Fast movers live in the front pick zones.
fn pick_zone_for(rng: &mut Rng, abc: Abc) -> u8 {
    let base = match abc {
        Abc::A => 0,
        Abc::B => 2,
        Abc::C | Abc::None => 4,
    };
    let z = base + rng.below(2) as u8;
    if rng.chance(0.1) {
        rng.below(6) as u8
    } else {
        z
    }
}
