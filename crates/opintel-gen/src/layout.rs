//! What the exports look like on disk: the columns of every feed (canonical names for
//! the own systems, the 3PL's own names), each warehouse's file format, the file names
//! (table name as prefix, docs/contract.md), and the `opintel.toml` source mappings that let
//! the product read the 3PL's files.
//!
//! Change a column here and the writers, the noise and the 3PL mapping follow.

use super::feed::Kind::{Delta, Enum, Extra, Id, Num, Opt, OptEnum, OptTs, Qty, Req, Ts};
use super::feed::{Col, Compression, FeedSpec, Format, col};
use super::model::Style;
use super::noise::Table;
use super::timefmt::TsStyle;

pub(crate) const ITEMS: &[Col] = &[
    col("sku", Req),
    col("description", Opt),
    col("family", Opt),
    col("supplier_id", Opt),
    col("unit_cost", Num),
    col("abc_class", OptEnum),
    col("updated_at", Ts),
];
pub(crate) const LOCATIONS: &[Col] = &[
    col("location_id", Req),
    col("warehouse_id", Req),
    col("zone", Req),
    col("location_type", OptEnum),
    col("updated_at", Ts),
];
pub(crate) const SUPPLIERS: &[Col] = &[
    col("supplier_id", Req),
    col("name", Opt),
    col("country", Opt),
    col("updated_at", Ts),
];
pub(crate) const ORDER_LINES: &[Col] = &[
    col("order_id", Req),
    col("line_id", Req),
    col("sku", Req),
    col("channel", Req),
    col("warehouse_id", Req),
    col("ordered_at", Ts),
    col("promised_ship_at", Ts),
    col("qty_ordered", Qty),
    col("cancelled_qty", Num),
    col("cancel_reason", OptEnum),
    col("updated_at", Ts),
];
pub(crate) const SHIPMENTS: &[Col] = &[
    col("event_id", Id),
    col("shipment_id", Req),
    col("order_id", Req),
    col("line_id", Req),
    col("sku", Req),
    col("warehouse_id", Req),
    col("location_id", Opt),
    col("qty_shipped", Qty),
    col("shipped_at", Ts),
    col("carrier", Opt),
];
pub(crate) const RECEIPTS: &[Col] = &[
    col("event_id", Id),
    col("po_id", Req),
    col("po_line", Req),
    col("supplier_id", Req),
    col("sku", Req),
    col("warehouse_id", Req),
    col("location_id", Opt),
    col("qty_expected", Qty),
    col("qty_received", Qty),
    col("qty_damaged", Num),
    col("expected_at", OptTs),
    col("received_at", Ts),
    col("available_at", OptTs),
];
pub(crate) const CYCLE_COUNTS: &[Col] = &[
    col("event_id", Id),
    col("count_id", Req),
    col("warehouse_id", Req),
    col("location_id", Req),
    col("sku", Req),
    col("system_qty", Num),
    col("counted_qty", Qty),
    col("counted_at", Ts),
    col("counter_id", Opt),
];
pub(crate) const ADJUSTMENTS: &[Col] = &[
    col("event_id", Id),
    col("warehouse_id", Req),
    col("location_id", Req),
    col("sku", Req),
    col("qty_delta", Delta),
    col("reason_code", Enum),
    col("adjusted_at", Ts),
    col("user_id", Opt),
];
/// WH-EAST's adjustments carry a column outside the contract.
pub(crate) const ADJUSTMENTS_EXTRA: &[Col] = &[
    col("event_id", Id),
    col("warehouse_id", Req),
    col("location_id", Req),
    col("sku", Req),
    col("qty_delta", Delta),
    col("reason_code", Enum),
    col("adjusted_at", Ts),
    col("user_id", Opt),
    col("wms_batch", Extra),
];
pub(crate) const EXCEPTION_EVENTS: &[Col] = &[
    col("event_id", Id),
    col("exception_id", Req),
    col("event_at", Ts),
    col("status", Enum),
    col("exception_type", Enum),
    col("severity", Enum),
    col("owner", Opt),
    col("warehouse_id", Opt),
    col("location_id", Opt),
    col("sku", Opt),
    col("supplier_id", Opt),
    col("channel", Opt),
    col("order_id", Opt),
    col("root_cause", Opt),
    col("impact_value", Num),
];
pub(crate) const RETURN_EVENTS: &[Col] = &[
    col("event_id", Id),
    col("return_id", Req),
    col("order_id", Opt),
    col("sku", Req),
    col("warehouse_id", Req),
    col("qty", Qty),
    col("stage", Enum),
    col("disposition", OptEnum),
    col("reason_code", Opt),
    col("event_at", Ts),
];

