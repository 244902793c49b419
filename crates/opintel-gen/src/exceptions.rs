//! Exception lifecycles: when something goes wrong the operation raises an exception,
//! which is `open`ed, often `acknowledged` and `in_progress`, and finally `resolved` (or
//! `cancelled`) after a time that depends on its type and severity; some escalate, some
//! breach their SLA, some stay open for weeks. A backlog of exceptions opened up to 60
//! days before the first day arrives in day 1's export.
//!
//! Events are scheduled into the day (warehouse-local) they happen and written sorted by
//! time at the end of that day: own sites to the network `exception_events` file, the
//! 3PL's to its own late-arriving batch.

use std::io;

use super::catalog::{Channel, ExType, Severity, Status};
use super::layout::EnumOf;
use super::rng::powf;
use super::simulate::Sim;
use super::timefmt::{DAY, HOUR, MINUTE};
use super::world::BACKLOG_DAYS;

const NONE: u32 = u32::MAX;

/// What an exception is about.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExcSpec {
    pub wh: usize,
    pub etype: ExType,
    pub severity: Severity,
    /// Location and item (indices), when the exception is about a bin or an SKU.
    pub loc: u32,
    pub item: u32,
    pub supplier: u16,
    pub channel: Option<Channel>,
    pub order: u64,
    pub cause: &'static str,
    pub impact: f64,
}

impl ExcSpec {
    pub(crate) fn new(
        wh: usize,
        etype: ExType,
        severity: Severity,
        cause: &'static str,
    ) -> ExcSpec {
        ExcSpec {
            wh,
            etype,
            severity,
            loc: NONE,
            item: NONE,
            supplier: u16::MAX,
            channel: None,
            order: 0,
            cause,
            impact: 0.0,
        }
    }

    pub(crate) fn at_slot(mut self, loc: u32, item: u32) -> ExcSpec {
        self.loc = loc;
        self.item = item;
        self
    }
}

/// One lifecycle event, waiting for its day.
#[derive(Clone, Debug)]
pub(crate) struct ExcEvent {
    pub t: i64,
    pub seq: u64,
    pub exception: u64,
    pub status: Status,
    pub spec: ExcSpec,
}

/// Severity from the value at stake.
pub(crate) fn severity_for_value(value: f64, floor: Severity) -> Severity {
    let s = if value >= 5000.0 {
        Severity::Critical
    } else if value >= 1000.0 {
        Severity::High
    } else if value >= 150.0 {
        Severity::Medium
    } else {
        Severity::Low
    };
    s.max(floor)
}

impl Sim {
    /// Raise an exception opened at `t` and schedule its whole lifecycle.
    pub(crate) fn raise(&mut self, spec: ExcSpec, t: i64) {
        let r = &mut self.rng_exc;
        let sev_factor = match spec.severity {
            Severity::Critical => 0.25,
            Severity::High => 0.6,
            Severity::Medium => 1.0,
            Severity::Low => 2.0,
        };
        let mut hours = r.lognormal(spec.etype.base_hours() * sev_factor, 1.0);
        if r.chance(0.04) {
            hours *= r.uniform(8.0, 25.0); // stuck for weeks
        }
        let forgotten = spec.severity == Severity::Low && r.chance(0.03);
        let end = if forgotten {
            None
        } else {
            Some(t + (hours * HOUR as f64) as i64)
        };
        self.raise_until(spec, t, end);
    }

    /// Schedule open → (acknowledged) → (in_progress) → resolved/cancelled; events after
    /// the last day are not written (they have not happened yet).
    pub(crate) fn raise_until(&mut self, spec: ExcSpec, t: i64, end: Option<i64>) {
        self.ids.exception += 1;
        self.stats.exceptions += 1;
        let exception = self.ids.exception;
        let clock = &self.world.warehouses[spec.wh].clock;
        let r = &mut self.rng_exc;
        let span = end.map_or(30 * DAY, |e| e - t).max(20 * MINUTE);
        let mut steps: Vec<(i64, Status, Severity)> = vec![(t, Status::Open, spec.severity)];
        if r.chance(0.8) {
            steps.push((
                t + (span as f64 * r.uniform(0.03, 0.2)) as i64,
                Status::Acknowledged,
                spec.severity,
            ));
        }
        if r.chance(0.5) {
            let sev = if r.chance(0.06) {
                spec.severity.escalate()
            } else {
                spec.severity
            };
            steps.push((
                t + (span as f64 * r.uniform(0.25, 0.6)) as i64,
                Status::InProgress,
                sev,
            ));
        }
        if let Some(e) = end {
            let last_sev = steps.last().map_or(spec.severity, |s| s.2);
            let status = if r.chance(0.08) {
                Status::Cancelled
            } else {
                Status::Resolved
            };
            steps.push((e, status, last_sev));
        }
        // People work 05:00–23:00 local; events keep their order.
        let mut prev = i64::MIN;
        let mut events = Vec::with_capacity(steps.len());
        for (i, (at, status, severity)) in steps.into_iter().enumerate() {
            let mut at = if i == 0 {
                at
            } else {
                clock.within_shift(at, 5 * HOUR, 23 * HOUR)
            };
            if at <= prev {
                at = prev + 60 + r.range(0, 600);
            }
            prev = at;
            events.push((at, status, severity));
        }
        for (at, status, severity) in events {
            let day = clock.day_of(at);
            if day >= self.world.days {
                break;
            }
            let slot = day.max(0) as usize;
            self.ids.exception_event += 1;
            let mut spec = spec;
            spec.severity = severity;
            self.exceptions_due[slot].push(ExcEvent {
                t: at,
                seq: self.ids.exception_event,
                exception,
                status,
                spec,
            });
        }
    }

