//! Calendar arithmetic, warehouse clocks and fast text formatting (numbers, dates,
//! timestamps, CSV quoting, JSON strings) for the generator's writers.
//!
//! Time inside the simulation is Unix seconds (UTC). A [`ZoneClock`] turns a simulation
//! day and a number of seconds after local midnight into such an instant, and back, for
//! one warehouse's time zone (daylight-saving aware through `chrono-tz`, cached per hour).
//! The `push_*` helpers append text to a reused byte buffer without allocating; they are
//! the hot path of writing millions of rows.

use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;

pub(crate) const DAY: i64 = 86_400;
pub(crate) const HOUR: i64 = 3_600;
pub(crate) const MINUTE: i64 = 60;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian; H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date (year, month, day) of a day number since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Day number of a chrono date.
pub(crate) fn epoch_day(date: NaiveDate) -> i64 {
    use chrono::Datelike;
    days_from_civil(i64::from(date.year()), date.month(), date.day())
}

/// Day of week of a day number, 0 = Monday … 6 = Sunday.
pub(crate) fn weekday(epoch_day: i64) -> u32 {
    (epoch_day + 3).rem_euclid(7) as u32
}

/// One warehouse's local clock over the simulated period (plus margins).
#[derive(Clone, Debug)]
pub(crate) struct ZoneClock {
    tz: Tz,
    /// Epoch day of simulation day 0.
    day0: i64,
    /// First simulation day held in `midnight`.
    first: i32,
    /// UTC instant of local midnight for simulation days `first..`.
    midnight: Vec<i64>,
    /// UTC offset (seconds) for each hour from `hour0`.
    hour0: i64,
    offsets: Vec<i32>,
}

impl ZoneClock {
    /// A clock for simulation days `first..last` (inclusive) where day 0 is `day0`.
    pub(crate) fn new(tz: Tz, day0: i64, first: i32, last: i32) -> ZoneClock {
        let midnight = (first..=last + 1)
            .map(|d| {
                let (y, m, dd) = civil_from_days(day0 + i64::from(d));
                let local = NaiveDate::from_ymd_opt(y as i32, m, dd)
                    .and_then(|x| x.and_hms_opt(0, 0, 0))
                    .unwrap_or_default();
                match tz.from_local_datetime(&local).earliest() {
                    Some(t) => t.timestamp(),
                    None => local.and_utc().timestamp(),
                }
            })
            .collect::<Vec<_>>();
        let hour0 = (day0 + i64::from(first) - 1) * DAY;
        let hours = ((i64::from(last - first) + 3) * 24) as usize;
        let offsets = (0..hours)
            .map(|h| Self::offset_exact(tz, hour0 + h as i64 * HOUR))
            .collect();
        ZoneClock {
            tz,
            day0,
            first,
            midnight,
            hour0,
            offsets,
        }
    }

    fn offset_exact(tz: Tz, t: i64) -> i32 {
        match chrono::DateTime::from_timestamp(t, 0) {
            Some(dt) => tz
                .offset_from_utc_datetime(&dt.naive_utc())
                .fix()
                .local_minus_utc(),
            None => 0,
        }
    }

    /// UTC offset in seconds at instant `t`.
    pub(crate) fn offset(&self, t: i64) -> i32 {
        let h = (t - self.hour0).div_euclid(HOUR);
        if h >= 0 && (h as usize) < self.offsets.len() {
            self.offsets[h as usize]
        } else {
            Self::offset_exact(self.tz, t)
        }
    }

    /// UTC instant of `secs` seconds after local midnight of simulation day `day`.
    pub(crate) fn at(&self, day: i32, secs: i64) -> i64 {
        let i = day - self.first;
        if i >= 0 && (i as usize) < self.midnight.len() {
            self.midnight[i as usize] + secs
        } else {
            // Outside the table: close enough (no daylight-saving detail).
            let approx = (self.day0 + i64::from(day)) * DAY;
            approx - i64::from(self.offset(approx)) + secs
        }
    }

    /// Simulation day (local calendar) of instant `t`.
    pub(crate) fn day_of(&self, t: i64) -> i32 {
        let local = t + i64::from(self.offset(t));
        (local.div_euclid(DAY) - self.day0) as i32
    }

    /// Local wall-clock seconds since local midnight of instant `t`.
    pub(crate) fn wall_secs(&self, t: i64) -> i64 {
        (t + i64::from(self.offset(t))).rem_euclid(DAY)
    }

