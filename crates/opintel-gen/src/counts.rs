//! Cycle counts and the rest of a bin's life: the early-morning counts (ABC schedule,
//! oldest-overdue first, plus spot counts after pick shortages) with their
//! `count_correction` adjustments, and the end-of-day bookings (transfers between sites,
//! return restocks, damage, expiry, found stock, the odd `other`), plus what nobody
//! books: the planted errors' silent drains and one-off losses.
//!
//! Writes `cycle_counts` and `adjustments` per warehouse.

use std::io;

use super::catalog::{ExType, FAMILIES, Severity};
use super::exceptions::{ExcSpec, severity_for_value};
use super::model::ErrorKind;
use super::simulate::{COUNT_START, EOD_START, Sim, Transfer};
use super::timefmt::{MINUTE, weekday};

impl Sim {
    /// Early shift: count ~2–4% of the active pick locations.
    pub(crate) fn count_day(&mut self, d: i32, w: usize) -> io::Result<()> {
        let world = &self.world;
        let active: Vec<u32> = world.warehouses[w]
            .slots
            .iter()
            .copied()
            .filter(|&s| world.slots[s as usize].active_from <= d)
            .collect();
        if active.is_empty() {
            return Ok(());
        }
        let dow = weekday(world.day0 + i64::from(d));
        let rate = if dow < 5 { 0.025 } else { 0.02 };
        let budget = (active.len() as f64 * rate * (1.0 + 0.1 * self.rng_counts.normal()))
            .round()
            .max(1.0) as usize;
        let mut chosen: Vec<u32> = active
            .iter()
            .copied()
            .filter(|&s| world.slots[s as usize].spot_day == d)
            .collect();
        // Spot counts happen only when someone follows up: the rest of the budget goes
        // to the most overdue scheduled counts.
        let mut scheduled: Vec<(f64, u32)> = active
            .iter()
            .filter(|&&s| world.slots[s as usize].spot_day != d)
            .map(|&s| {
                let slot = &world.slots[s as usize];
                let interval = world.items[slot.item as usize].abc.count_interval();
                (f64::from(d - slot.last_count) / f64::from(interval), s)
            })
            .collect();
        let want = budget.saturating_sub(chosen.len()).min(scheduled.len());
        if want > 0 {
            let cmp = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
            if want < scheduled.len() {
                scheduled.select_nth_unstable_by(want - 1, cmp);
            }
            chosen.extend(scheduled[..want].iter().map(|x| x.1));
        }
        // Counters walk the aisles in location order.
        chosen.sort_by_key(|&s| world.slots[s as usize].loc);
        let n = chosen.len() as i64;
        let counters = (2 + n / 40).min(8);
        let window = 90 * MINUTE;
        for (k, &s) in chosen.iter().enumerate() {
            let secs = self.shift(w, COUNT_START)
                + (k as i64 * window) / n.max(1)
                + self.rng_counts.range(0, 30);
            let t = self.world.warehouses[w].clock.at(d, secs);
            let counter = 1 + (k as i64 % counters) as u64;
            self.count_slot(d, w, s as usize, t, counter)?;
        }
        Ok(())
    }

