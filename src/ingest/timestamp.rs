//! Timestamp parsing for ingest (docs/contract.md).
//!
//! Without a source mapping, ISO 8601 is accepted: `T` or a space between date and
//! time, optional seconds and fraction, `Z`, an offset (`+01:00`, `+0100`, `+01`) or
//! none. A date alone is midnight. Values with an offset keep their instant; naive
//! values are read in the source's time zone. A mapping may give a strftime format,
//! tried before ISO 8601. The result is microseconds since the Unix epoch, UTC.
//!
//! Daylight-saving edges for naive values: an ambiguous local time (clocks going back)
//! is read as the earlier instant; a local time that does not exist (clocks going
//! forward) is read one hour later, which is what the wall clock showed.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;

/// How to read timestamps of one source.
#[derive(Debug, Clone)]
pub(crate) struct TsParser {
    /// Zone of naive values; `None` means UTC (fast path).
    zone: Option<Tz>,
    /// strftime format from a source mapping.
    format: Option<String>,
    format_has_offset: bool,
    format_has_time: bool,
}

impl TsParser {
    pub(crate) fn new(zone: Tz, format: Option<String>) -> Self {
        let format_has_offset = format
            .as_deref()
            .is_some_and(|f| f.contains("%z") || f.contains("%:z") || f.contains("%#z"));
        let format_has_time = format.as_deref().is_some_and(|f| {
            [
                "%H", "%I", "%M", "%S", "%T", "%R", "%r", "%X", "%s", "%k", "%l",
            ]
            .iter()
            .any(|p| f.contains(p))
        });
        TsParser {
            zone: (zone != Tz::UTC).then_some(zone),
            format,
            format_has_offset,
            format_has_time,
        }
    }

    /// Parse a trimmed, non-empty value into µs since the epoch (UTC).
    pub(crate) fn parse(&self, s: &str) -> Option<i64> {
        if let Some(f) = &self.format
            && let Some(v) = self.parse_with_format(s, f)
        {
            return Some(v);
        }
        let (naive, offset_secs) = parse_iso(s.as_bytes())?;
        match offset_secs {
            Some(off) => Some(micros(&naive) - i64::from(off) * 1_000_000),
            None => self.localize(&naive),
        }
    }

    fn parse_with_format(&self, s: &str, f: &str) -> Option<i64> {
        if self.format_has_offset {
            let dt = DateTime::parse_from_str(s, f).ok()?;
            return Some(dt.timestamp_micros());
        }
        let naive = if self.format_has_time {
            NaiveDateTime::parse_from_str(s, f).ok()?
        } else {
            NaiveDate::parse_from_str(s, f)
                .ok()?
                .and_time(NaiveTime::MIN)
        };
        self.localize(&naive)
    }

    fn localize(&self, naive: &NaiveDateTime) -> Option<i64> {
        let Some(tz) = self.zone else {
            return Some(micros(naive));
        };
        let local = tz.from_local_datetime(naive);
        let dt = match local.earliest() {
            Some(dt) => dt,
            None => {
                let later = *naive + chrono::Duration::hours(1);
                tz.from_local_datetime(&later).earliest()?
            }
        };
        Some(dt.timestamp_micros())
    }
}

fn micros(naive: &NaiveDateTime) -> i64 {
    naive.and_utc().timestamp_micros()
}

/// Parse ISO 8601 by hand (this runs once per value of every timestamp column).
/// Returns the naive date-time and the offset in seconds when one was given.
fn parse_iso(b: &[u8]) -> Option<(NaiveDateTime, Option<i32>)> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])? as i32;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let mut rest = &b[10..];
    if rest.is_empty() {
        return Some((date.and_time(NaiveTime::MIN), None));
    }
    if rest[0] != b'T' && rest[0] != b't' && rest[0] != b' ' {
        return None;
    }
    rest = &rest[1..];
    if rest.len() < 5 || rest[2] != b':' {
        return None;
    }
    let hour = digits(&rest[0..2])?;
    let minute = digits(&rest[3..5])?;
    rest = &rest[5..];
    let mut second = 0;
    let mut nanos = 0u32;
    if rest.first() == Some(&b':') {
        if rest.len() < 3 {
            return None;
        }
        second = digits(&rest[1..3])?;
        rest = &rest[3..];
        if matches!(rest.first(), Some(b'.') | Some(b',')) {
            rest = &rest[1..];
            let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let mut scale = 100_000_000u32;
            for &c in &rest[..n.min(9)] {
                nanos += u32::from(c - b'0') * scale;
                scale /= 10;
            }
            rest = &rest[n..];
        }
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    let naive = date.and_time(time);
    let offset = parse_offset(rest)?;
    Some((naive, offset))
}