    /// Move `t` forward into the working window [`from`, `to`) of local wall time: what
    /// would happen outside it happens in the first 90 minutes of the next shift (spread
    /// deterministically, so that work does not pile up on the same second).
    pub(crate) fn within_shift(&self, t: i64, from: i64, to: i64) -> i64 {
        let w = self.wall_secs(t);
        let spread = ((t.unsigned_abs().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 5400) as i64;
        if w < from {
            t + (from - w) + spread
        } else if w >= to {
            t + (DAY - w) + from + spread
        } else {
            t
        }
    }
}

/// How a file writes its timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TsStyle {
    /// `2026-11-03T14:05:09Z`
    Zulu,
    /// `2026-11-03T14:05:09.250Z`
    ZuluMillis,
    /// `2026-11-03T06:05:09-08:00` (the warehouse's local offset)
    Offset,
    /// `03/11/2026 08:05:09` naive local time (the 3PL's format)
    DayFirstLocal,
}

pub(crate) fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

pub(crate) fn push_i64(buf: &mut Vec<u8>, v: i64) {
    if v < 0 {
        buf.push(b'-');
    }
    push_u64(buf, v.unsigned_abs());
}

/// Zero-padded to `width` digits.
pub(crate) fn push_padded(buf: &mut Vec<u8>, v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = tmp.len();
    let mut v = v;
    while v > 0 || tmp.len() - i < width {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if i == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// A quantity: integers without a decimal point, fractions with up to three decimals.
pub(crate) fn push_qty(buf: &mut Vec<u8>, v: f64) {
    let milli = (v * 1000.0).round() as i64;
    if milli % 1000 == 0 {
        push_i64(buf, milli / 1000);
        return;
    }
    if milli < 0 {
        buf.push(b'-');
    }
    let m = milli.unsigned_abs();
    push_u64(buf, m / 1000);
    buf.push(b'.');
    let mut frac = m % 1000;
    let mut width = 3;
    while frac.is_multiple_of(10) {
        frac /= 10;
        width -= 1;
    }
    push_padded(buf, frac, width);
}

/// Money with exactly two decimals.
pub(crate) fn push_money(buf: &mut Vec<u8>, v: f64) {
    let cents = (v * 100.0).round() as i64;
    if cents < 0 {
        buf.push(b'-');
    }
    let c = cents.unsigned_abs();
    push_u64(buf, c / 100);
    buf.push(b'.');
    push_padded(buf, c % 100, 2);
}

/// `YYYY-MM-DD` of an epoch day.
pub(crate) fn push_date(buf: &mut Vec<u8>, epoch_day: i64) {
    let (y, m, d) = civil_from_days(epoch_day);
    push_padded(buf, y as u64, 4);
    buf.push(b'-');
    push_padded(buf, u64::from(m), 2);
    buf.push(b'-');
    push_padded(buf, u64::from(d), 2);
}

/// `YYYYMMDD` of an epoch day (file names of the 3PL).
pub(crate) fn compact_date(epoch_day: i64) -> String {
    let (y, m, d) = civil_from_days(epoch_day);
    format!("{y:04}{m:02}{d:02}")
}

/// `YYYY-MM-DD` of an epoch day.
pub(crate) fn iso_date(epoch_day: i64) -> String {
    let mut b = Vec::with_capacity(10);
    push_date(&mut b, epoch_day);
    String::from_utf8_lossy(&b).into_owned()
}

fn push_hms(buf: &mut Vec<u8>, secs: i64) {
    push_padded(buf, (secs / HOUR) as u64, 2);
    buf.push(b':');
    push_padded(buf, (secs % HOUR / MINUTE) as u64, 2);
    buf.push(b':');
    push_padded(buf, (secs % MINUTE) as u64, 2);
}

/// A timestamp in `style`; `millis` is used by [`TsStyle::ZuluMillis`], `clock` by the
/// local styles.
pub(crate) fn push_ts(buf: &mut Vec<u8>, t: i64, style: TsStyle, millis: u32, clock: &ZoneClock) {
    match style {
        TsStyle::Zulu | TsStyle::ZuluMillis => {
            push_date(buf, t.div_euclid(DAY));
            buf.push(b'T');
            push_hms(buf, t.rem_euclid(DAY));
            if style == TsStyle::ZuluMillis {
                buf.push(b'.');
                push_padded(buf, u64::from(millis % 1000), 3);
            }
            buf.push(b'Z');
        }
        TsStyle::Offset => {
            let off = i64::from(clock.offset(t));
            let local = t + off;
            push_date(buf, local.div_euclid(DAY));
            buf.push(b'T');
            push_hms(buf, local.rem_euclid(DAY));
            buf.push(if off < 0 { b'-' } else { b'+' });
            let a = off.unsigned_abs();
            push_padded(buf, a / 3600, 2);
            buf.push(b':');
            push_padded(buf, a % 3600 / 60, 2);
        }
        TsStyle::DayFirstLocal => {
            let local = t + i64::from(clock.offset(t));
            let (y, m, d) = civil_from_days(local.div_euclid(DAY));
            push_padded(buf, u64::from(d), 2);
            buf.push(b'/');
            push_padded(buf, u64::from(m), 2);
            buf.push(b'/');
            push_padded(buf, y as u64, 4);
            buf.push(b' ');
            push_hms(buf, local.rem_euclid(DAY));
        }
    }
}

/// RFC 3339 UTC text of an instant (for READMEs and ground truth).
pub(crate) fn rfc3339(t: i64) -> String {
    let mut b = Vec::with_capacity(20);
    push_date(&mut b, t.div_euclid(DAY));
    b.push(b'T');
    push_hms(&mut b, t.rem_euclid(DAY));
    b.push(b'Z');
    String::from_utf8_lossy(&b).into_owned()
}

/// A chrono date-time of an instant, for tests and checks.
#[cfg(test)]
pub(crate) fn naive(t: i64) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.naive_utc())
        .unwrap_or_default()
}