    fn count_slot(&mut self, d: i32, w: usize, s: usize, t: i64, counter: u64) -> io::Result<()> {
        let by_weight = self.world.items[self.world.slots[s].item as usize].by_weight();
        let system = self.world.slots[s].system;
        let truth = self.world.slots[s].truth;
        let mut counted = truth;
        if self.rng_counts.chance(0.03) {
            let step = if by_weight { 0.5 } else { 1.0 };
            counted = (truth
                + if self.rng_counts.chance(0.5) {
                    step
                } else {
                    -step
                })
            .max(0.0);
            if counted != truth {
                self.stats.counter_errors += 1;
            }
        }
        self.stats.counts += 1;
        self.ids.count += 1;
        self.ids.count_event += 1;
        let n = self.ids.count_event;
        let id = self.out.ids.counts[w];
        let world = &self.world;
        let slot = &world.slots[s];
        let (loc, item) = (slot.loc, slot.item);
        let wh = &world.warehouses[w];
        let f = self.out.f(id).begin();
        f.event_id(wh.style, "cc", 'C', n, &mut self.rng_ids)
            .id(&wh.count_prefix, self.ids.count, 7)
            .s(&wh.id);
        f.loc(&world.locations[loc as usize])
            .sku(&world.items[item as usize])
            .qty(system)
            .qty(counted)
            .ts(t)
            .id(&wh.counter_prefix, counter, 2);
        self.out.end(id, t)?;
        let variance = counted - system;
        if variance != 0.0 {
            self.stats.counts_with_variance += 1;
            let at = t + self.rng_counts.range(MINUTE, 5 * MINUTE);
            self.adjust(w, s, variance, "count_correction", at)?;
            if variance.abs() >= (0.25 * system).max(3.0) && self.rng_counts.chance(0.5) {
                let value = variance.abs() * self.world.items[item as usize].unit_cost;
                let mut spec = ExcSpec::new(
                    w,
                    ExType::BinMismatch,
                    severity_for_value(value, Severity::Low),
                    "cycle count variance above tolerance",
                )
                .at_slot(loc, item);
                spec.impact = value;
                let at = t + self.rng_counts.range(10 * MINUTE, 40 * MINUTE);
                self.raise(spec, at);
            }
        }
        let slot = &mut self.world.slots[s];
        slot.last_count = d;
        slot.spot_day = i32::MIN;
        Ok(())
    }

    /// Late shift bookings and the unbooked drains.
    pub(crate) fn end_of_day(&mut self, d: i32, w: usize) -> io::Result<()> {
        let base = self.world.warehouses[w]
            .clock
            .at(d, self.shift(w, EOD_START));
        let mut k: i64 = 0;
        let mut next_t = |rng: &mut super::rng::Rng| {
            k += 1;
            base + (k * 25).min(100 * MINUTE) + rng.range(0, 20)
        };
        // Transfers arriving from another site, and restocked returns.
        let arriving: Vec<Transfer> = {
            let due = &mut self.transfers_due[d as usize];
            let (mine, rest): (Vec<Transfer>, Vec<Transfer>) = std::mem::take(due)
                .into_iter()
                .partition(|t| self.world.slots[t.slot as usize].wh as usize == w);
            *due = rest;
            mine
        };
        for tr in arriving {
            let physical = self.world.put_away(tr.slot as usize, tr.qty, d);
            self.world.slots[tr.slot as usize].truth += physical;
            let t = next_t(&mut self.rng_ops);
            self.adjust(w, tr.slot as usize, tr.qty, "transfer", t)?;
        }
        for (s, qty) in std::mem::take(&mut self.restocks[w]) {
            let physical = match self.world.slots[s as usize].planted {
                super::model::NO_PLANT => qty,
                p if matches!(
                    self.world.planted[p as usize].kind,
                    ErrorKind::MisSlotting | ErrorKind::DamagedNotRecorded
                ) =>
                {
                    self.world.put_away(s as usize, qty, d)
                }
                _ => qty,
            };
            self.world.slots[s as usize].truth += physical;
            let t = next_t(&mut self.rng_ops);
            self.adjust(w, s as usize, qty, "return_restock", t)?;
        }
        let active: Vec<u32> = {
            let world = &self.world;
            world.warehouses[w]
                .slots
                .iter()
                .copied()
                .filter(|&s| world.slots[s as usize].active_from <= d)
                .collect()
        };
        if active.is_empty() {
            return Ok(());
        }
        let n = active.len() as f64;
        // Damage, expiry, found, other: booked, so record and bin move together.
        let events = [
            ("damage", self.rng_ops.poisson(n * 0.0012)),
            ("expiry", self.rng_ops.poisson(n * 0.0015)),
            ("found", self.rng_ops.poisson(n * 0.0002)),
            ("other", self.rng_ops.poisson(n * 0.0001)),
        ];
        for (reason, count) in events {
            for _ in 0..count {
                let s = active[self.rng_ops.index(active.len())] as usize;
                let slot = &self.world.slots[s];
                let item = &self.world.items[slot.item as usize];
                let room = slot.truth.min(slot.system).floor();
                let delta = match reason {
                    "expiry" if !FAMILIES[item.family as usize].perishable => continue,
                    "damage" | "expiry" if room < 1.0 => continue,
                    "damage" | "expiry" => -(self.rng_ops.range(1, room.min(4.0) as i64) as f64),
                    "found" => self.rng_ops.range(1, 2) as f64,
                    _ if room >= 1.0 && self.rng_ops.chance(0.5) => -1.0,
                    _ => 1.0,
                };
                let value = delta.abs() * item.unit_cost;
                let (loc, it) = (slot.loc, slot.item);
                self.world.slots[s].truth += delta;
                let t = next_t(&mut self.rng_ops);
                self.adjust(w, s, delta, reason, t)?;
                if reason == "damage" && self.rng_ops.chance(0.35) {
                    let mut spec = ExcSpec::new(
                        w,
                        ExType::Damaged,
                        severity_for_value(value, Severity::Low),
                        "units damaged in storage",
                    )
                    .at_slot(loc, it);
                    spec.impact = value;
                    self.raise(spec, t + 10 * MINUTE);
                }
                if reason == "other" && self.rng_ops.chance(0.5) {
                    let spec = ExcSpec::new(
                        w,
                        ExType::Other,
                        Severity::Low,
                        "manual stock correction needs review",
                    )
                    .at_slot(loc, it);
                    self.raise(spec, t + 15 * MINUTE);
                }
            }
        }
        self.send_transfers(d, w, &active, &mut next_t)?;
        self.silent_drains(d, w, &active);
        Ok(())
    }

