//! `opintel.toml`: paths, the KPI window, SLA hours, tolerances and source mappings.
//!
//! The file is optional; every setting has a default. Relative paths in the file are
//! relative to the file's own folder, so a scheduler can run opintel from anywhere.
//! Command-line flags are merged over the file by the binary in one step (flags win);
//! the library only ever sees a resolved [`Config`]. Unknown keys are an error, so a
//! typo is caught; keys inside maps whose names are defined elsewhere (tiles, query
//! parameters) are checked against their definitions when the queries are loaded
//! (`kpi::check_config`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;

pub mod alert_rule;

use crate::error::{Error, Result};

/// Name of the config file looked up in the current folder when `--config` is absent.
pub const DEFAULT_CONFIG_FILE: &str = "opintel.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The lake: a folder, or an object-store URL (`s3://bucket/prefix`).
    pub lake: LakeConfig,
    /// Where `run` writes `<as-of>/` report folders.
    pub reports: PathBuf,
    /// A folder of user `.sql` KPI files that add to or override the built-in ones.
    pub queries: Option<PathBuf>,
    /// Days in the KPI window ending on the as-of date.
    pub window_days: u32,
    /// Days of history the cycle-count priority looks back over (`$history_start`).
    pub history_days: u32,
    /// The nightly run backtests the priority list as of this many days before the
    /// as-of date (0: no backtest).
    pub priority_backtest_days: u32,
    /// Fit the count priority's weights on the lake's history each night (see
    /// `kpi::priority_fit`); false: the documented weights.
    pub priority_fit: bool,
    /// Time zone in which dates (due dates, the window) are reckoned.
    pub reporting_time_zone: String,
    /// A cycle count is accurate when |counted − system| ≤ this many units.
    pub count_tolerance: f64,
    pub sla_hours: SlaHours,
    pub ingest: IngestConfig,
    pub sources: Vec<SourceMapping>,
    pub report: ReportConfig,
    /// Hours after which a feed is stale, by table (defaults in `freshness_hours`).
    pub freshness: BTreeMap<String, f64>,
    /// A warehouse whose newest data in a table trails the other warehouses' by more
    /// than this many hours is named in the report as late (0: never).
    pub warehouse_lag_hours: f64,
    /// Numbers bound as `$name` in every query, overriding `-- param:` defaults of
    /// query headers (e.g. the count-priority weights).
    pub params: BTreeMap<String, f64>,
    /// `[[alerts]]`: rules evaluated after each published run.
    pub alerts: Vec<AlertRule>,
    /// `[alerting]`: where alerts go, retries, owners' digests.
    pub alerting: AlertingConfig,
    /// `[cluster]`: run the queries on a Ballista cluster instead of this machine.
    pub cluster: ClusterConfig,
}

/// `[cluster]`: where a Ballista scheduler listens (`df://host:port`) and how many
/// partitions (tasks per stage) each query is cut into. No scheduler: queries run here.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    pub scheduler: Option<String>,
    /// Tasks per stage (0: twice this machine's cores, at least 4).
    pub partitions: usize,
    /// Minutes a command's queries may take on the cluster before it gives up and
    /// publishes nothing (0: no limit). A stuck job must not hold the night forever.
    pub timeout_minutes: f64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            scheduler: None,
            partitions: 0,
            timeout_minutes: 120.0,
        }
    }
}

/// One `[[alerts]]` rule (see `alert`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    /// `unit_fill_rate < 0.95`, `change(<tile>) < -0.02`, `check_failed`, `feed_stale`,
    /// `kpi_failed`.
    pub when: String,
    /// Quiet when the tile's volume is below this.
    pub min_volume: Option<f64>,
    /// Destination names (`[alerting.destinations.<name>]`).
    pub send: Vec<String>,
}

