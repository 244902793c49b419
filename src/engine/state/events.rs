//! The SQL of the states kept one row per source row: the exception and return states
//! (valid from one event until the next) and the master states (every version as it
//! is), both what an upkeep computes and what a session reads. The design is in the
//! parent module's doc.

use super::Kind;
use crate::contract::{INGEST_SEQ, PARTITION_COLUMN, SOURCE_FILE};
use crate::lake::EXCEPTION_STATE_ATTRIBUTES;

/// The name the exception state is registered under in a session.
pub const EXCEPTION_STATE_TABLE: &str = "exception_state_kept";

/// The name the return state is registered under in a session.
pub const RETURN_STATE_TABLE: &str = "return_state_kept";

/// `exception_state` from the kept state: of each exception, the state whose
/// validity spans the as-of instant.
pub fn exception_state_sql() -> String {
    let mut columns = vec!["exception_id", "opened_at", "valid_from AS latest_at"];
    columns.extend(EXCEPTION_STATE_ATTRIBUTES);
    valid_at_sql(EXCEPTION_STATE_TABLE, &columns)
}

/// `return_state` from the kept state: of each return, the state whose validity
/// spans the as-of instant.
pub fn return_state_sql() -> String {
    valid_at_sql(
        RETURN_STATE_TABLE,
        &[
            "return_id",
            "received_at",
            "dispositioned_at",
            "warehouse_id",
            "disposition",
        ],
    )
}

/// `columns` of the rows of valid-from/valid-to state table `table` valid at the
/// as-of instant (`valid_from` ≤ end(D) < `valid_to`). The states that ended before
/// the as-of date's month are not read.
fn valid_at_sql(table: &str, columns: &[&str]) -> String {
    format!(
        "SELECT {columns}
         FROM {table}
         WHERE valid_from <= $window_end
           AND (valid_to IS NULL OR valid_to > $window_end)
           AND {PARTITION_COLUMN} >= CAST(date_trunc('month', $partition_max) AS DATE)",
        columns = columns.join(", ")
    )
}

/// Exception state rows of every exception in relation `events`: one per event, valid
/// from it until the exception's next event in (`event_at`, `_ingest_seq`) order.
/// Of two events at the same instant the later ingested one follows: the earlier's
/// state is valid for no instant, as the `exception_state` view's tie rule says.
pub(super) fn exception_sql(_: &Kind) -> String {
    let attrs = EXCEPTION_STATE_ATTRIBUTES.join(", ");
    format!(
        "WITH ordered AS (
             SELECT exception_id, event_at, {INGEST_SEQ}, {attrs},
                    min(event_at) OVER (PARTITION BY exception_id) AS opened_at,
                    min({part}) OVER (PARTITION BY exception_id) AS first_date,
                    lead(event_at) OVER (PARTITION BY exception_id
                                         ORDER BY event_at, {INGEST_SEQ}) AS valid_to
             FROM events
         )
         SELECT exception_id, opened_at, event_at AS valid_from, valid_to, {attrs},
                {INGEST_SEQ} AS event_seq, first_date,
                {partition} AS {part}
         FROM ordered",
        part = PARTITION_COLUMN,
        partition = state_partition("event_at", "valid_to"),
    )
}

/// The partition of a state valid from `valid_from` until `valid_to`: the month its
/// validity ended in; for a current state (no `valid_to`), the month it began in moved
/// 7000 years on (2026-11 → 9026-11-01; ingest keeps timestamps before 2100, so these
/// come after every real month). Readers as of D read the partitions from D's month on:
/// every current state, whatever its month. An ingest rewrites the partitions its
/// touched entities' states lived in and now live in: this month's and those of their
/// last events before tonight's (recent for an entity still moving), not the current
/// state of every entity the lake has seen, which one partition of all current states
/// made it do (197 k rows a night on 365 days of history, 0.30 s).
fn state_partition(valid_from: &str, valid_to: &str) -> String {
    format!(
        "coalesce(CAST(date_trunc('month', {valid_to}) AS DATE),
                  make_date(CAST(date_part('year', {valid_from}) AS INT) + 7000,
                            CAST(date_part('month', {valid_from}) AS INT), 1))"
    )
}

/// Return state rows of every return in relation `events`: one per event, valid from
/// it until the return's next event in (`event_at`, `_ingest_seq`) order, with the
/// return's first "received" time and latest "dispositioned" event up to it (the
/// `return_state` view's rule, events at one instant ordered by ingest).
pub(super) fn return_sql(_: &Kind) -> String {
    let frame = format!(
        "OVER (PARTITION BY return_id ORDER BY event_at, {INGEST_SEQ}
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
    );
    format!(
        "WITH ordered AS (
             SELECT return_id, event_at, {INGEST_SEQ},
                    min({part}) OVER (PARTITION BY return_id) AS first_date,
                    lead(event_at) OVER (PARTITION BY return_id
                                         ORDER BY event_at, {INGEST_SEQ}) AS valid_to,
                    min(CASE WHEN stage = 'received' THEN event_at END) {frame} AS received_at,
                    {disposition_seq} AS disposition_seq
             FROM events
         )
         SELECT o.return_id, o.event_at AS valid_from, o.valid_to, o.received_at,
                d.event_at AS dispositioned_at, d.warehouse_id, d.disposition,
                o.{INGEST_SEQ} AS event_seq, o.first_date,
                {partition} AS {part}
         FROM ordered o
         LEFT JOIN events d ON d.{INGEST_SEQ} = o.disposition_seq",
        part = PARTITION_COLUMN,
        partition = state_partition("o.event_at", "o.valid_to"),
        disposition_seq = crate::engine::latest_seq_of(
            &format!(
                "CASE WHEN stage = 'dispositioned' THEN {} END",
                crate::engine::packed("event_at", INGEST_SEQ)
            ),
            &frame
        ),
    )
}

/// The `events` relation of the touched exceptions for an ingest's update: their
/// events back from their states (one state per event: its time, sequence number and
/// attributes; every event given the exception's first date, which is all
/// [`exception_sql`] takes of the dates), and the staged events.
pub(super) fn exception_events_from_state() -> String {
    let attrs = EXCEPTION_STATE_ATTRIBUTES.join(", ");
    let s_attrs = EXCEPTION_STATE_ATTRIBUTES
        .iter()
        .map(|a| format!("s.{a}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT s.exception_id, s.valid_from AS event_at, s.event_seq AS {INGEST_SEQ},
                {s_attrs}, s.first_date AS {PARTITION_COLUMN}
         FROM touched_state s
         JOIN touched k ON k.exception_id = s.exception_id
         UNION ALL
         SELECT exception_id, event_at, {INGEST_SEQ}, {attrs}, {PARTITION_COLUMN}
         FROM new_events"
    )
}

/// Master state rows of every version in relation `versions` (rows of the master
/// table `kind` keeps): the row as it is, its `event_date` as `version_date`, in the
/// partition of that month.
pub(super) fn master_sql(kind: &Kind) -> String {
    let fields: Vec<&str> = crate::contract::table(kind.source())
        .map(|t| t.fields.iter().map(|f| f.name).collect())
        .unwrap_or_default();
    format!(
        "SELECT {fields}, {INGEST_SEQ}, {SOURCE_FILE}, {PARTITION_COLUMN} AS version_date,
                CAST(date_trunc('month', {PARTITION_COLUMN}) AS DATE) AS {PARTITION_COLUMN}
         FROM versions",
        fields = fields.join(", ")
    )
}