/// The 3PL's columns: same order as the canonical feeds above, its own names.
pub(crate) const TPL_SHIPMENTS: &[Col] = &[
    col("EventRef", Id),
    col("Ship No", Req),
    col("Order", Req),
    col("Line", Req),
    col("Item", Req),
    col("Site", Req),
    col("Bin", Opt),
    col("Qty", Qty),
    col("Shipped", Ts),
    col("Carrier", Opt),
];
pub(crate) const TPL_COUNTS: &[Col] = &[
    col("EventRef", Id),
    col("Count No", Req),
    col("Site", Req),
    col("Bin", Req),
    col("Item", Req),
    col("Book Qty", Num),
    col("Counted Qty", Qty),
    col("Counted", Ts),
    col("Counter", Opt),
];
pub(crate) const TPL_ADJUSTMENTS: &[Col] = &[
    col("EventRef", Id),
    col("Site", Req),
    col("Bin", Req),
    col("Item", Req),
    col("Qty", Delta),
    col("Reason", Enum),
    col("Posted", Ts),
    col("User", Opt),
];
pub(crate) const TPL_EXCEPTIONS: &[Col] = &[
    col("EventRef", Id),
    col("Case No", Req),
    col("Event Time", Ts),
    col("Status", Enum),
    col("Type", Enum),
    col("Priority", Enum),
    col("Team", Opt),
    col("Site", Opt),
    col("Bin", Opt),
    col("Item", Opt),
    col("Supplier", Opt),
    col("Channel", Opt),
    col("Order", Opt),
    col("Cause", Opt),
    col("Value", Num),
];

/// Which enumeration a field holds, so the 3PL's spellings can be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnumOf {
    Status,
    Severity,
    Reason,
    Other,
}

/// How the 3PL spells statuses, severities and reason codes.
pub(crate) fn tpl_spelling(which: EnumOf, canonical: &str) -> &str {
    let table = match which {
        EnumOf::Status => TPL_STATUS,
        EnumOf::Severity => TPL_SEVERITY,
        EnumOf::Reason => TPL_REASONS,
        EnumOf::Other => return canonical,
    };
    table
        .iter()
        .find(|(_, c)| *c == canonical)
        .map_or(canonical, |(t, _)| t)
}

/// The four kinds of 3PL file: (file kind, canonical table, canonical columns, 3PL columns).
pub(crate) const TPL_KINDS: [(&str, &str, &[Col], &[Col]); 4] = [
    ("shipments", "shipments", SHIPMENTS, TPL_SHIPMENTS),
    ("counts", "cycle_counts", CYCLE_COUNTS, TPL_COUNTS),
    ("adjustments", "adjustments", ADJUSTMENTS, TPL_ADJUSTMENTS),
    (
        "exceptions",
        "exception_events",
        EXCEPTION_EVENTS,
        TPL_EXCEPTIONS,
    ),
];

