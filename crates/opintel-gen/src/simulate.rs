//! The day-by-day discrete simulation: the state that lives across days (queues of
//! order lines, purchase-order lines, exception and return events, transfers), the id
//! counters, and the loop that runs each day's phases in the order a warehouse lives
//! them: early cycle counts, morning receipts, picking and shipping, end-of-day
//! adjustments and reordering.
//!
//! The phases themselves are in `demand.rs`, `fulfil.rs`, `inbound.rs`, `counts.rs`,
//! `returns.rs` and `exceptions.rs`; master data in `master.rs`.

use std::io;

use super::demand::{Line, LineVersion};
use super::exceptions::ExcEvent;
use super::inbound::PoLine;
use super::model::Style;
use super::returns::ReturnEv;
use super::rng::{Alias, Rng};
use super::timefmt::{HOUR, MINUTE};
use super::world::World;
use super::writer::Writer;

/// Local working windows (seconds after local midnight).
pub(crate) const COUNT_START: i64 = 5 * HOUR;
pub(crate) const RECEIVE_START: i64 = 6 * HOUR + 45 * MINUTE;
pub(crate) const PICK_START: i64 = 9 * HOUR + 30 * MINUTE;
pub(crate) const PICK_END: i64 = 21 * HOUR + 30 * MINUTE;
pub(crate) const EOD_START: i64 = 21 * HOUR + 45 * MINUTE;
/// The 3PL works a later shift.
pub(crate) const TPL_SHIFT: i64 = HOUR;

/// Counters behind every id the operation hands out.
#[derive(Default)]
pub(crate) struct Ids {
    pub order: u64,
    pub shipment: u64,
    pub ship_event: u64,
    pub po: u64,
    pub receipt_event: u64,
    pub count: u64,
    pub count_event: u64,
    pub adjust_event: u64,
    pub exception: u64,
    pub exception_event: u64,
    pub ret: u64,
    pub return_event: u64,
}

/// Operational counts for the README (not noise; what happened).
#[derive(Default)]
pub(crate) struct Stats {
    pub orders: u64,
    pub lines: u64,
    pub units_ordered: f64,
    pub units_shipped: f64,
    pub customer_cancels: u64,
    pub stockout_cancels: u64,
    pub pick_shortages: u64,
    pub pick_shortages_planted: u64,
    pub mispicks: u64,
    pub counter_errors: u64,
    pub one_off_losses: u64,
    pub receipt_miscounts: u64,
    pub counts: u64,
    pub counts_with_variance: u64,
    pub exceptions: u64,
    pub backlog_exceptions: u64,
    pub returns: u64,
    pub pos: u64,
    pub transfers: u64,
    pub new_skus: u64,
    pub snapshot_rows: u64,
    pub snapshot_files: u64,
}

/// A transfer arriving at a warehouse.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    pub slot: u32,
    pub qty: f64,
}

pub(crate) struct Sim {
    pub world: World,
    pub out: Writer,
    pub ids: Ids,
    pub stats: Stats,
    pub rng_demand: Rng,
    pub rng_ops: Rng,
    pub rng_inbound: Rng,
    pub rng_counts: Rng,
    pub rng_exc: Rng,
    pub rng_returns: Rng,
    pub rng_ids: Rng,
    /// Put-away times and snapshots (its own stream: adding them changed no other row).
    pub rng_stock: Rng,
    /// Per warehouse: damaged and quarantined units held out of the pick face.
    pub held: Vec<Vec<super::stock::Held>>,
    /// Lines to pick, by day.
    pub lines_due: Vec<Vec<Line>>,
    /// Order-line versions (cancellations) to export, by day.
    pub versions_due: Vec<Vec<LineVersion>>,
    pub receipts_due: Vec<Vec<PoLine>>,
    pub exceptions_due: Vec<Vec<ExcEvent>>,
    pub returns_due: Vec<Vec<ReturnEv>>,
    pub transfers_due: Vec<Vec<Transfer>>,
    /// Restocks from today's dispositions, per warehouse: (slot, qty).
    pub restocks: Vec<Vec<(u32, f64)>>,
    /// Per warehouse: demand alias over `alias_slots`, and the consumer channels' alias
    /// during the promotion.
    pub alias: Vec<Alias>,
    pub promo_alias: Vec<Alias>,
    pub alias_slots: Vec<Vec<u32>>,
}

