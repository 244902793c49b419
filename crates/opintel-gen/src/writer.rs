//! The nightly export folders: opens each day's files (network feeds of the OMS, ERP,
//! exception desk and returns platform; per-warehouse WMS feeds; the 3PL's late
//! batches), routes rows through the noise, closes and tallies the files, carries the
//! overlapping last two hours into the next day's export and re-sends one file.
//!
//! Row content is the simulation's business; file names and formats are `layout.rs`'s.

use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::feed::{Feed, FeedSpec};
use super::layout;
use super::model::{Style, Warehouse};
use super::noise::{Noise, NoiseKind, Table};
use super::rng::Rng;
use super::timefmt::{ZoneClock, compact_date, iso_date};

/// Indices into [`Writer::feeds`] of the current day's files.
#[derive(Default, Clone)]
pub(crate) struct DayFeeds {
    pub items: Option<usize>,
    pub order_lines: usize,
    pub order_lines_mkt: usize,
    pub receipts: usize,
    pub returns: usize,
    /// Per warehouse: the feed its exception events go to.
    pub exceptions: Vec<usize>,
    pub shipments: Vec<usize>,
    pub counts: Vec<usize>,
    pub adjustments: Vec<usize>,
}

struct Site {
    style: Style,
    tag: String,
    clock: Rc<ZoneClock>,
}

pub(crate) struct Writer {
    out: PathBuf,
    day0: i64,
    days: i32,
    sites: Vec<Site>,
    feeds: Vec<Feed>,
    /// Extra information per open feed: overlap key and the 3PL's delay.
    keys: Vec<(Option<String>, i32)>,
    pub ids: DayFeeds,
    pub noise: Noise,
    tails: Vec<(String, Vec<Vec<u8>>)>,
    /// Delivery delay (days) of each business day's 3PL batch.
    tpl_delay: Vec<i32>,
    resend_day: i32,
    day: i32,
}

impl Writer {
    pub(crate) fn new(
        out: &Path,
        seed: u64,
        day0: i64,
        days: i32,
        warehouses: &[Warehouse],
    ) -> Writer {
        let mut rng = Rng::stream(seed, "delivery");
        let tpl_delay = (0..days)
            .map(|_| if rng.chance(0.65) { 1 } else { 2 })
            .collect();
        let resend_day = if days > 2 { days / 2 } else { 0 };
        let sites = warehouses
            .iter()
            .map(|w| Site {
                style: w.style,
                tag: w.file_tag.clone(),
                clock: Rc::new(w.clock.clone()),
            })
            .collect();
        Writer {
            out: out.to_path_buf(),
            day0,
            days,
            sites,
            feeds: Vec::new(),
            keys: Vec::new(),
            ids: DayFeeds::default(),
            noise: Noise::new(seed),
            tails: Vec::new(),
            tpl_delay,
            resend_day,
            day: 0,
        }
    }

    /// The export folder of `day` (created).
    pub(crate) fn day_folder(&self, day: i32) -> io::Result<PathBuf> {
        self.folder(day)
    }