    /// Exceptions opened before the first day and still open on it (day 1's file holds
    /// their history): about a third are still open at the end, so every age bucket of
    /// the aging report has members.
    pub(crate) fn backlog_exceptions(&mut self) {
        let n = ((150.0 * powf(self.world.scale, 0.8)).round() as usize).max(12);
        let types = [
            (ExType::BinMismatch, 0.25),
            (ExType::ShortReceipt, 0.18),
            (ExType::ReturnDelay, 0.12),
            (ExType::Damaged, 0.12),
            (ExType::LotMismatch, 0.08),
            (ExType::Other, 0.15),
            (ExType::OverReceipt, 0.05),
            (ExType::Unscannable, 0.05),
        ];
        let weights: Vec<f64> = types.iter().map(|t| t.1).collect();
        let days = self.world.days;
        for _ in 0..n {
            let r = &mut self.rng_exc;
            let w = r.index(self.world.warehouses.len());
            let etype = types[r.weighted(&weights)].0;
            let severity = [
                Severity::Low,
                Severity::Medium,
                Severity::High,
                Severity::Critical,
            ][r.weighted(&[0.45, 0.35, 0.15, 0.05])];
            let opened_day = -(r.range(1, i64::from(BACKLOG_DAYS)) as i32);
            let clock = &self.world.warehouses[w].clock;
            let t = clock.at(opened_day, r.range(6 * HOUR, 20 * HOUR));
            let end = if r.chance(0.35) {
                None
            } else {
                let day = r.range(0, i64::from(days - 1)) as i32;
                Some(clock.at(day, r.range(7 * HOUR, 19 * HOUR)))
            };
            let mut spec = ExcSpec::new(w, etype, severity, backlog_cause(etype));
            let ws = &self.world.warehouses[w].slots;
            if !ws.is_empty() && etype != ExType::Other {
                let s = &self.world.slots[ws[r.index(ws.len())] as usize];
                spec = spec.at_slot(s.loc, s.item);
                let item = &self.world.items[s.item as usize];
                spec.impact = item.unit_cost * r.range(1, 40) as f64;
                if matches!(
                    etype,
                    ExType::ShortReceipt | ExType::OverReceipt | ExType::LotMismatch
                ) {
                    spec.supplier = item.supplier;
                }
            }
            self.stats.backlog_exceptions += 1;
            self.raise_until(spec, t, end);
        }
    }

    /// Write today's exception events, sorted by time.
    pub(crate) fn write_exceptions(&mut self, d: i32) -> io::Result<()> {
        let mut due = std::mem::take(&mut self.exceptions_due[d as usize]);
        due.sort_unstable_by_key(|e| (e.t, e.seq));
        for e in &due {
            self.write_exception(e)?;
        }
        Ok(())
    }

    fn write_exception(&mut self, e: &ExcEvent) -> io::Result<()> {
        let w = e.spec.wh;
        let tpl = self.world.warehouses[w].third_party();
        let id = self.out.ids.exceptions[w];
        let world = &self.world;
        let s = &e.spec;
        let f = self.out.f(id).begin();
        if tpl {
            f.id("CHI1-X", e.seq, 8).id("CASE-", e.exception, 7);
        } else {
            f.id("exe-", e.seq, 0).id("EX-", e.exception, 7);
        }
        f.ts(e.t).en(EnumOf::Status, e.status.name());
        f.en(EnumOf::Other, s.etype.name())
            .en(EnumOf::Severity, s.severity.name())
            .s(s.etype.owner());
        f.s(&world.warehouses[w].id);
        if s.loc == NONE {
            f.s("");
        } else {
            f.loc(&world.locations[s.loc as usize]);
        }
        if s.item == NONE {
            f.s("");
        } else {
            f.sku(&world.items[s.item as usize]);
        }
        f.s(if s.supplier == u16::MAX {
            ""
        } else {
            &world.suppliers[s.supplier as usize].id
        });
        f.s(s.channel.map_or("", Channel::name));
        if s.order == 0 {
            f.s("");
        } else {
            f.id("SO-", s.order, 8);
        }
        f.s(s.cause);
        if s.impact > 0.0 {
            f.money(s.impact);
        } else {
            f.s("");
        }
        self.out.end(id, e.t)
    }
}

fn backlog_cause(t: ExType) -> &'static str {
    match t {
        ExType::BinMismatch => "bin content does not match the record",
        ExType::ShortReceipt => "supplier shipped fewer units than the ASN",
        ExType::ReturnDelay => "returns backlog: inspection overdue",
        ExType::Damaged => "damaged units found in storage",
        ExType::LotMismatch => "lot on the label differs from the ASN",
        ExType::OverReceipt => "more units received than ordered",
        ExType::Unscannable => "barcode unreadable",
        _ => "open item from the previous WMS review",
    }
}
