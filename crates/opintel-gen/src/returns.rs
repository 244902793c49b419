//! Customer returns: about 4% of shipped web and marketplace lines come back. A return
//! is `received`, `inspected` hours to days later, then `dispositioned` (restock,
//! refurbish, quarantine, vendor return or write-off); a restock puts the units back in
//! the pick bin with a `return_restock` adjustment that evening. Slow inspections raise
//! `return_delay` exceptions.
//!
//! Writes `return_events` (the network returns platform, gzip CSV).

use std::io;

use super::catalog::{DISPOSITIONS, ExType, RETURN_REASONS, Severity};
use super::demand::Line;
use super::exceptions::ExcSpec;
use super::layout::EnumOf;
use super::simulate::Sim;
use super::timefmt::HOUR;

/// One stage of a return, waiting for its day.
#[derive(Clone, Debug)]
pub(crate) struct ReturnEv {
    pub t: i64,
    pub seq: u64,
    pub ret: u64,
    pub order: u64,
    pub slot: u32,
    pub wh: u8,
    pub qty: f64,
    pub stage: u8,
    pub disposition: u8,
    pub reason: u8,
}

const STAGES: [&str; 3] = ["received", "inspected", "dispositioned"];

impl Sim {
    /// Decide at shipment whether (and when) the customer sends it back.
    pub(crate) fn maybe_return(&mut self, d: i32, t_ship: i64, line: &Line, shipped: f64) {
        let r = &mut self.rng_returns;
        if !r.chance(0.04) {
            return;
        }
        let w = line.wh as usize;
        let by_weight =
            self.world.items[self.world.slots[line.slot as usize].item as usize].by_weight();
        let qty = if shipped > 1.0 && !by_weight && r.chance(0.7) {
            1.0
        } else {
            shipped
        };
        let day = d + 3 + r.poisson(4.0) as i32;
        if day >= self.world.days {
            return;
        }
        let clock = &self.world.warehouses[w].clock;
        let received = clock
            .at(day, r.range(8 * HOUR, 18 * HOUR))
            .max(t_ship + 24 * HOUR);
        let inspected = clock.within_shift(
            received + (r.lognormal(18.0, 0.9) * HOUR as f64) as i64,
            8 * HOUR,
            20 * HOUR,
        );
        let dispositioned = clock.within_shift(
            inspected + (r.lognormal(8.0, 1.0) * HOUR as f64) as i64 + HOUR,
            8 * HOUR,
            20 * HOUR,
        );
        let reason = r.weighted(&[0.3, 0.22, 0.16, 0.14, 0.1, 0.08]) as u8;
        let weights: [f64; 5] = match RETURN_REASONS[reason as usize] {
            "defective" | "damaged_in_transit" => [0.2, 0.2, 0.15, 0.25, 0.2],
            _ => [0.75, 0.08, 0.05, 0.04, 0.08],
        };
        let disposition = r.weighted(&weights) as u8;
        self.ids.ret += 1;
        self.stats.returns += 1;
        let ret = self.ids.ret;
        for (stage, at) in [received, inspected, dispositioned].into_iter().enumerate() {
            let day = clock.day_of(at);
            if day >= self.world.days {
                break;
            }
            self.ids.return_event += 1;
            self.returns_due[day as usize].push(ReturnEv {
                t: at,
                seq: self.ids.return_event,
                ret,
                order: line.order,
                slot: line.slot,
                wh: line.wh,
                qty,
                stage: stage as u8,
                disposition,
                reason,
            });
        }
        // Inspection later than three days: the returns desk flags it.
        if inspected - received > 72 * HOUR {
            let slot = &self.world.slots[line.slot as usize];
            let mut spec = ExcSpec::new(
                w,
                ExType::ReturnDelay,
                Severity::Medium,
                "return not inspected within 72 hours",
            )
            .at_slot(slot.loc, slot.item);
            spec.channel = Some(line.channel);
            spec.order = line.order;
            spec.impact = qty * self.world.items[slot.item as usize].unit_cost;
            let open = received + 72 * HOUR;
            self.raise_until(spec, open, Some(inspected + HOUR));
        }
    }

    /// Write today's return events; queue restocks for the evening.
    pub(crate) fn returns_day(&mut self, d: i32) -> io::Result<()> {
        let mut due = std::mem::take(&mut self.returns_due[d as usize]);
        due.sort_unstable_by_key(|e| (e.t, e.seq));
        for e in &due {
            let id = self.out.ids.returns;
            let world = &self.world;
            let slot = &world.slots[e.slot as usize];
            let f = self.out.f(id).begin();
            f.id("ret-", e.seq, 0)
                .id("RT-", e.ret, 7)
                .id("SO-", e.order, 8);
            f.sku(&world.items[slot.item as usize])
                .s(&world.warehouses[e.wh as usize].id)
                .qty(e.qty);
            f.en(EnumOf::Other, STAGES[e.stage as usize]);
            f.en(
                EnumOf::Other,
                if e.stage == 2 {
                    DISPOSITIONS[e.disposition as usize]
                } else {
                    ""
                },
            );
            f.s(RETURN_REASONS[e.reason as usize]).ts(e.t);
            self.out.end(id, e.t)?;
            if e.stage == 2 && DISPOSITIONS[e.disposition as usize] == "restock" {
                self.restocks[e.wh as usize].push((e.slot, e.qty));
            }
            if e.stage == 2 && DISPOSITIONS[e.disposition as usize] == "quarantine" {
                self.hold(d, e.slot, e.qty, true);
            }
        }
        Ok(())
    }
}
