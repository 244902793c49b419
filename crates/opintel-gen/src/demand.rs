//! Customer demand: orders arrive through four channels with weekday seasonality and
//! one promotion spike, each assigned to a warehouse that stocks its SKUs, with a
//! promised ship time from the channel's SLA. Customers (and the fraud check) cancel
//! some lines before they are picked; a cancellation is a new version of the order line
//! in the export of the day it happened.
//!
//! Writes `order_lines` (CSV for web, b2b and retail; NDJSON+zstd for the marketplace).

use std::io;

use super::catalog::Channel;
use super::model::Style;
use super::simulate::{PICK_START, Sim, TPL_SHIFT, round_qty};
use super::timefmt::{HOUR, weekday};
use super::world::LINES_PER_DAY;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelReason {
    None,
    Customer,
    Stockout,
    Fraud,
    Other,
}

impl CancelReason {
    pub(crate) fn name(self) -> &'static str {
        match self {
            CancelReason::None => "",
            CancelReason::Customer => "customer",
            CancelReason::Stockout => "stockout",
            CancelReason::Fraud => "fraud",
            CancelReason::Other => "other",
        }
    }
}

/// An order line moving through the operation.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    pub order: u64,
    pub line_no: u8,
    pub slot: u32,
    pub wh: u8,
    pub channel: Channel,
    pub ordered_at: i64,
    pub promised: i64,
    pub qty: f64,
    /// Units still to ship.
    pub remaining: f64,
    pub cancelled: f64,
    pub reason: CancelReason,
    /// Last day the line waits for stock before a stockout cancel.
    pub give_up: i32,
    pub shipped: f64,
}

/// A new version of a line, exported on the day of `updated_at`.
#[derive(Clone, Debug)]
pub(crate) struct LineVersion {
    pub line: Line,
    pub updated_at: i64,
}

/// Relative demand by weekday (Monday first).
fn weekday_factor(ch: Channel, dow: u32) -> f64 {
    let f: [f64; 7] = match ch {
        Channel::Web => [1.15, 1.05, 1.0, 1.0, 0.95, 0.9, 1.0],
        Channel::Marketplace => [1.2, 1.1, 1.0, 1.0, 0.95, 0.8, 0.85],
        Channel::B2b => [1.35, 1.25, 1.2, 1.15, 1.05, 0.12, 0.08],
        Channel::Retail => [1.4, 1.15, 1.1, 1.1, 1.15, 0.25, 0.15],
    };
    f[dow as usize % 7]
}

/// Order placement by local hour.
fn hour_weights(ch: Channel) -> [f64; 24] {
    match ch {
        Channel::Web | Channel::Marketplace => [
            1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.0, 3.5, 3.8, 4.0, 4.5, 4.3, 4.0, 4.0, 4.2,
            4.5, 5.0, 5.8, 6.2, 5.5, 3.8, 2.0,
        ],
        Channel::B2b => [
            0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.5, 2.0, 5.0, 6.0, 6.0, 5.0, 3.5, 5.0, 5.5, 5.0, 3.5,
            1.5, 0.5, 0.2, 0.1, 0.0, 0.0, 0.0,
        ],
        Channel::Retail => [
            0.0, 0.0, 0.0, 0.2, 1.0, 3.0, 6.0, 6.0, 4.0, 2.0, 1.0, 0.5, 0.3, 0.3, 0.3, 0.3, 0.2,
            0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ],
    }
}

impl Sim {
    /// Expected lines of channel `ch` on `day`, normalised so that the whole period has
    /// about 300,000 × scale lines (promotion included).
    fn expected_lines(&self, ch: Channel, day: i32) -> f64 {
        let w = &self.world;
        let factor = |c: Channel, d: i32| {
            let promo = if c.consumer() { w.promo_factor(d) } else { 1.0 };
            c.share() * weekday_factor(c, weekday(w.day0 + i64::from(d))) * promo
        };
        let total: f64 = (0..w.days)
            .map(|d| Channel::ALL.iter().map(|&c| factor(c, d)).sum::<f64>())
            .sum();
        let norm = total / f64::from(w.days.max(1));
        LINES_PER_DAY * w.scale * factor(ch, day) / norm
    }