    fn folder(&self, day: i32) -> io::Result<PathBuf> {
        let dir = self
            .out
            .join("exports")
            .join(iso_date(self.day0 + i64::from(day)));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn open(
        &mut self,
        spec: &FeedSpec,
        path: Option<PathBuf>,
        clock: Rc<ZoneClock>,
        key: Option<String>,
        delay: i32,
    ) -> io::Result<usize> {
        let mut feed = Feed::create(spec, path, clock)?;
        if let Some(k) = &key
            && let Some(pos) = self.tails.iter().position(|(tk, _)| tk == k)
        {
            let (_, lines) = self.tails.swap_remove(pos);
            for l in &lines {
                feed.write_line(l)?;
            }
            self.noise
                .tally
                .add(spec.table, NoiseKind::OverlapDuplicate, lines.len() as u64);
        }
        self.feeds.push(feed);
        self.keys.push((key, delay));
        Ok(self.feeds.len() - 1)
    }

    /// Open the files of simulation day `day`.
    pub(crate) fn open_day(&mut self, day: i32) -> io::Result<()> {
        self.day = day;
        let date = iso_date(self.day0 + i64::from(day));
        let compact = compact_date(self.day0 + i64::from(day));
        let dir = self.folder(day)?;
        let utc = Rc::clone(&self.sites[0].clock);
        let mut ids = DayFeeds::default();
        let net = |t: Table, mkt: bool| {
            (
                layout::network_spec(t, mkt),
                dir.join(layout::network_file(t, mkt, &date, false)),
            )
        };
        if day > 0 {
            let (spec, path) = net(Table::Items, false);
            ids.items = Some(self.open(&spec, Some(path), Rc::clone(&utc), None, 0)?);
        }
        let (spec, path) = net(Table::OrderLines, false);
        ids.order_lines = self.open(&spec, Some(path), Rc::clone(&utc), None, 0)?;
        let (spec, path) = net(Table::OrderLines, true);
        ids.order_lines_mkt = self.open(&spec, Some(path), Rc::clone(&utc), None, 0)?;
        let (spec, path) = net(Table::Receipts, false);
        ids.receipts = self.open(&spec, Some(path), Rc::clone(&utc), None, 0)?;
        let (spec, path) = net(Table::ReturnEvents, false);
        ids.returns = self.open(&spec, Some(path), Rc::clone(&utc), None, 0)?;
        let (spec, path) = net(Table::ExceptionEvents, false);
        let own_exceptions = self.open(
            &spec,
            Some(path),
            Rc::clone(&utc),
            Some("exceptions".into()),
            0,
        )?;
        for w in 0..self.sites.len() {
            let style = self.sites[w].style;
            let clock = Rc::clone(&self.sites[w].clock);
            let (folder, delay) = if style == Style::ThirdParty {
                let delay = self.tpl_delay[day as usize];
                let arrives = day + delay;
                (
                    if arrives < self.days {
                        Some(self.folder(arrives)?)
                    } else {
                        None
                    },
                    delay,
                )
            } else {
                (Some(dir.clone()), 0)
            };
            let tag = self.sites[w].tag.clone();
            for table in [
                Table::Shipments,
                Table::CycleCounts,
                Table::Adjustments,
                Table::ExceptionEvents,
            ] {
                if table == Table::ExceptionEvents && style != Style::ThirdParty {
                    ids.exceptions.push(own_exceptions);
                    continue;
                }
                let spec = layout::site_spec(style, table);
                let path = folder
                    .as_ref()
                    .map(|f| f.join(layout::site_file(style, &tag, table, &date, &compact)));
                let key = spec.retain.then(|| format!("{}/{tag}", table.name()));
                let id = self.open(&spec, path, Rc::clone(&clock), key, delay)?;
                if style == Style::East && table == Table::Adjustments {
                    self.feeds[id].extra_value = format!("B{compact}-E");
                }
                if style == Style::East && table == Table::Shipments && day == self.resend_day {
                    self.feeds[id].resend = true;
                }
                match table {
                    Table::Shipments => ids.shipments.push(id),
                    Table::CycleCounts => ids.counts.push(id),
                    Table::Adjustments => ids.adjustments.push(id),
                    _ => ids.exceptions.push(id),
                }
            }
        }
        self.ids = ids;
        Ok(())
    }

    /// Open a one-off file in today's folder (day 1's full master data).
    pub(crate) fn open_master(&mut self, table: Table) -> io::Result<usize> {
        let dir = self.folder(self.day)?;
        let date = iso_date(self.day0 + i64::from(self.day));
        let spec = layout::network_spec(table, false);
        let path = dir.join(layout::network_file(table, false, &date, true));
        let clock = Rc::clone(&self.sites[0].clock);
        self.open(&spec, Some(path), clock, None, 0)
    }

    pub(crate) fn f(&mut self, id: usize) -> &mut Feed {
        &mut self.feeds[id]
    }

    /// Finish the row being built in feed `id`; `t` is its event time.
    pub(crate) fn end(&mut self, id: usize, t: i64) -> io::Result<()> {
        let feed = &mut self.feeds[id];
        self.noise.before(feed);
        feed.write_row(t)?;
        self.noise.after(feed)
    }

    /// Close every file of the day, tally it, keep the overlap, re-send one export.
    pub(crate) fn close_day(&mut self) -> io::Result<()> {
        let feeds = std::mem::take(&mut self.feeds);
        let keys = std::mem::take(&mut self.keys);
        for (feed, (key, delay)) in feeds.into_iter().zip(keys) {
            let table = feed.table;
            let extra = feed
                .cols
                .last()
                .is_some_and(|c| c.kind == super::feed::Kind::Extra);
            let done = feed.finish()?;
            let (path, rows, tail) = (done.path, done.rows, done.tail);
            let tally = &mut self.noise.tally;
            match path {
                None => tally.add(table, NoiseKind::MissingAtEnd, rows),
                Some(p) => {
                    tally.rows[table as usize] += rows;
                    if extra {
                        tally.add(table, NoiseKind::ExtraColumn, rows);
                    }
                    match delay {
                        1 => tally.add(table, NoiseKind::LateBatch1Day, rows),
                        2 => tally.add(table, NoiseKind::LateBatch2Days, rows),
                        _ => {}
                    }
                    // The export chosen for re-sending was kept free of invalid rows (they
                    // would make the expected reject count ambiguous).
                    let resend = done.resend && done.invalid_rows == 0;
                    tally.files.push((p.clone(), rows));
                    if resend {
                        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                        let copy = p.with_file_name(name.replace(".csv", "-resend.csv"));
                        std::fs::copy(&p, &copy)?;
                        tally.files.push((copy, rows));
                        tally.rows[table as usize] += rows;
                        tally.add(table, NoiseKind::ResentFile, rows);
                    }
                }
            }
            if let Some(k) = key {
                self.tails.push((k, tail));
            }
        }
        Ok(())
    }
}