/// `[alerting]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    pub destinations: BTreeMap<String, Destination>,
    /// Owner (as in exception events) → e-mail address: each gets a digest of their
    /// open exceptions past SLA.
    pub owners: BTreeMap<String, String>,
    /// The SMTP destination the digests are sent through (default: the only one).
    pub digest_via: Option<String>,
    /// Extra attempts after a failed delivery.
    pub retries: u32,
    /// Pause before the first retry, doubled each time.
    pub backoff_seconds: f64,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            destinations: BTreeMap::new(),
            owners: BTreeMap::new(),
            digest_via: None,
            retries: 3,
            backoff_seconds: 1.0,
        }
    }
}

impl AlertingConfig {
    /// The SMTP destination the owners' digests go through.
    pub fn digest_via(&self) -> Result<String> {
        if let Some(v) = &self.digest_via {
            return Ok(v.clone());
        }
        let smtp: Vec<&String> = self
            .destinations
            .iter()
            .filter(|(_, d)| d.smtp.is_some())
            .map(|(n, _)| n)
            .collect();
        match smtp.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::setting(
                "alerting.owners",
                "owners' digests are e-mails: add an smtp destination",
            )),
            _ => Err(Error::setting(
                "alerting.digest_via",
                "several smtp destinations: say which one sends the owners' digests",
            )),
        }
    }
}

/// `[alerting.destinations.<name>]`: a webhook (JSON POST) or an SMTP server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// `http(s)://…`: the alert is POSTed as JSON.
    pub webhook: Option<String>,
    /// `host:port` (plain SMTP, STARTTLS when offered) or `smtps://host:port` (TLS).
    pub smtp: Option<String>,
    pub from: Option<String>,
    #[serde(default)]
    pub to: Vec<String>,
    pub username: Option<String>,
    /// The environment variable holding the SMTP password.
    pub password_env: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lake: LakeConfig::default(),
            reports: PathBuf::from("reports"),
            queries: None,
            window_days: 28,
            history_days: 365,
            priority_backtest_days: 14,
            priority_fit: true,
            reporting_time_zone: "UTC".into(),
            count_tolerance: 0.0,
            sla_hours: SlaHours::default(),
            ingest: IngestConfig::default(),
            sources: Vec::new(),
            report: ReportConfig::default(),
            freshness: BTreeMap::new(),
            warehouse_lag_hours: 12.0,
            params: BTreeMap::new(),
            alerts: Vec::new(),
            alerting: AlertingConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

/// Where the lake is: `lake = "data/lake"` (or `"s3://bucket/prefix"`), or a table
/// `[lake]` with `root` and a `[lake.storage]` table of object-store settings
/// (`AWS_ENDPOINT_URL`, `AWS_REGION`, … as in the standard AWS environment variables,
/// which apply too; the table wins).
#[derive(Debug, Clone)]
pub struct LakeConfig {
    pub root: PathBuf,
    pub storage: BTreeMap<String, String>,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            root: PathBuf::from("data/lake"),
            storage: BTreeMap::new(),
        }
    }
}

impl LakeConfig {
    /// A lake at `root` with no storage settings.
    pub fn at(root: impl Into<PathBuf>) -> LakeConfig {
        LakeConfig {
            root: root.into(),
            storage: BTreeMap::new(),
        }
    }

    /// Whether the root is an object-store URL rather than a folder.
    pub fn is_url(&self) -> bool {
        self.root.to_string_lossy().contains("://")
    }
}

impl<'de> Deserialize<'de> for LakeConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            root: PathBuf,
            #[serde(default)]
            storage: BTreeMap<String, String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Root(PathBuf),
            Table(Table),
        }
        match Form::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "lake must be a folder or URL (lake = \"data/lake\"), or a [lake] table with root and [lake.storage]",
            )
        })? {
            Form::Root(root) => Ok(LakeConfig::at(root)),
            Form::Table(t) => Ok(LakeConfig {
                root: t.root,
                storage: t.storage,
            }),
        }
    }
}

