//! Query parameters and the functions every query may use.
//!
//! Named parameters bound by DataFusion into every KPI query (write `$name` in SQL):
//!
//! | parameter | type | meaning |
//! |---|---|---|
//! | `$as_of` | date | the as-of date D |
//! | `$window_days` | bigint | W |
//! | `$window_start_date` | date | D − W + 1 |
//! | `$window_start` | timestamp (UTC) | start of D − W + 1 in the reporting time zone |
//! | `$window_end` | timestamp (UTC) | end(D): D 23:59:59.999999 in the reporting time zone |
//! | `$window_end_us` | bigint | `$window_end` as microseconds since the epoch |
//! | `$partition_min`, `$partition_max` | date | UTC dates spanned by the window, for partition pruning on `event_date` |
//! | `$history_days` | bigint | days of history the count priority reads (config `history_days`, default 365) |
//! | `$history_start` | timestamp (UTC) | start of D − history_days + 1: how far back the count priority looks |
//! | `$history_partition_min` | date | the UTC date of `$history_start`, for partition pruning |
//! | `$pick_months_from`, `$pick_months_to` | timestamp (UTC) | the whole UTC months the count priority reads from `pick_months` (`pick_months_from` ≤ month start < `pick_months_to`): inside the history, before the window, and kept by the ingest with the run's half-life; equal (none) otherwise |
//! | `$count_tolerance` | double | units a count may be off and still be accurate |
//! | `$sla_critical_hours` … `$sla_low_hours` | double | exception SLA by severity |
//!
//! Function `local_date(ts)`: the date of a timestamp in the reporting time zone.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, Date32Array, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use crate::config::{Config, SlaHours};

/// The values bound into every query of a run.
#[derive(Debug, Clone)]
pub struct Params {
    pub as_of: NaiveDate,
    pub window_days: u32,
    pub history_days: u32,
    pub tz: Tz,
    pub count_tolerance: f64,
    pub sla: SlaHours,
    /// Named numbers from query headers (`-- param:`) and the config's `[params]`.
    pub extra: BTreeMap<String, f64>,
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

fn days(d: NaiveDate) -> i32 {
    (d - EPOCH).num_days() as i32
}

impl Params {
    pub fn new(config: &Config, as_of: NaiveDate) -> Params {
        Params {
            as_of,
            window_days: config.window_days,
            history_days: config.history_days,
            tz: config.reporting_tz(),
            count_tolerance: config.count_tolerance,
            sla: config.sla_hours.clone(),
            extra: config.params.clone(),
        }
    }

    /// These parameters plus a query's declared defaults (the config wins).
    pub fn with_defaults(&self, defaults: &[(String, f64)]) -> Params {
        let mut p = self.clone();
        for (k, v) in defaults {
            p.extra.entry(k.clone()).or_insert(*v);
        }
        p
    }

    pub fn window_start_date(&self) -> NaiveDate {
        self.as_of - Duration::days(i64::from(self.window_days) - 1)
    }

    /// Start of a local date in the reporting time zone, µs since the epoch (UTC).
    fn local_midnight(&self, d: NaiveDate) -> i64 {
        let naive = d.and_time(NaiveTime::MIN);
        match self.tz.from_local_datetime(&naive).earliest() {
            Some(t) => t.timestamp_micros(),
            // Midnight skipped by a DST change: the first instant of the day is 01:00.
            None => self
                .tz
                .from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
                .map_or(naive.and_utc().timestamp_micros(), |t| t.timestamp_micros()),
        }
    }

    /// Start of the window (µs, UTC).
    pub fn window_start_us(&self) -> i64 {
        self.local_midnight(self.window_start_date())
    }

    /// Start of the history the count priority reads (µs, UTC).
    pub fn history_start_us(&self) -> i64 {
        self.local_midnight(self.as_of - Duration::days(i64::from(self.history_days) - 1))
    }

    /// The whole UTC months the count priority may read from `pick_months` (µs, UTC):
    /// those starting at or after the history's start and ending at or before the
    /// window's start. `from == to` when there are none.
    pub fn pick_months_range(&self) -> (i64, i64) {
        let month_start = |us: i64| -> NaiveDate {
            let d = chrono::DateTime::from_timestamp_micros(us).map_or(EPOCH, |t| t.date_naive());
            d.with_day(1).unwrap_or(d)
        };
        let midnight = |d: NaiveDate| d.and_time(NaiveTime::MIN).and_utc().timestamp_micros();
        let start = self.history_start_us();
        let mut from = month_start(start);
        if midnight(from) < start {
            from = from
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(from);
        }
        let to = month_start(self.window_start_us());
        let (from, to) = (midnight(from), midnight(to));
        (from, to.max(from))
    }

    /// end(D): the last microsecond of the as-of date (µs, UTC).
    pub fn window_end_us(&self) -> i64 {
        self.local_midnight(self.as_of + Duration::days(1)) - 1
    }

    /// The parameter values, by name.
    pub fn values(&self) -> ParamValues {
        self.values_with(Vec::new())
    }

