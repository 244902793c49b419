//! Replenishment from suppliers. When a slot's *recorded* stock falls to its reorder
//! point the buyer raises a purchase order (one PO per supplier and warehouse and day);
//! it arrives after the supplier's lead time plus its lateness habit. At receipt the
//! supplier's habits decide short, over and damaged quantities; accepted units go to the
//! pick location, where planted errors (mis-slotting, unit-of-measure, unrecorded
//! damage) make the physical quantity differ from the booked one.
//!
//! Writes `receipts` (network ERP feed) and receipt exceptions with the supplier id.

use std::collections::BTreeMap;
use std::io;

use super::catalog::{ExType, FAMILIES, Severity};
use super::exceptions::{ExcSpec, severity_for_value};
use super::simulate::{RECEIVE_START, Sim, floor_qty, round_qty};
use super::timefmt::{HOUR, MINUTE};

/// A purchase-order line on its way.
#[derive(Clone, Debug)]
pub(crate) struct PoLine {
    pub po: u64,
    pub line: u16,
    pub slot: u32,
    pub qty: f64,
    /// When it was due (`expected_at`).
    pub expected: i64,
}

impl Sim {
    /// Orders already in flight on day 1, and the first stock of SKUs launched later.
    pub(crate) fn initial_purchase_orders(&mut self) {
        for w in 0..self.world.warehouses.len() {
            let mut by_key: BTreeMap<(u16, i32), Vec<u32>> = BTreeMap::new();
            for &s in &self.world.warehouses[w].slots {
                let slot = &self.world.slots[s as usize];
                let sup = self.world.items[slot.item as usize].supplier;
                let arrival = if slot.active_from > 0 {
                    slot.active_from
                } else if slot.system <= slot.reorder_point {
                    let lead = self.world.suppliers[sup as usize].lead_days;
                    self.rng_inbound.range(0, i64::from(lead.max(1))) as i32
                } else {
                    continue;
                };
                by_key.entry((sup, arrival)).or_default().push(s);
            }
            for ((_, arrival), slots) in by_key {
                self.ids.po += 1;
                self.stats.pos += 1;
                let expected = self.world.warehouses[w].clock.at(arrival, 10 * HOUR);
                for (k, &s) in slots.iter().enumerate() {
                    let slot = &mut self.world.slots[s as usize];
                    slot.open_po = true;
                    let line = PoLine {
                        po: self.ids.po,
                        line: k as u16 + 1,
                        slot: s,
                        qty: slot.order_qty,
                        expected,
                    };
                    if (arrival as usize) < self.receipts_due.len() {
                        self.receipts_due[arrival as usize].push(line);
                    }
                }
            }
        }
    }

    /// End of day: order what the record says is running low. Slots the record shows
    /// empty are expedited (an express order with the supplier, two days).
    pub(crate) fn reorder(&mut self, d: i32, w: usize) {
        let mut by_supplier: BTreeMap<(u16, bool), Vec<u32>> = BTreeMap::new();
        let mut expedite: Vec<u32> = Vec::new();
        for &s in &self.world.warehouses[w].slots {
            let slot = &self.world.slots[s as usize];
            if slot.active_from <= d && slot.open_po && slot.system <= 0.0 {
                expedite.push(s);
            }
            if slot.active_from <= d && !slot.open_po && slot.system <= slot.reorder_point {
                let sup = self.world.items[slot.item as usize].supplier;
                by_supplier
                    .entry((sup, slot.system <= 0.0))
                    .or_default()
                    .push(s);
            }
        }
        self.expedite(d, &expedite);
        for ((sup, express), slots) in by_supplier {
            let supplier = &self.world.suppliers[sup as usize];
            let r = &mut self.rng_inbound;
            let (lead, late) = if express {
                (supplier.lead_days.min(2), i32::from(r.chance(0.2)))
            } else {
                let late = if r.chance(supplier.late_prob) {
                    r.range(1, i64::from(supplier.late_max)) as i32
                } else {
                    0
                };
                (supplier.lead_days, late)
            };
            let expected_day = d + lead;
            let arrival = expected_day + late;
            let expected = self.world.warehouses[w].clock.at(expected_day, 10 * HOUR);
            self.ids.po += 1;
            self.stats.pos += 1;
            for (k, &s) in slots.iter().enumerate() {
                let item = &self.world.items[self.world.slots[s as usize].item as usize];
                let pack = f64::from(item.case_pack);
                let slot = &mut self.world.slots[s as usize];
                let gap = (slot.reorder_point - slot.system).max(0.0);
                let qty = ((slot.order_qty + gap) / pack).ceil() * pack;
                slot.open_po = true;
                if (arrival as usize) < self.receipts_due.len() {
                    self.receipts_due[arrival as usize].push(PoLine {
                        po: self.ids.po,
                        line: k as u16 + 1,
                        slot: s,
                        qty,
                        expected,
                    });
                }
            }
        }
    }

    /// The record shows the bin empty while an order is on its way: the buyer has the
    /// supplier expedite it (it arrives in two days unless it is due sooner). `slots`
    /// is sorted.
    fn expedite(&mut self, d: i32, slots: &[u32]) {
        if slots.is_empty() {
            return;
        }
        let target = d as usize + 2;
        for day in target + 1..self.receipts_due.len() {
            let due = &mut self.receipts_due[day];
            let mut k = 0;
            while k < due.len() {
                if slots.binary_search(&due[k].slot).is_ok() {
                    let line = due.swap_remove(k);
                    self.receipts_due[target].push(line);
                    break;
                }
                k += 1;
            }
        }
    }