/// The executive report.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Heading of the page.
    pub title: String,
    /// Put before money amounts, e.g. "$", "€", "USD ".
    pub currency: String,
    /// Rows or bars shown in "top" tables and charts.
    pub top_n: usize,
    /// Weekly points in the tiles' trend lines (0: none).
    pub trend_weeks: u32,
    /// Targets and thresholds by tile (see the README for tile names).
    pub tiles: BTreeMap<String, TileTarget>,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            title: "Operations report".into(),
            currency: "$".into(),
            top_n: 8,
            trend_weeks: 4,
            tiles: BTreeMap::new(),
        }
    }
}

/// Target and warning line of one tile (see `kpi::tiles`): on track when the value
/// meets the target, watch when it meets the warning line, act now otherwise. Rates
/// are shares (0.98 for 98%).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TileTarget {
    pub target: Option<f64>,
    pub warn: Option<f64>,
}

/// Exception SLA in hours by severity (docs/kpis.md).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaHours {
    pub critical: f64,
    pub high: f64,
    pub medium: f64,
    pub low: f64,
}

impl Default for SlaHours {
    fn default() -> Self {
        SlaHours {
            critical: 4.0,
            high: 24.0,
            medium: 72.0,
            low: 168.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// CSV delimiter when no source mapping says otherwise.
    pub delimiter: String,
    /// Time zone of timestamps without an offset when no source mapping says otherwise.
    pub time_zone: String,
    /// Timestamps before this date are rejected as implausible.
    #[serde(deserialize_with = "de_date")]
    pub min_timestamp: NaiveDate,
    /// Timestamps on or after this date are rejected as implausible.
    #[serde(deserialize_with = "de_date")]
    pub max_timestamp: NaiveDate,
    /// Rows per record batch while parsing.
    pub batch_rows: usize,
    /// Files ingested at once (0 = one per core).
    pub parallel_files: usize,
    /// A day's files of fewer rows than this are merged with the rows an ingest adds
    /// to the day, in its commit (see `engine::state::merge_days`); 0: never, each
    /// ingest adds files of its own (for readers that expect a table only to grow).
    pub merge_day_rows: usize,
    /// After each ingest's commit, the state tables' files its upkeep (or an earlier
    /// one) replaced are deleted once no version of this many hours reads them (see
    /// `Lake::vacuum_state`); 0: never, they stay until `opintel lake vacuum`. Keep
    /// it under a week: Delta may forget a removal a week after it.
    pub state_retain_hours: f64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            delimiter: ",".into(),
            time_zone: "UTC".into(),
            min_timestamp: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default(),
            max_timestamp: NaiveDate::from_ymd_opt(2100, 1, 1).unwrap_or_default(),
            batch_rows: 64 * 1024,
            parallel_files: 0,
            // One row group of the lake's writer.
            merge_day_rows: 256 * 1024,
            // Six days: a reader still on an older version (a long notebook session)
            // keeps its files, and a nightly ingest sweeps a removal before Delta may
            // drop it from a checkpoint (a week after it, by the tables'
            // `delta.deletedFileRetentionDuration`), after which only `lake vacuum`
            // (which lists the folders) finds the file.
            state_retain_hours: 144.0,
        }
    }
}

/// How to read files whose layout differs from the contract (docs/contract.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceMapping {
    /// A name for messages.
    pub name: String,
    /// Glob on the file name (`*` and `?`), e.g. `3pl_central_shipments_*`.
    pub pattern: String,
    /// Canonical table the files belong to (default: from the file name).
    pub table: Option<String>,
    /// CSV delimiter, one character (`"\t"` or `"tab"` for tabs).
    pub delimiter: Option<String>,
    /// Time zone of timestamps without an offset (IANA name, e.g. `America/Chicago`).
    pub time_zone: Option<String>,
    /// chrono strftime format of timestamps, e.g. `%d/%m/%Y %H:%M:%S`.
    pub timestamp_format: Option<String>,
    /// Source column name = canonical field name.
    pub columns: BTreeMap<String, String>,
    /// Canonical field = { source value = canonical value }.
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// Canonical field = SQL expression over the source's columns and the canonical
    /// fields it fills (`updated_at = "ordered_at"`, `warehouse_id = "'DC-1'"`,
    /// `event_id = "concat('SE-', l_orderkey, '-', l_linenumber)"`, `row_hash()`).
    pub derive: BTreeMap<String, String>,
}

