//! The canonical tables of docs/contract.md. Edit here, and only here, when the contract
//! changes: schemas, validation and documentation follow.

use super::Check::{NonNegative, NonZero, Positive};
use super::FieldType::{Dec, Str, Ts};
use super::{FieldSpec as F, RowRule, TableKind, TableSpec};

const ABC: &[&str] = &["A", "B", "C"];
const LOCATION_TYPES: &[&str] = &[
    "pick", "reserve", "bulk", "staging", "returns", "dock", "other",
];
const CANCEL_REASONS: &[&str] = &["customer", "stockout", "fraud", "other"];
const ADJUSTMENT_REASONS: &[&str] = &[
    "count_correction",
    "damage",
    "shrink",
    "found",
    "expiry",
    "return_restock",
    "transfer",
    "other",
];
const EXCEPTION_STATUS: &[&str] = &[
    "open",
    "acknowledged",
    "in_progress",
    "resolved",
    "cancelled",
];
const EXCEPTION_TYPES: &[&str] = &[
    "short_receipt",
    "over_receipt",
    "bin_mismatch",
    "pick_shortage",
    "damaged",
    "unscannable",
    "return_delay",
    "lot_mismatch",
    "oversell_risk",
    "carrier_cutoff_miss",
    "other",
];
const STOCK_STATUS: &[&str] = &[
    "available",
    "reserved",
    "quarantined",
    "damaged",
    "in_transit",
    "on_hold",
];
const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];
const RETURN_STAGES: &[&str] = &["received", "inspected", "dispositioned"];
const DISPOSITIONS: &[&str] = &[
    "restock",
    "refurbish",
    "quarantine",
    "vendor_return",
    "write_off",
];

const UPDATED_AT: F = F::new("updated_at", Ts, "when this version was written").required();
const EVENT_ID: F = F::new("event_id", Str, "unique id of the event").required();

