//! Picking and shipping. Each day the lines due are picked from their pick location in
//! time order. The WMS allocates what its record says is there; the picker ships what
//! is physically there. When the record says yes and the bin says no, that is a pick
//! shortage: ship what is there, raise `pick_shortage` (often with a `bin_mismatch`),
//! sometimes zero the record with a `shrink` adjustment, sometimes ask for a spot count.
//! Unshipped units wait for stock for a few days, then are cancelled as a stockout.
//! A small share of picks go wrong (a unit taken from the neighbouring bin): one-off
//! record errors the next count corrects.
//!
//! Writes `shipments` (one row per parcel; lines of an order picked together share a
//! parcel, a few lines ship split) and the adjustments and exceptions picking causes.

use std::collections::HashMap;
use std::io;

use super::catalog::{CARRIERS, Channel, ExType, Severity};
use super::demand::{CancelReason, Line};
use super::exceptions::{ExcSpec, severity_for_value};
use super::layout::EnumOf;
use super::model::{NO_PLANT, Style};
use super::simulate::{PICK_END, PICK_START, Sim, floor_qty};
use super::timefmt::{HOUR, MINUTE};

impl Sim {
    /// Pick and ship every line due today.
    pub(crate) fn pick_day(&mut self, d: i32) -> io::Result<()> {
        let due = std::mem::take(&mut self.lines_due[d as usize]);
        // One pick time per order and day (the order's lines travel together).
        let mut order_time: HashMap<u64, i64> = HashMap::new();
        let mut plan: Vec<(u8, i64, Line)> = Vec::with_capacity(due.len());
        for line in due {
            let w = line.wh as usize;
            let t = match order_time.get(&line.order) {
                Some(&t) => t,
                None => {
                    let clock = &self.world.warehouses[w].clock;
                    let start = clock.at(d, self.shift(w, PICK_START));
                    let end = clock.at(d, self.shift(w, PICK_END));
                    let spread = if self.world.warehouses[w].third_party() {
                        4.5
                    } else {
                        3.0
                    };
                    let earliest = start.max(line.ordered_at + 45 * MINUTE);
                    let offset = (self.rng_ops.normal().abs() * spread * HOUR as f64) as i64;
                    let t = (earliest + offset).min(end - self.rng_ops.range(0, 20 * MINUTE));
                    order_time.insert(line.order, t);
                    t
                }
            };
            plan.push((line.wh, t, line));
        }
        plan.sort_unstable_by(|a, b| {
            (a.0, a.1, a.2.order, a.2.line_no).cmp(&(b.0, b.1, b.2.order, b.2.line_no))
        });
        let mut parcel: Option<(u64, u64)> = None; // (order, shipment number)
        for (_, t, line) in plan {
            self.pick_line(d, t, line, &mut parcel)?;
        }
        Ok(())
    }