/// The 3PL's enum codes: (3PL value, canonical value).
pub(crate) const TPL_STATUS: &[(&str, &str)] = &[
    ("OPEN", "open"),
    ("ACK", "acknowledged"),
    ("WIP", "in_progress"),
    ("CLOSED", "resolved"),
    ("VOID", "cancelled"),
];
pub(crate) const TPL_SEVERITY: &[(&str, &str)] = &[
    ("P1", "critical"),
    ("P2", "high"),
    ("P3", "medium"),
    ("P4", "low"),
];
pub(crate) const TPL_REASONS: &[(&str, &str)] = &[
    ("CC", "count_correction"),
    ("DMG", "damage"),
    ("SHR", "shrink"),
    ("FND", "found"),
    ("EXP", "expiry"),
    ("RET", "return_restock"),
    ("TRF", "transfer"),
    ("OTH", "other"),
];

pub(crate) const TPL_TIME_ZONE: &str = "America/Chicago";
pub(crate) const TPL_TIMESTAMP_FORMAT: &str = "%d/%m/%Y %H:%M:%S";

const CSV: Format = Format::Csv {
    delim: b',',
    crlf: false,
    bom: false,
};
const CSV_WIN: Format = Format::Csv {
    delim: b',',
    crlf: true,
    bom: true,
};
const CSV_TPL: Format = Format::Csv {
    delim: b';',
    crlf: false,
    bom: false,
};

/// Feeds of the network-wide systems (OMS, ERP, exception desk, returns platform).
pub(crate) fn network_spec(table: Table, marketplace: bool) -> FeedSpec {
    let (cols, format, compression, style, retain) = match table {
        Table::Items => (ITEMS, CSV, Compression::None, TsStyle::Zulu, false),
        Table::Locations => (LOCATIONS, CSV, Compression::None, TsStyle::Zulu, false),
        Table::Suppliers => (SUPPLIERS, CSV, Compression::None, TsStyle::Zulu, false),
        Table::OrderLines if marketplace => (
            ORDER_LINES,
            Format::Ndjson,
            Compression::Zstd,
            TsStyle::ZuluMillis,
            false,
        ),
        Table::OrderLines => (ORDER_LINES, CSV, Compression::None, TsStyle::Zulu, false),
        Table::Receipts => (RECEIPTS, CSV, Compression::None, TsStyle::Zulu, false),
        Table::ExceptionEvents => (
            EXCEPTION_EVENTS,
            CSV,
            Compression::None,
            TsStyle::ZuluMillis,
            true,
        ),
        Table::ReturnEvents => (RETURN_EVENTS, CSV, Compression::Gzip, TsStyle::Zulu, false),
        Table::Shipments => (SHIPMENTS, CSV, Compression::None, TsStyle::Zulu, true),
        Table::CycleCounts => (CYCLE_COUNTS, CSV, Compression::None, TsStyle::Zulu, false),
        Table::Adjustments => (ADJUSTMENTS, CSV, Compression::None, TsStyle::Zulu, false),
    };
    FeedSpec {
        table,
        cols,
        format,
        compression,
        style,
        tpl: false,
        retain,
    }
}

/// A warehouse's own WMS feed (shipments, cycle counts, adjustments) or the 3PL's.
pub(crate) fn site_spec(style: Style, table: Table) -> FeedSpec {
    let retain = table == Table::Shipments && style != Style::ThirdParty;
    let (cols, tpl_cols) = match table {
        Table::Shipments => (SHIPMENTS, TPL_SHIPMENTS),
        Table::CycleCounts => (CYCLE_COUNTS, TPL_COUNTS),
        Table::Adjustments if style == Style::East => (ADJUSTMENTS_EXTRA, TPL_ADJUSTMENTS),
        Table::Adjustments => (ADJUSTMENTS, TPL_ADJUSTMENTS),
        _ => (EXCEPTION_EVENTS, TPL_EXCEPTIONS),
    };
    let (cols, format, compression, ts, tpl) = match style {
        Style::East => {
            let ts = if table == Table::CycleCounts {
                TsStyle::ZuluMillis
            } else {
                TsStyle::Zulu
            };
            (cols, CSV, Compression::None, ts, false)
        }
        Style::West => {
            let c = if table == Table::Shipments {
                Compression::Gzip
            } else {
                Compression::None
            };
            (cols, CSV_WIN, c, TsStyle::Offset, false)
        }
        Style::Other => (cols, CSV, Compression::Gzip, TsStyle::Zulu, false),
        Style::ThirdParty => (
            tpl_cols,
            CSV_TPL,
            Compression::None,
            TsStyle::DayFirstLocal,
            true,
        ),
    };
    FeedSpec {
        table,
        cols,
        format,
        compression,
        style: ts,
        tpl,
        retain,
    }
}