impl Config {
    /// Load `path`, or `opintel.toml` in the current folder when present, or defaults.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let path = match path {
            Some(p) => Some(p.to_path_buf()),
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                p.is_file().then_some(p)
            }
        };
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| Error::ConfigFile {
            file: path.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        let mut config = Config::parse(&text).map_err(|e| match e {
            Error::ConfigFile { message, .. } => Error::ConfigFile {
                file: path.clone(),
                message,
            },
            Error::Setting { key, message } => Error::ConfigFile {
                file: path.clone(),
                message: format!("{key}: {message}"),
            },
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        config.rebase(&base);
        Ok(config)
    }

    /// Parse and check a config text.
    pub fn parse(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| Error::ConfigFile {
            file: PathBuf::from(DEFAULT_CONFIG_FILE),
            message: toml_message(text, &e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Make relative paths relative to `base` (the config file's folder).
    fn rebase(&mut self, base: &Path) {
        if base.as_os_str().is_empty() {
            return;
        }
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if !self.lake.is_url() {
            fix(&mut self.lake.root);
        }
        fix(&mut self.reports);
        if let Some(q) = self.queries.as_mut() {
            fix(q);
        }
    }

    /// Check values that TOML types cannot.
    pub fn validate(&self) -> Result<()> {
        if self.history_days == 0 || self.history_days > 3660 {
            return Err(Error::setting(
                "history_days",
                format!("must be between 1 and 3660, not {}", self.history_days),
            ));
        }
        if self.window_days == 0 || self.window_days > 3660 {
            return Err(Error::setting(
                "window_days",
                format!("must be between 1 and 3660, not {}", self.window_days),
            ));
        }
        parse_tz(&self.reporting_time_zone, "reporting_time_zone")?;
        parse_tz(&self.ingest.time_zone, "ingest.time_zone")?;
        parse_delimiter(&self.ingest.delimiter, "ingest.delimiter")?;
        if self.count_tolerance.is_nan() || self.count_tolerance < 0.0 {
            return Err(Error::setting("count_tolerance", "must be ≥ 0"));
        }
        let s = &self.sla_hours;
        for (name, v) in [
            ("critical", s.critical),
            ("high", s.high),
            ("medium", s.medium),
            ("low", s.low),
        ] {
            if v.is_nan() || v < 0.0 {
                return Err(Error::setting(format!("sla_hours.{name}"), "must be ≥ 0"));
            }
        }
        if self.ingest.batch_rows == 0 {
            return Err(Error::setting("ingest.batch_rows", "must be > 0"));
        }
        let h = self.ingest.state_retain_hours;
        if !(h.is_finite() && h >= 0.0) {
            return Err(Error::setting(
                "ingest.state_retain_hours",
                format!("must be ≥ 0 (0: never), not {h}"),
            ));
        }
        for m in &self.sources {
            m.validate()?;
        }
        for t in self.freshness.keys() {
            if crate::contract::table(t).is_none() {
                return Err(Error::setting(
                    format!("freshness.{t}"),
                    format!(
                        "no table is called {t:?}{}",
                        did_you_mean(t, crate::contract::TABLES.iter().map(|t| t.name))
                    ),
                ));
            }
        }
        if self.report.top_n == 0 {
            return Err(Error::setting("report.top_n", "must be > 0"));
        }
        let t = self.cluster.timeout_minutes;
        if !t.is_finite() || t < 0.0 {
            return Err(Error::setting(
                "cluster.timeout_minutes",
                format!("must be ≥ 0 (0: no limit), not {t}"),
            ));
        }
        self.validate_alerting()
    }

    fn validate_alerting(&self) -> Result<()> {
        let a = &self.alerting;
        for (name, d) in &a.destinations {
            let key = format!("alerting.destinations.{name}");
            match (&d.webhook, &d.smtp) {
                (Some(url), None) => {
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(Error::setting(
                            format!("{key}.webhook"),
                            format!("{url:?} is not an http:// or https:// URL"),
                        ));
                    }
                }
                (None, Some(_)) => {
                    if d.to.is_empty() && a.owners.is_empty() {
                        return Err(Error::setting(
                            format!("{key}.to"),
                            "an smtp destination needs at least one address in `to`",
                        ));
                    }
                }
                _ => {
                    return Err(Error::setting(
                        key,
                        "give exactly one of webhook = \"http…\" or smtp = \"host:port\"",
                    ));
                }
            }
        }
        if !a.backoff_seconds.is_finite() || a.backoff_seconds < 0.0 {
            return Err(Error::setting("alerting.backoff_seconds", "must be ≥ 0"));
        }
        for (i, r) in self.alerts.iter().enumerate() {
            let key = format!("alerts[{i}] ({:?})", r.name);
            if let Err(m) = alert_rule::parse(&r.when) {
                return Err(Error::setting(format!("{key}.when"), m));
            }
            if r.send.is_empty() {
                return Err(Error::setting(
                    format!("{key}.send"),
                    "name at least one destination",
                ));
            }
            for d in &r.send {
                if !a.destinations.contains_key(d) {
                    return Err(Error::setting(
                        format!("{key}.send"),
                        format!(
                            "no destination is called {d:?}{}",
                            did_you_mean(d, a.destinations.keys().map(String::as_str))
                        ),
                    ));
                }
            }
        }
        if !a.owners.is_empty() {
            let via = a.digest_via()?;
            if a.destinations
                .get(&via)
                .and_then(|d| d.smtp.as_ref())
                .is_none()
            {
                return Err(Error::setting(
                    "alerting.digest_via",
                    format!("{via:?} is not an smtp destination"),
                ));
            }
        }
        Ok(())
    }

    /// Hours after which `table`'s newest event makes the feed stale (`None`: never).
    pub fn freshness_hours(&self, table: &str) -> Option<f64> {
        if let Some(h) = self.freshness.get(table) {
            return (*h > 0.0).then_some(*h);
        }
        match crate::contract::table(table).map(|t| t.kind) {
            // Daily exports: stale when nothing arrived for two days.
            // A snapshot feed, once sent, is expected daily too.
            Some(crate::contract::TableKind::Event)
            | Some(crate::contract::TableKind::Versioned)
            | Some(crate::contract::TableKind::Snapshot) => Some(48.0),
            // Master data changes rarely; no default expectation.
            _ => None,
        }
    }

    pub fn reporting_tz(&self) -> Tz {
        parse_tz(&self.reporting_time_zone, "reporting_time_zone").unwrap_or(Tz::UTC)
    }

    /// The first source mapping whose pattern matches `file_name`.
    pub fn mapping_for(&self, file_name: &str) -> Option<&SourceMapping> {
        self.sources
            .iter()
            .find(|m| glob_match(&m.pattern, file_name))
    }
}

impl SourceMapping {
    fn validate(&self) -> Result<()> {
        let what = if self.name.is_empty() {
            &self.pattern
        } else {
            &self.name
        };
        let err = |m: String| Error::setting(format!("sources {what:?}"), m);
        if self.pattern.is_empty() {
            return Err(err("`pattern` is required".into()));
        }
        let table = match &self.table {
            Some(t) => {
                Some(crate::contract::table(t).ok_or_else(|| err(format!("unknown table {t:?}")))?)
            }
            None => None,
        };
        if let Some(tz) = &self.time_zone {
            parse_tz(tz, "time_zone").map_err(|e| err(e.to_string()))?;
        }
        if let Some(d) = &self.delimiter {
            parse_delimiter(d, "delimiter").map_err(|e| err(e.to_string()))?;
        }
        if let Some(f) = &self.timestamp_format {
            check_strftime(f).map_err(err)?;
        }
        if let Some(t) = table {
            for canonical in self
                .columns
                .values()
                .chain(self.values.keys())
                .chain(self.derive.keys())
            {
                if t.field(canonical).is_none() {
                    return Err(err(format!(
                        "{canonical:?} is not a field of {}{}",
                        t.name,
                        did_you_mean(canonical, t.fields.iter().map(|f| f.name))
                    )));
                }
            }
        }
        for (field, sql) in &self.derive {
            if self.columns.values().any(|c| c == field) {
                return Err(err(format!(
                    "{field} is both renamed from a column and derived: keep one"
                )));
            }
            if sql.trim().is_empty() {
                return Err(err(format!("derive {field}: the expression is empty")));
            }
        }
        Ok(())
    }

    pub fn delimiter_byte(&self) -> Option<u8> {
        self.delimiter
            .as_deref()
            .and_then(|d| parse_delimiter(d, "delimiter").ok())
    }
}

fn de_date<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<NaiveDate, D::Error> {
    let text = String::deserialize(d)?;
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a date (YYYY-MM-DD)")))
}

/// Parse an IANA time zone name.
pub fn parse_tz(name: &str, what: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Error::setting(
            what,
            format!("unknown time zone {name:?} (an IANA name such as Europe/Paris)"),
        )
    })
}

/// Parse a one-character delimiter (`"\t"` and `"tab"` mean a tab).
pub fn parse_delimiter(text: &str, what: &str) -> Result<u8> {
    match text {
        "\t" | "tab" | "\\t" => Ok(b'\t'),
        t if t.len() == 1 && t.is_ascii() => Ok(t.as_bytes()[0]),
        t => Err(Error::setting(
            what,
            format!("the delimiter must be one ASCII character, not {t:?}"),
        )),
    }
}

fn check_strftime(format: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return Err(format!(
            "timestamp_format {format:?} is not a valid strftime format"
        ));
    }
    Ok(())
}

/// A TOML error as one line: where it is (line and column) and what is wrong.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {col}: {what}")
        }
        None => what,
    }
}