    fn pick_line(
        &mut self,
        d: i32,
        t: i64,
        mut line: Line,
        parcel: &mut Option<(u64, u64)>,
    ) -> io::Result<()> {
        let s = line.slot as usize;
        let w = line.wh as usize;
        let item_idx = self.world.slots[s].item as usize;
        let by_weight = self.world.items[item_idx].by_weight();
        let unit_cost = self.world.items[item_idx].unit_cost;
        let first_attempt = line.shipped == 0.0 && !self.late_line(&line, d);
        let active = self.world.slots[s].active_from <= d;
        let system = self.world.slots[s].system;
        let alloc = if active {
            line.remaining.min(floor_qty(system.max(0.0), by_weight))
        } else {
            0.0
        };
        let mut shipped = 0.0;
        if alloc > 0.0 {
            let truth = self.world.slots[s].truth;
            let physical = alloc.min(truth);
            if physical > 0.0 && self.rng_ops.chance(0.003) && self.mispick(w, s, physical) {
                self.stats.mispicks += 1;
            } else {
                self.world.slots[s].truth -= physical;
            }
            self.world.slots[s].system -= physical;
            shipped = physical;
            if physical < alloc {
                self.shortage(d, t, &line, alloc - physical, unit_cost)?;
            }
        }
        if shipped > 0.0 {
            let n = match parcel {
                Some((o, n)) if *o == line.order => *n,
                _ => {
                    self.ids.shipment += 1;
                    self.ids.shipment
                }
            };
            *parcel = Some((line.order, n));
            if shipped >= 2.0 && !by_weight && self.rng_ops.chance(0.04) {
                let first = (shipped / 2.0).floor();
                self.write_shipment(w, t, &line, first, n)?;
                self.ids.shipment += 1;
                let later = t + self.rng_ops.range(10 * MINUTE, 3 * HOUR);
                self.write_shipment(w, later, &line, shipped - first, self.ids.shipment)?;
            } else {
                self.write_shipment(w, t, &line, shipped, n)?;
            }
            line.shipped += shipped;
            line.remaining -= shipped;
            self.stats.units_shipped += shipped;
            if t > line.promised && first_attempt && self.rng_ops.chance(0.5) {
                let sev = if line.channel == Channel::B2b {
                    Severity::High
                } else {
                    Severity::Medium
                };
                let mut spec = ExcSpec::new(
                    w,
                    ExType::CarrierCutoffMiss,
                    sev,
                    "parcel missed the carrier's last pickup",
                );
                spec.channel = Some(line.channel);
                spec.order = line.order;
                spec.impact = shipped * unit_cost;
                let at = t + self.rng_ops.range(20 * MINUTE, 2 * HOUR);
                self.raise(spec, at);
            }
            if line.channel.consumer() {
                self.maybe_return(d, t, &line, shipped);
            }
            if self.rng_ops.chance(0.0005) {
                let (loc, item) = (self.world.slots[s].loc, self.world.slots[s].item);
                let spec = ExcSpec::new(
                    w,
                    ExType::Unscannable,
                    Severity::Low,
                    "item barcode unreadable at packing",
                )
                .at_slot(loc, item);
                self.raise(spec, t + 3 * MINUTE);
            }
        }
        if line.remaining <= 0.0 {
            return Ok(());
        }
        // The record itself says there is not enough: a backorder.
        let loc = self.world.slots[s].loc;
        let item = self.world.slots[s].item;
        if alloc < line.remaining + shipped
            && line.channel.consumer()
            && first_attempt
            && self.rng_ops.chance(0.15)
        {
            let mut spec = ExcSpec::new(
                w,
                ExType::OversellRisk,
                Severity::High,
                "orders exceed available stock",
            )
            .at_slot(loc, item);
            spec.channel = Some(line.channel);
            spec.order = line.order;
            spec.impact = line.remaining * unit_cost;
            let at = t + self.rng_ops.range(MINUTE, 30 * MINUTE);
            self.raise(spec, at);
        }
        // A picker who sees more in the bin than the record now and then books it.
        let slot = &self.world.slots[s];
        if alloc < line.remaining + shipped
            && slot.truth - slot.system >= 1.0
            && self.rng_ops.chance(0.15)
        {
            let delta = slot.truth - slot.system;
            self.adjust(w, s, delta, "found", t + 5 * MINUTE)?;
        }
        if d < line.give_up && (d as usize + 1) < self.lines_due.len() {
            self.lines_due[d as usize + 1].push(line);
        } else if line.reason == CancelReason::None {
            line.cancelled = line.remaining;
            line.reason = CancelReason::Stockout;
            self.stats.stockout_cancels += 1;
            let at = t + self.rng_ops.range(5 * MINUTE, 40 * MINUTE);
            self.write_line(&line, at)?;
        }
        Ok(())
    }

    /// Has the line already missed its first pick day?
    fn late_line(&self, line: &Line, d: i32) -> bool {
        let order_day = self.world.clock_day_of(line.wh as usize, line.ordered_at);
        d > self.release_day(line, order_day)
    }

    /// The picker took the units from the neighbouring bin: this bin keeps them, the
    /// neighbour loses them. Returns false when there is no neighbour with stock.
    fn mispick(&mut self, w: usize, s: usize, qty: f64) -> bool {
        let loc = self.world.slots[s].loc as usize;
        let neighbour = [loc + 1, loc.wrapping_sub(1)]
            .into_iter()
            .filter_map(|l| self.world.slot_at_loc.get(l).copied())
            .find(|&n| n != u32::MAX && self.world.slots[n as usize].wh as usize == w);
        let Some(next) = neighbour.map(|n| n as usize) else {
            return false;
        };
        let victim = &mut self.world.slots[next];
        if next == s || victim.truth <= 0.0 || victim.mispicked {
            return false;
        }
        let take = qty.min(victim.truth);
        victim.truth -= take;
        victim.mispicked = true;
        true
    }