    /// Move surplus to a site that is running low on the same SKU.
    fn send_transfers(
        &mut self,
        d: i32,
        w: usize,
        active: &[u32],
        next_t: &mut dyn FnMut(&mut super::rng::Rng) -> i64,
    ) -> io::Result<()> {
        let n_wh = self.world.warehouses.len();
        if n_wh < 2 || (d as usize + 2) >= self.transfers_due.len() {
            return Ok(());
        }
        let tries = self.rng_ops.poisson(6.0 * self.world.scale.sqrt());
        for _ in 0..tries {
            let s = active[self.rng_ops.index(active.len())] as usize;
            let slot = &self.world.slots[s];
            if slot.system < slot.reorder_point + 0.6 * slot.order_qty || slot.truth < 2.0 {
                continue;
            }
            let other = (w + 1 + self.rng_ops.index(n_wh - 1)) % n_wh;
            let dest = self.world.warehouses[other].slot_of[slot.item as usize];
            if dest == u32::MAX {
                continue;
            }
            let ds = &self.world.slots[dest as usize];
            if ds.active_from > d || ds.system > 0.5 * ds.reorder_point {
                continue;
            }
            let qty = (0.5 * slot.order_qty).min(slot.truth).floor();
            if qty < 1.0 {
                continue;
            }
            self.world.slots[s].truth -= qty;
            let t = next_t(&mut self.rng_ops);
            self.adjust(w, s, -qty, "transfer", t)?;
            self.transfers_due[d as usize + 2].push(Transfer { slot: dest, qty });
            self.stats.transfers += 1;
        }
        Ok(())
    }

    /// What nobody books: planted shrink and breakage, and one-off losses elsewhere.
    fn silent_drains(&mut self, d: i32, w: usize, active: &[u32]) {
        for p in 0..self.world.planted.len() {
            let pl = &self.world.planted[p];
            let s = pl.slot as usize;
            if self.world.slots[s].wh as usize != w || pl.day > d {
                continue;
            }
            if pl.day == d {
                self.world.first_hit(p);
            }
            let pl = &self.world.planted[p];
            if pl.next_event > d {
                continue;
            }
            let loss = match pl.kind {
                ErrorKind::PhantomStock => pl.strength,
                ErrorKind::DamagedNotRecorded => 1.0,
                _ => continue,
            };
            let next = d + pl.period.max(1) + self.rng_ops.range(0, 1) as i32;
            self.world.planted[p].next_event = next;
            let slot = &mut self.world.slots[s];
            slot.truth = (slot.truth - loss).max(0.0);
        }
        let losses = self.rng_ops.poisson(active.len() as f64 * 0.0008);
        for _ in 0..losses {
            let s = active[self.rng_ops.index(active.len())] as usize;
            if self.world.slots[s].truth >= 1.0 {
                self.world.slots[s].truth -= 1.0;
                self.stats.one_off_losses += 1;
            }
        }
    }
}
