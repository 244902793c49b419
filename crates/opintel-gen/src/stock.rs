//! What the own sites' WMS say they hold: the optional `inventory_snapshots` feed, one
//! file per own warehouse and day for the last [`SNAPSHOT_DAYS`] days (a feed the
//! operation started sending recently, so older as-of dates have none), and the
//! put-away times behind `receipts.available_at`.
//!
//! A snapshot is taken after the evening's adjustments and states the WMS's belief,
//! never the shelf: `available` is the record (`system`) less what waiting order lines
//! have reserved, so a planted wrong record shows here as *phantom* stock (available
//! in the snapshot, short at the pick face). Damaged receipt units wait in the damage
//! cage for 10 days and quarantined returns for 14 (no bin: `location_id` is empty);
//! transfers on their way are `in_transit` at the bin they will go to.
//!
//! Snapshots skip the noise of the other feeds: they are plain canonical CSV.

use std::io::{self, Write};

use super::model::Style;
use super::simulate::{EOD_START, Sim};
use super::timefmt::{HOUR, MINUTE, iso_date, push_qty, rfc3339};

/// Days at the end of the period with a snapshot.
pub(crate) const SNAPSHOT_DAYS: i32 = 14;
const DAMAGE_CAGE_DAYS: i32 = 10;
const QUARANTINE_DAYS: i32 = 14;

/// Units held out of the pick face for a while.
#[derive(Clone, Debug)]
pub(crate) struct Held {
    pub slot: u32,
    pub quarantined: bool,
    pub qty: f64,
    /// Last day the units are held.
    pub until: i32,
}

impl Sim {
    /// When received units become available to sell: put-away takes a few hours at the
    /// own sites, up to a day and a half at the 3PL (its later shift and batch put-away).
    pub(crate) fn available_at(&mut self, w: usize, received: i64) -> i64 {
        let r = &mut self.rng_stock;
        let hours = if self.world.warehouses[w].style == Style::ThirdParty {
            r.uniform(4.0, 36.0)
        } else {
            0.5 + r.normal().abs() * 3.0
        };
        received + (hours * HOUR as f64) as i64 + r.range(0, 10 * MINUTE)
    }

    /// Keep damaged receipt units (or a quarantined return) on the books from day `d`.
    pub(crate) fn hold(&mut self, d: i32, slot: u32, qty: f64, quarantined: bool) {
        if qty > 0.0 {
            let days = if quarantined {
                QUARANTINE_DAYS
            } else {
                DAMAGE_CAGE_DAYS
            };
            let w = self.world.slots[slot as usize].wh as usize;
            self.held[w].push(Held {
                slot,
                quarantined,
                qty,
                until: d + days,
            });
        }
    }

    /// Write warehouse `w`'s end-of-day snapshot for day `d` (own sites, last days).
    pub(crate) fn snapshot_day(&mut self, d: i32, w: usize) -> io::Result<()> {
        self.held[w].retain(|h| h.until >= d);
        let days = self.world.days;
        if d < days - SNAPSHOT_DAYS || self.world.warehouses[w].style == Style::ThirdParty {
            return Ok(());
        }
        let world = &self.world;
        let wh = &world.warehouses[w];
        let t = wh.clock.at(d, EOD_START) + 2 * HOUR;
        // Units the waiting order lines have reserved, per slot (allocated up to what
        // the record says is there).
        let mut waiting = vec![0.0f64; world.slots.len()];
        for day in &self.lines_due[(d + 1).max(0) as usize..] {
            for l in day.iter().filter(|l| l.wh as usize == w) {
                waiting[l.slot as usize] += l.remaining;
            }
        }
        let mut in_transit = vec![0.0f64; world.slots.len()];
        for day in &self.transfers_due[(d + 1).max(0) as usize..] {
            for tr in day {
                in_transit[tr.slot as usize] += tr.qty;
            }
        }
        let mut out = Vec::with_capacity(64 * wh.slots.len());
        out.extend_from_slice(b"snapshot_at,warehouse_id,location_id,sku,status,qty\n");
        let at = rfc3339(t);
        let mut row = |loc: Option<u32>, item: u32, status: &str, qty: f64| {
            out.extend_from_slice(at.as_bytes());
            out.push(b',');
            out.extend_from_slice(wh.id.as_bytes());
            out.push(b',');
            if let Some(l) = loc {
                world.locations[l as usize].push_id(&mut out);
            }
            out.push(b',');
            out.extend_from_slice(world.items[item as usize].sku_text().as_bytes());
            out.push(b',');
            out.extend_from_slice(status.as_bytes());
            out.push(b',');
            push_qty(&mut out, qty);
            out.push(b'\n');
        };
        for &s in &wh.slots {
            let slot = &world.slots[s as usize];
            if slot.active_from > d {
                continue;
            }
            let record = slot.system.max(0.0);
            let reserved = waiting[s as usize].min(record);
            row(Some(slot.loc), slot.item, "available", record - reserved);
            if reserved > 0.0 {
                row(Some(slot.loc), slot.item, "reserved", reserved);
            }
            if in_transit[s as usize] > 0.0 {
                row(
                    Some(slot.loc),
                    slot.item,
                    "in_transit",
                    in_transit[s as usize],
                );
            }
        }
        // Held units by SKU and kind (the cage and the quarantine area have no bin).
        let mut held: Vec<(u32, bool, f64)> = Vec::new();
        for h in &self.held[w] {
            let item = world.slots[h.slot as usize].item;
            match held
                .iter_mut()
                .find(|(i, q, _)| *i == item && *q == h.quarantined)
            {
                Some(e) => e.2 += h.qty,
                None => held.push((item, h.quarantined, h.qty)),
            }
        }
        held.sort_by_key(|(i, q, _)| (*i, *q));
        for (item, quarantined, qty) in held {
            let status = if quarantined {
                "quarantined"
            } else {
                "damaged"
            };
            row(None, item, status, qty);
        }
        let dir = self.out.day_folder(d)?;
        let path = dir.join(format!(
            "inventory_snapshots-{}-{}.csv",
            wh.file_tag,
            iso_date(world.day0 + i64::from(d))
        ));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
        f.write_all(&out)?;
        f.flush()?;
        let rows = out.iter().filter(|&&b| b == b'\n').count() as u64 - 1;
        self.stats.snapshot_rows += rows;
        self.stats.snapshot_files += 1;
        Ok(())
    }
}