/// `` → None offset, `Z` → 0, `+01:00` / `+0100` / `+01` / ` +01:00` → seconds.
fn parse_offset(b: &[u8]) -> Option<Option<i32>> {
    let b = b.strip_prefix(b" ").unwrap_or(b);
    match b {
        [] => Some(None),
        [b'Z'] | [b'z'] => Some(Some(0)),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (h, m) = match rest {
                [h1, h2] => (digits(&[*h1, *h2])?, 0),
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?)
                }
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            Some(Some(if *sign == b'-' { -secs } else { secs }))
        }
        _ => None,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Option<i64> {
        TsParser::new(Tz::UTC, None).parse(s)
    }

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, s))
            .map(|t| t.and_utc().timestamp_micros())
            .unwrap_or(i64::MIN)
    }

    #[test]
    fn iso_variants() {
        let base = at(2026, 11, 3, 14, 5, 9);
        for s in [
            "2026-11-03T14:05:09Z",
            "2026-11-03 14:05:09",
            "2026-11-03t14:05:09z",
            "2026-11-03T15:05:09+01:00",
            "2026-11-03T15:05:09+0100",
            "2026-11-03T15:05:09+01",
            "2026-11-03T09:05:09-05:00",
            "2026-11-03 15:05:09 +01:00",
        ] {
            assert_eq!(utc(s), Some(base), "{s}");
        }
        assert_eq!(utc("2026-11-03T14:05:09.25Z"), Some(base + 250_000));
        assert_eq!(utc("2026-11-03T14:05:09.123456789Z"), Some(base + 123_456));
        assert_eq!(utc("2026-11-03T14:05"), Some(at(2026, 11, 3, 14, 5, 0)));
        assert_eq!(utc("2026-11-03"), Some(at(2026, 11, 3, 0, 0, 0)));
    }

    #[test]
    fn garbage_is_rejected() {
        for s in [
            "",
            "abc",
            "2026-13-01",
            "2026-02-30",
            "2026/11/03",
            "2026-11-03T25:00:00",
            "2026-11-03T14:05:09X",
            "2026-11-03T14:05:09+25:00",
            "2026-11-03T14:05:09.",
            "2026-11-03T",
            "11/03/2026",
        ] {
            assert_eq!(utc(s), None, "{s}");
        }
    }

    #[test]
    fn naive_values_use_the_source_zone_and_offsets_win() {
        let chicago = TsParser::new(Tz::America__Chicago, None);
        // November: Chicago is UTC-6.
        assert_eq!(
            chicago.parse("2026-11-03 08:00:00"),
            Some(at(2026, 11, 3, 14, 0, 0))
        );
        assert_eq!(
            chicago.parse("2026-11-03T08:00:00Z"),
            Some(at(2026, 11, 3, 8, 0, 0))
        );
        // July: UTC-5.
        assert_eq!(
            chicago.parse("2026-07-03 08:00:00"),
            Some(at(2026, 7, 3, 13, 0, 0))
        );
        // 2026-11-01 01:30 happens twice in Chicago: the earlier one (CDT, UTC-5).
        assert_eq!(
            chicago.parse("2026-11-01 01:30:00"),
            Some(at(2026, 11, 1, 6, 30, 0))
        );
        // 2026-03-08 02:30 does not exist: read as 03:30 CDT.
        assert_eq!(
            chicago.parse("2026-03-08 02:30:00"),
            Some(at(2026, 3, 8, 8, 30, 0))
        );
    }

    #[test]
    fn mapping_formats() {
        let p = TsParser::new(Tz::America__Chicago, Some("%d/%m/%Y %H:%M:%S".into()));
        assert_eq!(
            p.parse("03/11/2026 08:00:00"),
            Some(at(2026, 11, 3, 14, 0, 0))
        );
        // ISO still accepted as a fallback.
        assert_eq!(
            p.parse("2026-11-03T08:00:00Z"),
            Some(at(2026, 11, 3, 8, 0, 0))
        );
        let d = TsParser::new(Tz::UTC, Some("%d.%m.%Y".into()));
        assert_eq!(d.parse("03.11.2026"), Some(at(2026, 11, 3, 0, 0, 0)));
        let z = TsParser::new(Tz::UTC, Some("%Y%m%d%H%M%S%z".into()));
        assert_eq!(
            z.parse("20261103150509+0100"),
            Some(at(2026, 11, 3, 14, 5, 9))
        );
    }
}