    /// The bin had less than the record: exceptions, maybe a zero-out, maybe a spot count.
    fn shortage(
        &mut self,
        d: i32,
        t: i64,
        line: &Line,
        short: f64,
        unit_cost: f64,
    ) -> io::Result<()> {
        let s = line.slot as usize;
        let w = line.wh as usize;
        self.stats.pick_shortages += 1;
        if self.world.slots[s].planted != NO_PLANT {
            self.stats.pick_shortages_planted += 1;
        }
        let (loc, item) = (self.world.slots[s].loc, self.world.slots[s].item);
        let value = short * unit_cost;
        let floor = if line.channel == Channel::B2b {
            Severity::High
        } else {
            Severity::Medium
        };
        let mut spec = ExcSpec::new(
            w,
            ExType::PickShortage,
            severity_for_value(value, floor),
            "picker found the bin short",
        )
        .at_slot(loc, item);
        spec.channel = Some(line.channel);
        spec.order = line.order;
        spec.impact = value;
        let at = t + self.rng_ops.range(MINUTE, 10 * MINUTE);
        self.raise(spec, at);
        if self.rng_ops.chance(0.6) {
            let mut spec = ExcSpec::new(
                w,
                ExType::BinMismatch,
                severity_for_value(value, Severity::Low),
                "bin quantity differs from the WMS",
            )
            .at_slot(loc, item);
            spec.impact = value;
            let at = t + self.rng_ops.range(15 * MINUTE, HOUR);
            self.raise(spec, at);
        }
        let slot = &self.world.slots[s];
        // Some pickers' short confirmations are booked as shrink: either the bin is
        // declared empty (record set to what is there) or only the missing units of
        // this pick are written off.
        if slot.truth < slot.system && self.rng_ops.chance(0.3) {
            let delta = if self.rng_ops.chance(0.5) {
                slot.truth - slot.system
            } else {
                -short
            };
            self.adjust(w, s, delta, "shrink", t + 2 * MINUTE)?;
        }
        if self.world.slots[s].spot_day < d && self.rng_ops.chance(0.5) {
            self.world.slots[s].spot_day = d + self.rng_ops.range(1, 2) as i32;
        }
        Ok(())
    }

    fn write_shipment(
        &mut self,
        w: usize,
        t: i64,
        line: &Line,
        qty: f64,
        shipment: u64,
    ) -> io::Result<()> {
        self.ids.ship_event += 1;
        let n = self.ids.ship_event;
        let carrier = carrier_for(line.order, line.channel, self.world.warehouses[w].style);
        let id = self.out.ids.shipments[w];
        let world = &self.world;
        let slot = &world.slots[line.slot as usize];
        let style = world.warehouses[w].style;
        let f = self.out.f(id).begin();
        f.event_id(style, "shp", 'S', n, &mut self.rng_ids)
            .id("SH-", shipment, 8)
            .id("SO-", line.order, 8);
        f.int(i64::from(line.line_no))
            .sku(&world.items[slot.item as usize])
            .s(&world.warehouses[w].id);
        f.loc(&world.locations[slot.loc as usize])
            .qty(qty)
            .ts(t)
            .s(carrier);
        self.out.end(id, t)
    }

    /// Book an adjustment at a slot (system and, for booked physical moves, the caller
    /// changes `truth`); `reason` is canonical.
    pub(crate) fn adjust(
        &mut self,
        w: usize,
        s: usize,
        delta: f64,
        reason: &str,
        t: i64,
    ) -> io::Result<()> {
        if delta == 0.0 {
            return Ok(());
        }
        self.world.slots[s].system += delta;
        self.ids.adjust_event += 1;
        let n = self.ids.adjust_event;
        let id = self.out.ids.adjustments[w];
        let world = &self.world;
        let slot = &world.slots[s];
        let wh = &world.warehouses[w];
        let f = self.out.f(id).begin();
        f.event_id(wh.style, "adj", 'A', n, &mut self.rng_ids)
            .s(&wh.id)
            .loc(&world.locations[slot.loc as usize]);
        f.sku(&world.items[slot.item as usize])
            .qty(delta)
            .en(EnumOf::Reason, reason)
            .ts(t)
            .id(&wh.user_prefix, 1 + (n * 7) % 23, 3);
        self.out.end(id, t)
    }
}

/// Carrier of an order: consumer parcels mostly UPS/USPS/FedEx, business freight
/// mostly FedEx/UPS, local couriers in the cities.
fn carrier_for(order: u64, ch: Channel, style: Style) -> &'static str {
    let h = order.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let x = (h % 100) as u32;
    let cuts: [u32; 4] = match (ch, style) {
        (Channel::B2b | Channel::Retail, _) => [45, 85, 95, 98],
        (_, Style::ThirdParty) => [25, 45, 55, 95],
        _ => [30, 55, 62, 92],
    };
    let i = cuts.iter().position(|&c| x < c).unwrap_or(4);
    CARRIERS[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carriers_cover_all_and_are_stable() {
        let mut seen = std::collections::BTreeSet::new();
        for o in 0..2000 {
            seen.insert(carrier_for(o, Channel::Web, Style::East));
        }
        assert_eq!(seen.len(), 5);
        assert_eq!(
            carrier_for(42, Channel::B2b, Style::West),
            carrier_for(42, Channel::B2b, Style::West)
        );
    }
}