    /// Place the day's orders: write their lines and queue them for picking.
    pub(crate) fn demand_day(&mut self, d: i32) -> io::Result<()> {
        let mut lines: Vec<Line> = Vec::new();
        for ch in Channel::ALL {
            let mean = self.expected_lines(ch, d);
            let target = (mean * (1.0 + 0.05 * self.rng_demand.normal()))
                .round()
                .max(0.0) as usize;
            let start = lines.len();
            while lines.len() - start < target {
                self.place_order(d, ch, &mut lines);
            }
        }
        lines.sort_unstable_by(|a, b| {
            a.ordered_at
                .cmp(&b.ordered_at)
                .then(a.order.cmp(&b.order))
                .then(a.line_no.cmp(&b.line_no))
        });
        for line in lines {
            self.write_line(&line, line.ordered_at)?;
            self.stats.lines += 1;
            self.stats.units_ordered += line.qty;
            let first = self
                .world
                .clock_day_of(line.wh as usize, line.ordered_at)
                .max(d);
            let release = self.release_day(&line, first);
            if line.remaining > 0.0 && (release as usize) < self.lines_due.len() {
                self.lines_due[release as usize].push(line);
            }
        }
        Ok(())
    }

    fn place_order(&mut self, d: i32, ch: Channel, lines: &mut Vec<Line>) {
        let n_wh = self.world.warehouses.len();
        let shares: Vec<f64> = self.world.warehouses.iter().map(|w| w.share).collect();
        let w = self.rng_demand.weighted(&shares).min(n_wh - 1);
        if self.alias[w].len() == 0 {
            return;
        }
        self.ids.order += 1;
        self.stats.orders += 1;
        let order = self.ids.order;
        let n_lines = match ch {
            Channel::Web | Channel::Marketplace => {
                1 + self.rng_demand.weighted(&[0.58, 0.22, 0.11, 0.06, 0.03])
            }
            Channel::B2b | Channel::Retail => {
                1 + self.rng_demand.weighted(&[0.15, 0.2, 0.22, 0.22, 0.21])
            }
        };
        let hour = self.rng_demand.weighted(&hour_weights(ch)) as i64;
        let secs = hour * HOUR + self.rng_demand.range(0, HOUR - 1);
        let clock = &self.world.warehouses[w].clock;
        let ordered_at = clock.at(d, secs);
        let promised = match ch {
            Channel::Web => clock.at(d + 1, 16 * HOUR),
            Channel::Marketplace => clock.at(d + 1, 20 * HOUR),
            Channel::B2b => {
                let mut day = d;
                let mut left = 2 + self.rng_demand.below(2) as i32;
                while left > 0 {
                    day += 1;
                    if weekday(self.world.day0 + i64::from(day)) < 5 {
                        left -= 1;
                    }
                }
                clock.at(day, 17 * HOUR)
            }
            Channel::Retail => clock.at(d + 2, 12 * HOUR),
        };
        // The fraud check stops whole web orders.
        let fraud = ch == Channel::Web && self.rng_demand.chance(0.002);
        let mut used: Vec<u32> = Vec::with_capacity(n_lines);
        let promo = ch.consumer() && self.world.promo_factor(d) > 1.0;
        for line_no in 1..=n_lines {
            let mut slot = 0u32;
            for _ in 0..3 {
                let alias = if promo {
                    &self.promo_alias[w]
                } else {
                    &self.alias[w]
                };
                let Some(k) = alias.sample(&mut self.rng_demand) else {
                    return;
                };
                slot = self.alias_slots[w][k];
                if !used.contains(&slot) {
                    break;
                }
            }
            if used.contains(&slot) {
                continue;
            }
            used.push(slot);
            let qty = self.line_qty(ch, slot);
            let patience = ch.patience_days();
            let promised_day = self.world.clock_day_of(w, promised);
            let mut line = Line {
                order,
                line_no: line_no as u8,
                slot,
                wh: w as u8,
                channel: ch,
                ordered_at,
                promised,
                qty,
                remaining: qty,
                cancelled: 0.0,
                reason: CancelReason::None,
                give_up: promised_day + patience,
                shipped: 0.0,
            };
            self.maybe_cancel(d, &mut line, fraud);
            lines.push(line);
        }
    }

    /// Units on a line: consumers buy one or two, businesses buy cases.
    fn line_qty(&mut self, ch: Channel, slot: u32) -> f64 {
        let item = &self.world.items[self.world.slots[slot as usize].item as usize];
        let by_weight = item.by_weight();
        let pack = f64::from(item.case_pack);
        let r = &mut self.rng_demand;
        match (ch, by_weight) {
            (Channel::Web | Channel::Marketplace, true) => 0.5 * r.range(1, 10) as f64,
            (Channel::Web | Channel::Marketplace, false) => {
                [1.0, 2.0, 3.0, 4.0, 6.0][r.weighted(&[0.72, 0.18, 0.06, 0.025, 0.015])]
            }
            (_, true) => round_qty(r.uniform(5.0, 40.0), true),
            (Channel::B2b, false) => {
                let q = r.lognormal(8.0, 0.7).round().max(2.0);
                if pack <= 6.0 {
                    (q / pack).ceil() * pack
                } else {
                    q
                }
            }
            (_, false) => pack.min(12.0) * r.range(1, 2) as f64,
        }
    }