    /// Morning: trucks arrive, lines are checked in and put away.
    pub(crate) fn receive_day(&mut self, d: i32, w: usize) -> io::Result<()> {
        let all = std::mem::take(&mut self.receipts_due[d as usize]);
        let (mine, rest): (Vec<PoLine>, Vec<PoLine>) = all
            .into_iter()
            .partition(|l| self.world.slots[l.slot as usize].wh as usize == w);
        self.receipts_due[d as usize] = rest;
        let mut truck_time: BTreeMap<u64, i64> = BTreeMap::new();
        for line in mine {
            let t0 = match truck_time.get(&line.po) {
                Some(&t) => t + self.rng_inbound.range(MINUTE, 3 * MINUTE),
                None => {
                    let secs = self.shift(w, RECEIVE_START)
                        + self.rng_inbound.range(0, 2 * HOUR + 20 * MINUTE);
                    self.world.warehouses[w].clock.at(d, secs)
                }
            };
            truck_time.insert(line.po, t0);
            self.receive_line(d, w, &line, t0)?;
        }
        Ok(())
    }

    fn receive_line(&mut self, d: i32, w: usize, line: &PoLine, t: i64) -> io::Result<()> {
        let s = line.slot as usize;
        let item_idx = self.world.slots[s].item as usize;
        let item = &self.world.items[item_idx];
        let by_weight = item.by_weight();
        let perishable = FAMILIES[item.family as usize].perishable;
        let unit_cost = item.unit_cost;
        let sup_idx = item.supplier;
        let sup = &self.world.suppliers[sup_idx as usize];
        let r = &mut self.rng_inbound;
        let expected = line.qty;
        let mut received = expected;
        if r.chance(sup.short_rate) {
            received = floor_qty(
                expected * (1.0 - r.uniform(0.05, sup.short_depth)),
                by_weight,
            )
            .max(0.0);
        } else if r.chance(sup.over_rate) {
            received = expected + round_qty((expected * r.uniform(0.01, 0.1)).max(1.0), by_weight);
        }
        let damaged = if received >= 1.0 && r.chance(sup.damage_rate) {
            round_qty((received * r.uniform(0.01, 0.1)).max(1.0), by_weight).min(received)
        } else {
            0.0
        };
        let accepted = received - damaged;
        // What physically reaches the bin (planted causes strike here).
        let mut physical = self.world.put_away(s, accepted, d);
        let r = &mut self.rng_inbound;
        if r.chance(0.004) {
            physical = (physical + if r.chance(0.5) { 1.0 } else { -1.0 }).max(0.0);
            self.stats.receipt_miscounts += 1;
        }
        let date_only = r.chance(0.005)
            || (self.ids.receipt_event >= 5
                && self
                    .out
                    .noise
                    .tally
                    .kind_total(super::noise::NoiseKind::DateOnlyTimestamp)
                    == 0);
        {
            let slot = &mut self.world.slots[s];
            slot.system += accepted;
            slot.truth += physical.max(0.0);
            slot.open_po = false;
        }
        self.hold(d, line.slot, damaged, false);
        let available = self.available_at(w, t);
        self.ids.receipt_event += 1;
        let id = self.out.ids.receipts;
        let world = &self.world;
        let slot = &world.slots[s];
        let f = self.out.f(id).begin();
        f.id("rcv-", self.ids.receipt_event, 0)
            .id("PO-", line.po, 7)
            .int(i64::from(line.line))
            .s(&world.suppliers[sup_idx as usize].id);
        f.sku(&world.items[item_idx])
            .s(&world.warehouses[w].id)
            .loc(&world.locations[slot.loc as usize]);
        f.qty(expected).qty(received).qty(damaged);
        if date_only {
            f.date_only(line.expected);
        } else {
            f.ts(line.expected);
        }
        f.ts(t).ts(available);
        self.out.end(id, t)?;
        if date_only {
            self.out.noise.tally.add(
                super::noise::Table::Receipts,
                super::noise::NoiseKind::DateOnlyTimestamp,
                1,
            );
        }
        let (loc, item_u) = (slot.loc, slot.item);
        let exc = |etype, value: f64, floor, cause| {
            let mut spec = ExcSpec::new(w, etype, severity_for_value(value, floor), cause)
                .at_slot(loc, item_u);
            spec.supplier = sup_idx;
            spec.impact = value;
            spec
        };
        let later = |sim: &mut Sim| t + sim.rng_inbound.range(5 * MINUTE, 90 * MINUTE);
        if received < expected {
            let spec = exc(
                ExType::ShortReceipt,
                (expected - received) * unit_cost,
                Severity::Low,
                "supplier shipped fewer units than ordered",
            );
            let at = later(self);
            self.raise(spec, at);
        } else if received > expected {
            let spec = exc(
                ExType::OverReceipt,
                (received - expected) * unit_cost,
                Severity::Low,
                "supplier shipped more units than ordered",
            );
            let at = later(self);
            self.raise(spec, at);
        }
        if damaged > 0.0 {
            let spec = exc(
                ExType::Damaged,
                damaged * unit_cost,
                Severity::Low,
                "cartons damaged on arrival",
            );
            let at = later(self);
            self.raise(spec, at);
        }
        if perishable && self.rng_inbound.chance(0.01) {
            let spec = exc(
                ExType::LotMismatch,
                accepted * unit_cost * 0.1,
                Severity::Medium,
                "lot number differs from the ASN",
            );
            let at = later(self);
            self.raise(spec, at);
        }
        if self.rng_inbound.chance(0.003) {
            let spec = exc(
                ExType::Unscannable,
                0.0,
                Severity::Low,
                "case label barcode unreadable",
            );
            let at = later(self);
            self.raise(spec, at);
        }
        Ok(())
    }
}