/// ` (did you mean "x"?)` when one of `known` is close to `name`, else nothing.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let best = known
        .into_iter()
        .map(|k| (edit_distance(name, k), k))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= 2.max(name.len() / 4) => format!(" (did you mean {k:?}?)"),
        _ => String::new(),
    }
}

/// Levenshtein distance on characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Match a file name against a glob with `*` (any run) and `?` (one character).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(
            "3pl_central_shipments_*",
            "3pl_central_shipments_20261101.csv"
        ));
        assert!(glob_match("*.csv", "a.csv"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "abbc"));
        assert!(!glob_match("3pl_*_x", "3pl_central_y"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(Config::parse("windowdays = 3").is_err());
        assert!(Config::parse("window_days = 0").is_err());
        assert!(Config::parse("reporting_time_zone = \"Mars/Olympus\"").is_err());
        let bad_mapping = "[[sources]]\npattern = \"x*\"\ntable = \"shipments\"\n[sources.columns]\n\"A\" = \"nope\"\n";
        assert!(Config::parse(bad_mapping).is_err());
        let good = "window_days = 7\n[sla_hours]\ncritical = 2\n[[sources]]\npattern = \"x*\"\ntable = \"shipments\"\ndelimiter = \";\"\ntime_zone = \"America/Chicago\"\n[sources.columns]\n\"Ref\" = \"event_id\"\n[sources.values.carrier]\n\"U\" = \"UPS\"\n";
        let c = Config::parse(good).expect("valid config");
        assert_eq!(c.window_days, 7);
        assert_eq!(c.sla_hours.critical, 2.0);
        assert_eq!(c.sla_hours.low, 168.0);
        assert_eq!(c.sources[0].delimiter_byte(), Some(b';'));
    }
}