    /// Customers cancel some lines before they are picked.
    fn maybe_cancel(&mut self, d: i32, line: &mut Line, fraud: bool) {
        let p = match line.channel {
            Channel::Web => 0.03,
            Channel::Marketplace => 0.02,
            Channel::B2b => 0.015,
            Channel::Retail => 0.005,
        };
        let r = &mut self.rng_demand;
        let (reason, delay) = if fraud {
            (CancelReason::Fraud, r.uniform(0.5, 4.0) * HOUR as f64)
        } else if r.chance(p) {
            (CancelReason::Customer, r.lognormal(2.0, 1.0) * HOUR as f64)
        } else if r.chance(0.0005) {
            (CancelReason::Other, r.uniform(1.0, 8.0) * HOUR as f64)
        } else {
            return;
        };
        let partial_draw = r.f64();
        let share = r.uniform(0.2, 0.8);
        let t = line.ordered_at + delay as i64;
        let w = line.wh as usize;
        let first = self.world.clock_day_of(w, line.ordered_at).max(d);
        let release = self.release_day(line, first);
        let shift = if self.world.warehouses[w].style == Style::ThirdParty {
            TPL_SHIFT
        } else {
            0
        };
        if t >= self.world.warehouses[w]
            .clock
            .at(release, PICK_START + shift)
        {
            return; // too late: already picked
        }
        let partial = reason == CancelReason::Customer && line.qty >= 2.0 && partial_draw < 0.3;
        let by_weight =
            self.world.items[self.world.slots[line.slot as usize].item as usize].by_weight();
        let step = if by_weight { 0.5 } else { 1.0 };
        let cancelled = if partial {
            round_qty(line.qty * share, by_weight).clamp(step, line.qty - step)
        } else {
            line.qty
        };
        line.cancelled = cancelled;
        line.reason = reason;
        line.remaining = line.qty - cancelled;
        if reason == CancelReason::Customer {
            self.stats.customer_cancels += 1;
        }
        let day = self.world.clock_day_of(w, t);
        if (day as usize) < self.versions_due.len() {
            self.versions_due[day as usize].push(LineVersion {
                line: line.clone(),
                updated_at: t,
            });
        }
    }

    /// The day a line is first picked: same day for early consumer orders, the day
    /// before the promise for businesses, a day later now and then at the 3PL.
    pub(crate) fn release_day(&self, line: &Line, order_day: i32) -> i32 {
        let w = line.wh as usize;
        let clock = &self.world.warehouses[w].clock;
        let local = clock.wall_secs(line.ordered_at);
        let promised_day = clock.day_of(line.promised);
        let mut day = match line.channel {
            Channel::Web if local < 11 * HOUR => order_day,
            Channel::Marketplace if local < 12 * HOUR => order_day,
            Channel::Web | Channel::Marketplace => order_day + 1,
            Channel::B2b | Channel::Retail => (promised_day - 1).max(order_day + 1),
        };
        // The 3PL runs a day behind on some orders (deterministic per line).
        if self.world.warehouses[w].style == Style::ThirdParty
            && (line.order * 31 + u64::from(line.line_no)).is_multiple_of(7)
        {
            day = (day + 1).min(promised_day.max(day));
        }
        day
    }

    /// Write one version of an order line.
    pub(crate) fn write_line(&mut self, line: &Line, updated_at: i64) -> io::Result<()> {
        let id = if line.channel == Channel::Marketplace {
            self.out.ids.order_lines_mkt
        } else {
            self.out.ids.order_lines
        };
        let world = &self.world;
        let slot = &world.slots[line.slot as usize];
        let f = self.out.f(id).begin();
        f.id("SO-", line.order, 8).int(i64::from(line.line_no));
        f.sku(&world.items[slot.item as usize])
            .s(line.channel.name())
            .s(&world.warehouses[line.wh as usize].id);
        f.ts(line.ordered_at)
            .ts(line.promised)
            .qty(line.qty)
            .qty(line.cancelled);
        f.en(super::layout::EnumOf::Other, line.reason.name())
            .ts(updated_at);
        self.out.end(id, updated_at)
    }

    /// Export the line versions that happened today.
    pub(crate) fn write_versions(&mut self, d: i32) -> io::Result<()> {
        let mut due = std::mem::take(&mut self.versions_due[d as usize]);
        due.sort_unstable_by_key(|v| (v.updated_at, v.line.order, v.line.line_no));
        for v in &due {
            self.write_line(&v.line, v.updated_at)?;
        }
        Ok(())
    }
}
