//! The simulated operation's entities: suppliers, items, warehouses, zones, locations,
//! stock slots (system and physical quantity per SKU-location) and planted record
//! errors.
//!
//! Plain data only; the fixed vocabulary is `catalog.rs`, building the world is
//! `world.rs`, changing it over time is the simulation modules.

use super::catalog::FAMILIES;
use super::timefmt::ZoneClock;

pub(crate) struct Supplier {
    pub id: String,
    pub name: String,
    pub country: &'static str,
    /// Probability that a receipt comes in short, and how short (max fraction).
    pub short_rate: f64,
    pub short_depth: f64,
    pub over_rate: f64,
    pub damage_rate: f64,
    /// Quoted lead time in days.
    pub lead_days: i32,
    /// Probability of arriving late, and the largest delay in days.
    pub late_prob: f64,
    pub late_max: i32,
    /// Sloppy labelling and packing: more planted record errors among its SKUs.
    pub messy: bool,
    pub updated_at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abc {
    None,
    A,
    B,
    C,
}

impl Abc {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Abc::None => "",
            Abc::A => "A",
            Abc::B => "B",
            Abc::C => "C",
        }
    }

    /// Nominal days between scheduled cycle counts.
    pub(crate) fn count_interval(self) -> i32 {
        match self {
            Abc::A => 30,
            Abc::B => 90,
            Abc::C | Abc::None => 180,
        }
    }
}

pub(crate) struct Item {
    /// SKU number: exported as `SKU-` and six digits.
    pub sku: u32,
    pub description: String,
    pub family: u8,
    pub supplier: u16,
    pub unit_cost: f64,
    /// Relative demand weight (heavy-tailed).
    pub popularity: f64,
    pub abc: Abc,
    pub case_pack: u16,
    pub updated_at: i64,
}

impl Item {
    pub(crate) fn by_weight(&self) -> bool {
        FAMILIES[self.family as usize].by_weight
    }

    pub(crate) fn sku_text(&self) -> String {
        format!("SKU-{:06}", self.sku)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LocType {
    Pick,
    Reserve,
    Bulk,
    Staging,
    Returns,
    Dock,
}

impl LocType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            LocType::Pick => "pick",
            LocType::Reserve => "reserve",
            LocType::Bulk => "bulk",
            LocType::Staging => "staging",
            LocType::Returns => "returns",
            LocType::Dock => "dock",
        }
    }
}

pub(crate) struct Zone {
    /// Zone name as exported, e.g. `PICK-A`.
    pub name: String,
}

pub(crate) struct Location {
    /// Bin address, exported as `E-A03-12-2`: site letter, zone letter, aisle, bay, level.
    pub code: BinCode,
    pub wh: u8,
    /// Index into the warehouse's zones.
    pub zone: u8,
    pub ltype: LocType,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct BinCode {
    pub site: u8,
    pub zone: u8,
    pub aisle: u16,
    pub bay: u8,
    pub level: u8,
}

impl Location {
    /// Append the location id (`E-A03-12-2`).
    pub(crate) fn push_id(&self, b: &mut Vec<u8>) {
        let BinCode {
            site,
            zone,
            aisle,
            bay,
            level,
        } = self.code;
        b.extend_from_slice(&[site, b'-', zone]);
        super::timefmt::push_padded(b, u64::from(aisle), 2);
        b.push(b'-');
        super::timefmt::push_padded(b, u64::from(bay), 2);
        b.push(b'-');
        super::timefmt::push_u64(b, u64::from(level));
    }

    pub(crate) fn id_text(&self) -> String {
        let mut b = Vec::with_capacity(12);
        self.push_id(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    }
}

/// How a warehouse writes its exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// Plain CSV, `Z` timestamps (cycle counts with milliseconds), an extra column in
    /// the adjustments feed.
    East,
    /// UTF-8 BOM, CRLF, local offsets, gzip shipments.
    West,
    /// The third party's own `;` format, late batches.
    ThirdParty,
    /// Further own sites: gzip CSV, `Z` timestamps.
    Other,
}

pub(crate) struct Warehouse {
    pub id: String,
    pub letter: char,
    /// Lower-case id for file names, e.g. `wh-east`.
    pub file_tag: String,
    /// Id prefixes: count tasks (`CC-E`), counters (`CNT-E-`), WMS users (`u.e`).
    pub count_prefix: String,
    pub counter_prefix: String,
    pub user_prefix: String,
    pub style: Style,
    pub clock: ZoneClock,
    /// Share of orders routed here.
    pub share: f64,
    pub zones: Vec<Zone>,
    /// Index of the zone with sloppy processes (more planted errors).
    pub messy_zone: u8,
    /// Slot index of each item stocked here (`u32::MAX` when not stocked).
    pub slot_of: Vec<u32>,
    /// Slots of this warehouse.
    pub slots: Vec<u32>,
}

impl Warehouse {
    pub(crate) fn third_party(&self) -> bool {
        self.style == Style::ThirdParty
    }
}

pub(crate) const NO_PLANT: u32 = u32::MAX;

/// One SKU at its pick location in one warehouse: the unit the WMS keeps a stock
/// record for, and the unit of the ground truth.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub wh: u8,
    pub loc: u32,
    pub item: u32,
    /// What the WMS believes.
    pub system: f64,
    /// What is physically in the bin.
    pub truth: f64,
    /// Expected units per day, for reordering.
    pub rate: f64,
    pub reorder_point: f64,
    pub order_qty: f64,
    pub open_po: bool,
    /// Day of the last cycle count (may be before day 0).
    pub last_count: i32,
    /// Day a spot count is scheduled for (`i32::MIN` when none).
    pub spot_day: i32,
    /// A neighbour's picker has taken units from this bin. Mis-picks are one-off
    /// noise: a bin is robbed at most once, so the neighbour of a fast mover is not
    /// drained after every count and put-away (that would be a systematic error the
    /// ground truth does not list).
    pub mispicked: bool,
    /// Index into the planted errors, or [`NO_PLANT`].
    pub planted: u32,
    /// Day the slot becomes active (new SKUs appear during the period).
    pub active_from: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// Shrink or theft drains the bin every few days; the record never hears of it.
    PhantomStock,
    /// Part of each receipt is put away somewhere else.
    MisSlotting,
    /// Case packs booked as single units: more in the bin than on record.
    UomHidden,
    /// Single units booked as case packs: less in the bin than on record.
    UomOver,
    /// Damaged units thrown away without an adjustment.
    DamagedNotRecorded,
}

impl ErrorKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ErrorKind::PhantomStock => "phantom_stock",
            ErrorKind::MisSlotting => "mis_slotting",
            ErrorKind::UomHidden | ErrorKind::UomOver => "uom_error",
            ErrorKind::DamagedNotRecorded => "damaged_not_recorded",
        }
    }
}

/// A planted, systematic stock-record error at one slot.
#[derive(Clone, Debug)]
pub(crate) struct Planted {
    pub slot: u32,
    pub kind: ErrorKind,
    pub day: i32,
    pub at: i64,
    /// Kind-specific strength: drain units (phantom), lost fraction (mis-slotting,
    /// damage), pack size (unit of measure).
    pub strength: f64,
    /// Days between drains (phantom stock, damage).
    pub period: i32,
    pub next_event: i32,
}