/// File name of a network feed for `date` (`YYYY-MM-DD`); day 1's master data has no date.
pub(crate) fn network_file(
    table: Table,
    marketplace: bool,
    date: &str,
    full_master: bool,
) -> String {
    match table {
        Table::Items | Table::Locations | Table::Suppliers if full_master => {
            format!("{}.csv", table.name())
        }
        Table::OrderLines if marketplace => format!("order_lines-marketplace-{date}.ndjson.zst"),
        Table::ReturnEvents => format!("return_events-{date}.csv.gz"),
        _ => format!("{}-{date}.csv", table.name()),
    }
}

/// File name of a warehouse feed; the 3PL's uses its own names and compact dates.
pub(crate) fn site_file(
    style: Style,
    tag: &str,
    table: Table,
    date: &str,
    compact: &str,
) -> String {
    if style == Style::ThirdParty {
        let kind = match table {
            Table::Shipments => "shipments",
            Table::CycleCounts => "counts",
            Table::Adjustments => "adjustments",
            _ => "exceptions",
        };
        return format!("3pl_central_{kind}_{compact}.csv");
    }
    let gz = match style {
        Style::Other => true,
        Style::West => table == Table::Shipments,
        _ => false,
    };
    format!(
        "{}-{tag}-{date}.csv{}",
        table.name(),
        if gz { ".gz" } else { "" }
    )
}

/// `opintel.toml`: the source mappings for the 3PL's four kinds of file.
pub(crate) fn opintel_toml() -> String {
    let mut s =
        String::from("# Source mappings for the generated operation's third-party warehouse.\n");
    s.push_str(
        "# Written by `opintel generate`; the 3PL (3PL-CENTRAL) exports `;`-separated files\n",
    );
    s.push_str(
        "# with its own column names, naive America/Chicago times and its own enum codes.\n",
    );
    for (kind, table, canonical, tpl) in TPL_KINDS {
        s.push_str(&format!(
            "\n[[sources]]\nname = \"3pl-central-{kind}\"\npattern = \"3pl_central_{kind}_*\"   # glob on the file name (* and ? only)\ntable = \"{table}\"\ndelimiter = \";\"\ntime_zone = \"{TPL_TIME_ZONE}\"         # for timestamps without an offset\ntimestamp_format = \"{TPL_TIMESTAMP_FORMAT}\" # chrono strftime format\n[sources.columns]                     # source column = canonical column\n"
        ));
        for (src, canon) in tpl.iter().zip(canonical.iter()) {
            s.push_str(&format!("\"{}\" = \"{}\"\n", src.name, canon.name));
        }
        let maps: &[(&str, &[(&str, &str)])] = match kind {
            "adjustments" => &[("reason_code", TPL_REASONS)],
            "exceptions" => &[("status", TPL_STATUS), ("severity", TPL_SEVERITY)],
            _ => &[],
        };
        for (field, pairs) in maps {
            s.push_str(&format!("[sources.values.{field}]               # canonical field -> {{ source value = canonical value }}\n"));
            for (src, canon) in *pairs {
                s.push_str(&format!("\"{src}\" = \"{canon}\"\n"));
            }
        }
    }
    s
}