/// A CSV field, quoted when it holds the delimiter, a quote or a line break.
pub(crate) fn csv_field(out: &mut Vec<u8>, v: &[u8], delim: u8) {
    if v.iter()
        .any(|&b| b == delim || b == b'"' || b == b'\n' || b == b'\r')
    {
        out.push(b'"');
        for &b in v {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v);
    }
}

pub(crate) fn json_string(out: &mut Vec<u8>, v: &[u8]) {
    out.push(b'"');
    for &b in v {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1F => {
                out.extend_from_slice(b"\\u00");
                out.push(b"0123456789abcdef"[usize::from(b >> 4)]);
                out.push(b"0123456789abcdef"[usize::from(b & 15)]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// A JSON number literal as our formatters write them (`-12`, `3.5`).
pub(crate) fn looks_numeric(v: &[u8]) -> bool {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    !digits.is_empty()
        && digits[0].is_ascii_digit()
        && digits.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && digits.iter().filter(|b| **b == b'.').count() <= 1
        && digits.last().is_some_and(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn civil_round_trip() {
        for z in [-800_000i64, -1, 0, 1, 20_000, 20_777, 100_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(2026, 11, 20), 20_777);
        assert_eq!(weekday(days_from_civil(2026, 11, 20)), 4); // a Friday
    }

    #[test]
    fn numbers_and_timestamps_format() {
        assert_eq!(s(|b| push_qty(b, 12.0)), "12");
        assert_eq!(s(|b| push_qty(b, 1.5)), "1.5");
        assert_eq!(s(|b| push_qty(b, -0.25)), "-0.25");
        assert_eq!(s(|b| push_money(b, 3.005)), "3.01");
        assert_eq!(s(|b| push_money(b, 1234.5)), "1234.50");
        let day0 = days_from_civil(2026, 10, 17);
        let chicago = ZoneClock::new(chrono_tz::America::Chicago, day0, -2, 40);
        let t = naive(0).and_utc().timestamp()
            + days_from_civil(2026, 11, 3) * DAY
            + 14 * HOUR
            + 5 * 60
            + 9;
        assert_eq!(
            s(|b| push_ts(b, t, TsStyle::Zulu, 0, &chicago)),
            "2026-11-03T14:05:09Z"
        );
        assert_eq!(
            s(|b| push_ts(b, t, TsStyle::ZuluMillis, 250, &chicago)),
            "2026-11-03T14:05:09.250Z"
        );
        assert_eq!(
            s(|b| push_ts(b, t, TsStyle::Offset, 0, &chicago)),
            "2026-11-03T08:05:09-06:00"
        );
        assert_eq!(
            s(|b| push_ts(b, t, TsStyle::DayFirstLocal, 0, &chicago)),
            "03/11/2026 08:05:09"
        );
        // Before the change back from daylight-saving time, Chicago is UTC-5.
        let oct = days_from_civil(2026, 10, 20) * DAY + 12 * HOUR;
        assert_eq!(chicago.offset(oct), -5 * 3600);
        let d = chicago.day_of(oct);
        assert_eq!(chicago.at(d, 7 * HOUR), oct);
    }

    #[test]
    fn csv_quotes_only_when_needed() {
        let mut out = Vec::new();
        csv_field(&mut out, b"plain", b',');
        out.push(b'|');
        csv_field(&mut out, b"Skillet, 12\"", b',');
        out.push(b'|');
        csv_field(&mut out, b"a,b", b';');
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "plain|\"Skillet, 12\"\"\"|a,b"
        );
    }

    #[test]
    fn json_numbers_are_recognised() {
        assert!(looks_numeric(b"12"));
        assert!(looks_numeric(b"-0.5"));
        assert!(!looks_numeric(b"abc"));
        assert!(!looks_numeric(b"1."));
        assert!(!looks_numeric(b""));
    }
}