/// Every canonical table, in the order reports and docs list them.
pub static TABLES: &[TableSpec] = &[
    TableSpec {
        name: "items",
        kind: TableKind::Master,
        key: &["sku"],
        time_column: "updated_at",
        doc: "The item master: one row per SKU version.",
        rules: &[],
        fields: &[
            F::new("sku", Str, "stock keeping unit").required(),
            F::new("description", Str, "item description"),
            F::new("family", Str, "product family"),
            F::new("supplier_id", Str, "main supplier"),
            F::new("unit_cost", Dec, "cost of one unit").check(NonNegative),
            F::new("abc_class", Str, "velocity class (A fastest)").one_of(ABC),
            UPDATED_AT,
        ],
    },
    TableSpec {
        name: "locations",
        kind: TableKind::Master,
        key: &["location_id"],
        time_column: "updated_at",
        doc: "Storage locations (bins) and their zones.",
        rules: &[],
        fields: &[
            F::new("location_id", Str, "bin id, unique across the network").required(),
            F::new("warehouse_id", Str, "warehouse holding the bin").required(),
            F::new("zone", Str, "zone of the warehouse").required(),
            F::new("location_type", Str, "what the bin is used for").one_of(LOCATION_TYPES),
            UPDATED_AT,
        ],
    },
    TableSpec {
        name: "suppliers",
        kind: TableKind::Master,
        key: &["supplier_id"],
        time_column: "updated_at",
        doc: "Suppliers.",
        rules: &[],
        fields: &[
            F::new("supplier_id", Str, "supplier id").required(),
            F::new("name", Str, "supplier name"),
            F::new("country", Str, "country"),
            UPDATED_AT,
        ],
    },
    TableSpec {
        name: "order_lines",
        kind: TableKind::Versioned,
        key: &["order_id", "line_id"],
        time_column: "updated_at",
        doc: "Customer order lines; a cancellation arrives as a newer version of the line.",
        rules: &[],
        fields: &[
            F::new("order_id", Str, "order id").required(),
            F::new("line_id", Str, "line within the order").required(),
            F::new("sku", Str, "item ordered").required(),
            F::new(
                "channel",
                Str,
                "sales channel (free text: web, marketplace, b2b …)",
            )
            .required(),
            F::new("warehouse_id", Str, "warehouse that fulfils the line").required(),
            F::new("ordered_at", Ts, "when the order was placed").required(),
            F::new(
                "promised_ship_at",
                Ts,
                "promised ship time; the line is due on its date",
            )
            .required(),
            F::new("qty_ordered", Dec, "units ordered")
                .required()
                .check(Positive),
            F::new("cancelled_qty", Dec, "units cancelled")
                .check(NonNegative)
                .default(0.0),
            F::new("cancel_reason", Str, "why units were cancelled").one_of(CANCEL_REASONS),
            UPDATED_AT,
        ],
    },
    TableSpec {
        name: "shipments",
        kind: TableKind::Event,
        key: &["event_id"],
        time_column: "shipped_at",
        doc: "Units shipped against an order line.",
        rules: &[],
        fields: &[
            EVENT_ID,
            F::new("shipment_id", Str, "shipment (parcel) id").required(),
            F::new("order_id", Str, "order shipped").required(),
            F::new("line_id", Str, "order line shipped").required(),
            F::new("sku", Str, "item shipped").required(),
            F::new("warehouse_id", Str, "shipping warehouse").required(),
            F::new("location_id", Str, "bin picked from"),
            F::new("qty_shipped", Dec, "units shipped")
                .required()
                .check(Positive),
            F::new("shipped_at", Ts, "when it left the warehouse").required(),
            F::new("carrier", Str, "carrier"),
        ],
    },
    TableSpec {
        name: "receipts",
        kind: TableKind::Event,
        key: &["event_id"],
        time_column: "received_at",
        doc: "Inbound receipts of purchase-order lines.",
        rules: &[],
        fields: &[
            EVENT_ID,
            F::new("po_id", Str, "purchase order").required(),
            F::new("po_line", Str, "purchase-order line").required(),
            F::new("supplier_id", Str, "supplier").required(),
            F::new("sku", Str, "item received").required(),
            F::new("warehouse_id", Str, "receiving warehouse").required(),
            F::new("location_id", Str, "put-away bin"),
            F::new("qty_expected", Dec, "units on the PO line")
                .required()
                .check(NonNegative),
            F::new("qty_received", Dec, "units received")
                .required()
                .check(NonNegative),
            F::new("qty_damaged", Dec, "units received damaged")
                .check(NonNegative)
                .default(0.0),
            F::new("expected_at", Ts, "when the receipt was due"),
            F::new("received_at", Ts, "when it was received").required(),
            F::new(
                "available_at",
                Ts,
                "when the units became available to sell (put away)",
            ),
        ],
    },
    TableSpec {
        name: "cycle_counts",
        kind: TableKind::Event,
        key: &["event_id"],
        time_column: "counted_at",
        doc: "Physical counts of one SKU in one bin.",
        rules: &[],
        fields: &[
            EVENT_ID,
            F::new("count_id", Str, "count task").required(),
            F::new("warehouse_id", Str, "warehouse").required(),
            F::new("location_id", Str, "bin counted").required(),
            F::new("sku", Str, "item counted").required(),
            F::new("system_qty", Dec, "units the system expected").required(),
            F::new("counted_qty", Dec, "units found")
                .required()
                .check(NonNegative),
            F::new("counted_at", Ts, "when it was counted").required(),
            F::new("counter_id", Str, "who counted"),
        ],
    },
    TableSpec {
        name: "adjustments",
        kind: TableKind::Event,
        key: &["event_id"],
        time_column: "adjusted_at",
        doc: "Inventory adjustments booked in the WMS.",
        rules: &[],
        fields: &[
            EVENT_ID,
            F::new("warehouse_id", Str, "warehouse").required(),
            F::new("location_id", Str, "bin adjusted").required(),
            F::new("sku", Str, "item adjusted").required(),
            F::new("qty_delta", Dec, "units added (+) or removed (−)")
                .required()
                .check(NonZero),
            F::new("reason_code", Str, "why")
                .required()
                .one_of(ADJUSTMENT_REASONS),
            F::new("adjusted_at", Ts, "when it was booked").required(),
            F::new("user_id", Str, "who booked it"),
        ],
    },
    TableSpec {
        name: "exception_events",
        kind: TableKind::Event,
        key: &["event_id"],
        time_column: "event_at",
        doc: "Lifecycle events of warehouse exceptions; an exception's state is its latest event.",
        rules: &[],
        fields: &[
            EVENT_ID,
            F::new("exception_id", Str, "exception").required(),
            F::new("event_at", Ts, "when this event happened").required(),
            F::new("status", Str, "status after this event")
                .required()
                .one_of(EXCEPTION_STATUS),
            F::new("exception_type", Str, "kind of exception")
                .required()
                .one_of(EXCEPTION_TYPES),
            F::new("severity", Str, "severity")
                .required()
                .one_of(SEVERITIES),
            F::new("owner", Str, "team or person owning it"),
            F::new("warehouse_id", Str, "warehouse"),
            F::new("location_id", Str, "bin"),
            F::new("sku", Str, "item"),
            F::new("supplier_id", Str, "supplier"),
            F::new("channel", Str, "sales channel"),
            F::new("order_id", Str, "order"),
            F::new("root_cause", Str, "root cause, free text"),
            F::new("impact_value", Dec, "estimated value at stake"),
        ],
    },
    TableSpec {
        name: "return_events",
        kind: TableKind::Event,
        key: &["event_id"],
        time_column: "event_at",
        doc: "Customer returns moving through received → inspected → dispositioned.",
        rules: &[RowRule {
            when_field: "stage",
            when_value: "dispositioned",
            then_required: "disposition",
        }],
        fields: &[
            EVENT_ID,
            F::new("return_id", Str, "return").required(),
            F::new("order_id", Str, "original order"),
            F::new("sku", Str, "item returned").required(),
            F::new("warehouse_id", Str, "warehouse").required(),
            F::new("qty", Dec, "units returned")
                .required()
                .check(Positive),
            F::new("stage", Str, "stage reached")
                .required()
                .one_of(RETURN_STAGES),
            F::new("disposition", Str, "what was decided").one_of(DISPOSITIONS),
            F::new("reason_code", Str, "customer's reason"),
            F::new("event_at", Ts, "when the stage was reached").required(),
        ],
    },
    TableSpec {
        name: "inventory_snapshots",
        kind: TableKind::Snapshot,
        key: &[
            "snapshot_at",
            "warehouse_id",
            "location_id",
            "sku",
            "status",
        ],
        time_column: "snapshot_at",
        doc: "What the WMS or 3PL says it holds, by stock status, at a point in time (optional feed).",
        rules: &[],
        fields: &[
            F::new("snapshot_at", Ts, "when the stock was taken").required(),
            F::new("warehouse_id", Str, "warehouse").required(),
            F::new("location_id", Str, "bin (empty: the warehouse as a whole)"),
            F::new("sku", Str, "item").required(),
            F::new("status", Str, "stock status")
                .required()
                .one_of(STOCK_STATUS),
            F::new("qty", Dec, "units in that status")
                .required()
                .check(NonNegative),
        ],
    },
];