    /// [`Params::values`] plus `more` (named values only opintel's own SQL binds).
    pub fn values_with(&self, more: Vec<(&str, ScalarValue)>) -> ParamValues {
        let ts = |us: i64| ScalarValue::TimestampMicrosecond(Some(us), Some("UTC".into()));
        let date = |d: NaiveDate| ScalarValue::Date32(Some(days(d)));
        let utc_date =
            |us: i64| chrono::DateTime::from_timestamp_micros(us).map_or(EPOCH, |t| t.date_naive());
        let f = |v: f64| ScalarValue::Float64(Some(v));
        let mut list = vec![
            ("as_of", date(self.as_of)),
            (
                "window_days",
                ScalarValue::Int64(Some(i64::from(self.window_days))),
            ),
            ("window_start_date", date(self.window_start_date())),
            ("window_start", ts(self.window_start_us())),
            ("window_end", ts(self.window_end_us())),
            (
                "window_end_us",
                ScalarValue::Int64(Some(self.window_end_us())),
            ),
            ("partition_min", date(utc_date(self.window_start_us()))),
            ("partition_max", date(utc_date(self.window_end_us()))),
            (
                "history_days",
                ScalarValue::Int64(Some(i64::from(self.history_days))),
            ),
            ("history_start", ts(self.history_start_us())),
            (
                "history_partition_min",
                date(utc_date(self.history_start_us())),
            ),
            // An empty range unless the session serves the months (a KPI query's
            // values: `engine::pick_months_values`): then every shipment is read.
            ("pick_months_from", ts(self.pick_months_range().0)),
            ("pick_months_to", ts(self.pick_months_range().0)),
            ("count_tolerance", f(self.count_tolerance)),
            ("sla_critical_hours", f(self.sla.critical)),
            ("sla_high_hours", f(self.sla.high)),
            ("sla_medium_hours", f(self.sla.medium)),
            ("sla_low_hours", f(self.sla.low)),
        ];
        let extra: Vec<(&str, ScalarValue)> = self
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), f(*v)))
            .collect();
        list.extend(extra);
        list.extend(more);
        ParamValues::from(list)
    }
}

/// Register `local_date(ts)`: the date of a timestamp in the reporting time zone.
pub(super) fn register_local_date(ctx: &SessionContext, tz: Tz) {
    ctx.register_udf(local_date(tz));
}

/// `local_date(ts)` for zone `tz`.
pub(crate) fn local_date(tz: Tz) -> ScalarUDF {
    ScalarUDF::new_from_impl(LocalDate {
        tz,
        signature: Signature::exact(
            vec![DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into()),
            )],
            Volatility::Immutable,
        ),
    })
}

/// The zone of a `local_date` function, None for any other function. A cluster's
/// codec ships the zone with the plan, so executors compute the same dates.
pub(crate) fn local_date_zone(udf: &ScalarUDF) -> Option<Tz> {
    let any: &dyn std::any::Any = udf.inner().as_ref();
    any.downcast_ref::<LocalDate>().map(|f| f.tz)
}

/// The function behind `local_date(ts)`: its zone is part of its identity.
#[derive(Debug, PartialEq, Eq, Hash)]
struct LocalDate {
    tz: Tz,
    signature: Signature,
}

impl ScalarUDFImpl for LocalDate {
    fn name(&self) -> &str {
        "local_date"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Date32)
    }

    fn invoke_with_args(
        &self,
        args: ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        let tz = self.tz;
        let to_date = |us: i64| -> i32 {
            match chrono::DateTime::from_timestamp_micros(us) {
                Some(t) if tz == Tz::UTC => days(t.date_naive()),
                Some(t) => days(t.with_timezone(&tz).date_naive()),
                None => 0,
            }
        };
        match &args.args[0] {
            ColumnarValue::Array(a) => {
                let ts = a
                    .as_any()
                    .downcast_ref::<TimestampMicrosecondArray>()
                    .ok_or_else(|| {
                        DataFusionError::Execution("local_date expects a timestamp".into())
                    })?;
                let out: Date32Array = if tz == Tz::UTC {
                    ts.unary(|us| us.div_euclid(86_400_000_000) as i32)
                } else {
                    ts.unary(to_date)
                };
                Ok(ColumnarValue::Array(Arc::new(out) as Arc<dyn Array>))
            }
            ColumnarValue::Scalar(ScalarValue::TimestampMicrosecond(v, _)) => {
                Ok(ColumnarValue::Scalar(ScalarValue::Date32(v.map(to_date))))
            }
            ColumnarValue::Scalar(s) if s.is_null() => {
                Ok(ColumnarValue::Scalar(ScalarValue::Date32(None)))
            }
            other => Err(DataFusionError::Execution(format!(
                "local_date expects a timestamp, got {}",
                other.data_type()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(tz: Tz) -> Params {
        Params {
            as_of: NaiveDate::from_ymd_opt(2026, 11, 20).unwrap_or(EPOCH),
            window_days: 28,
            history_days: 365,
            tz,
            count_tolerance: 0.0,
            sla: SlaHours::default(),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn window_bounds_utc() {
        let p = params(Tz::UTC);
        // 2026-10-24 00:00:00Z and 2026-11-20 23:59:59.999999Z, computed independently.
        assert_eq!(
            p.window_start_date(),
            NaiveDate::from_ymd_opt(2026, 10, 24).unwrap_or(EPOCH)
        );
        assert_eq!(p.window_start_us(), 1_792_800_000_000_000);
        assert_eq!(p.window_end_us(), 1_795_219_200_000_000 - 1);
    }

    #[test]
    fn window_bounds_follow_the_reporting_zone() {
        // Paris: 2026-10-24 is CEST (UTC+2), 2026-11-20 is CET (UTC+1).
        let p = params(Tz::Europe__Paris);
        assert_eq!(
            p.window_start_us(),
            1_792_800_000_000_000 - 2 * 3_600_000_000
        );
        assert_eq!(p.window_end_us(), 1_795_219_200_000_000 - 3_600_000_000 - 1);
    }
}