impl Sim {
    pub(crate) fn new(world: World, out: Writer, seed: u64) -> Sim {
        let horizon = world.days as usize + 12;
        let n_wh = world.warehouses.len();
        let mut sim = Sim {
            out,
            ids: Ids {
                order: 4_100_000,
                shipment: 7_300_000,
                po: 310_000,
                ret: 52_000,
                ..Ids::default()
            },
            stats: Stats::default(),
            rng_demand: Rng::stream(seed, "demand"),
            rng_ops: Rng::stream(seed, "operations"),
            rng_inbound: Rng::stream(seed, "inbound"),
            rng_counts: Rng::stream(seed, "counts"),
            rng_exc: Rng::stream(seed, "exceptions"),
            rng_returns: Rng::stream(seed, "returns"),
            rng_ids: Rng::stream(seed, "ids"),
            rng_stock: Rng::stream(seed, "stock"),
            held: vec![Vec::new(); n_wh],
            lines_due: vec![Vec::new(); horizon],
            versions_due: vec![Vec::new(); horizon],
            receipts_due: vec![Vec::new(); horizon],
            exceptions_due: vec![Vec::new(); horizon],
            returns_due: vec![Vec::new(); horizon],
            transfers_due: vec![Vec::new(); horizon],
            restocks: vec![Vec::new(); n_wh],
            alias: vec![Alias::default(); n_wh],
            promo_alias: vec![Alias::default(); n_wh],
            alias_slots: vec![Vec::new(); n_wh],
            world,
        };
        for w in 0..n_wh {
            sim.rebuild_alias(w, 0);
        }
        sim
    }

    /// Demand weights over the slots active on `day`.
    pub(crate) fn rebuild_alias(&mut self, w: usize, day: i32) {
        let world = &self.world;
        let slots: Vec<u32> = world.warehouses[w]
            .slots
            .iter()
            .copied()
            .filter(|&s| world.slots[s as usize].active_from <= day)
            .collect();
        let weights: Vec<f64> = slots
            .iter()
            .map(|&s| world.items[world.slots[s as usize].item as usize].popularity)
            .collect();
        // During the promotion consumer demand is 2.5× in total: promoted items sell
        // eight times their usual rate, the rest takes what is left of the lift.
        let promoted = |s: u32| world.promoted[world.slots[s as usize].item as usize];
        let total: f64 = weights.iter().sum();
        let share: f64 = slots
            .iter()
            .zip(&weights)
            .filter(|(s, _)| promoted(**s))
            .map(|(_, w)| w)
            .sum::<f64>()
            / total.max(1e-9);
        let lift = 8.0;
        let rest = ((2.5 - share * lift) / (1.0 - share).max(1e-9)).max(1.0);
        let promo: Vec<f64> = slots
            .iter()
            .zip(&weights)
            .map(|(&s, w)| if promoted(s) { w * lift } else { w * rest })
            .collect();
        self.alias[w] = Alias::new(&weights);
        self.promo_alias[w] = Alias::new(&promo);
        self.alias_slots[w] = slots;
    }

    /// Seconds after local midnight shifted for the 3PL's later shift.
    pub(crate) fn shift(&self, w: usize, secs: i64) -> i64 {
        if self.world.warehouses[w].style == Style::ThirdParty {
            secs + TPL_SHIFT
        } else {
            secs
        }
    }

    /// Run every day, writing as it goes.
    pub(crate) fn run(&mut self, progress: &dyn Fn(&str)) -> io::Result<()> {
        let days = self.world.days;
        self.initial_purchase_orders();
        self.backlog_exceptions();
        for d in 0..days {
            progress(&format!("day {}/{}", d + 1, days));
            self.out.open_day(d)?;
            if d == 0 {
                self.write_master()?;
            } else {
                self.write_item_changes(d)?;
            }
            for w in 0..self.world.warehouses.len() {
                if self.world.warehouses[w]
                    .slots
                    .iter()
                    .any(|&s| self.world.slots[s as usize].active_from == d && d > 0)
                {
                    self.rebuild_alias(w, d);
                }
            }
            self.demand_day(d)?;
            self.write_versions(d)?;
            for w in 0..self.world.warehouses.len() {
                self.count_day(d, w)?;
                self.receive_day(d, w)?;
            }
            self.pick_day(d)?;
            self.returns_day(d)?;
            for w in 0..self.world.warehouses.len() {
                self.end_of_day(d, w)?;
                self.snapshot_day(d, w)?;
                self.reorder(d, w);
            }
            self.write_exceptions(d)?;
            self.out.close_day()?;
        }
        Ok(())
    }
}

/// Round a quantity to what the item is sold in (whole units, or 0.5 kg).
pub(crate) fn round_qty(x: f64, by_weight: bool) -> f64 {
    if by_weight {
        (x * 2.0).round() / 2.0
    } else {
        x.round()
    }
}

/// Round down likewise.
pub(crate) fn floor_qty(x: f64, by_weight: bool) -> f64 {
    if by_weight {
        (x * 2.0).floor() / 2.0
    } else {
        x.floor()
    }
}
