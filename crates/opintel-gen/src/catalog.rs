//! The fixed vocabulary the simulation draws from: sales channels and their habits,
//! product families (cost, sold by weight, perishable, names), description words,
//! exception types (owner team, typical resolution time), severities, statuses,
//! carriers, return reasons and dispositions.
//!
//! Constants only; spellings are the contract's canonical ones (docs/contract.md).

/// Sales channels (free text in the contract; these four are what the operation uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    Web,
    Marketplace,
    B2b,
    Retail,
}

impl Channel {
    pub(crate) const ALL: [Channel; 4] = [
        Channel::Web,
        Channel::Marketplace,
        Channel::B2b,
        Channel::Retail,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Marketplace => "marketplace",
            Channel::B2b => "b2b",
            Channel::Retail => "retail_replenishment",
        }
    }

    /// Share of order lines.
    pub(crate) fn share(self) -> f64 {
        match self {
            Channel::Web => 0.55,
            Channel::Marketplace => 0.25,
            Channel::B2b => 0.12,
            Channel::Retail => 0.08,
        }
    }

    /// Consumer channels get the promotion and produce returns.
    pub(crate) fn consumer(self) -> bool {
        matches!(self, Channel::Web | Channel::Marketplace)
    }

    /// Days a backordered line waits for stock before it is cancelled as a stockout.
    pub(crate) fn patience_days(self) -> i32 {
        match self {
            Channel::Web | Channel::Marketplace => 2,
            Channel::Retail => 3,
            Channel::B2b => 5,
        }
    }
}

/// A product family: how its items are priced, sold and described.
pub(crate) struct Family {
    pub name: &'static str,
    /// Median unit cost.
    pub cost: f64,
    /// Share of the assortment.
    pub weight: f64,
    /// Sold by weight (kg, 0.5 steps).
    pub by_weight: bool,
    /// Lots/expiry tracked (lot mismatches, expiry write-offs).
    pub perishable: bool,
    pub nouns: &'static [&'static str],
}

pub(crate) const FAMILIES: &[Family] = &[
    fam(
        "apparel",
        16.0,
        0.12,
        false,
        false,
        &[
            "T-Shirt",
            "Hoodie",
            "Jeans",
            "Dress",
            "Polo Shirt",
            "Rain Jacket",
        ],
    ),
    fam(
        "footwear",
        34.0,
        0.05,
        false,
        false,
        &[
            "Running Shoe",
            "Sneaker",
            "Hiking Boot",
            "Sandal",
            "Slipper",
        ],
    ),
    fam(
        "accessories",
        11.0,
        0.05,
        false,
        false,
        &["Belt", "Wallet", "Beanie", "Scarf", "Sunglasses"],
    ),
    fam(
        "home",
        21.0,
        0.07,
        false,
        false,
        &[
            "Throw Pillow",
            "Photo Frame",
            "Vase",
            "Wall Clock",
            "Candle",
        ],
    ),
    fam(
        "kitchen",
        19.0,
        0.07,
        false,
        false,
        &[
            "Skillet",
            "Chef Knife",
            "Mixing Bowl Set",
            "Kettle",
            "Cutting Board",
        ],
    ),
    fam(
        "bedding",
        29.0,
        0.04,
        false,
        false,
        &["Duvet Cover", "Fleece Blanket", "Pillow", "Sheet Set"],
    ),
    fam(
        "toys",
        14.0,
        0.07,
        false,
        false,
        &["Building Blocks", "Plush Bear", "Puzzle", "Toy Car", "Doll"],
    ),
    fam(
        "games",
        24.0,
        0.03,
        false,
        false,
        &["Board Game", "Card Game", "Dice Set", "Chess Set"],
    ),
    fam(
        "electronics",
        55.0,
        0.05,
        false,
        false,
        &[
            "Bluetooth Speaker",
            "Headphones",
            "Power Bank",
            "Smart Plug",
        ],
    ),
    fam(
        "phone_accessories",
        9.0,
        0.05,
        false,
        false,
        &["Phone Case", "USB-C Cable", "Screen Protector", "Car Mount"],
    ),
    fam(
        "beauty",
        12.0,
        0.05,
        false,
        true,
        &["Face Cream", "Shampoo", "Lip Balm", "Hair Serum"],
    ),
    fam(
        "health",
        10.0,
        0.04,
        false,
        true,
        &[
            "Vitamin D",
            "First Aid Kit",
            "Hand Sanitizer",
            "Protein Bar Box",
        ],
    ),
    fam(
        "sports",
        26.0,
        0.05,
        false,
        false,
        &["Yoga Mat", "Dumbbell", "Water Bottle", "Resistance Band"],
    ),
    fam(
        "outdoor",
        38.0,
        0.04,
        false,
        false,
        &["Camping Lantern", "Tent", "Sleeping Bag", "Daypack"],
    ),
    fam(
        "garden",
        17.0,
        0.04,
        false,
        false,
        &["Garden Hose", "Pruning Shears", "Planter", "Seed Mix"],
    ),
    fam(
        "pet",
        13.0,
        0.04,
        false,
        true,
        &["Dog Leash", "Cat Litter", "Pet Bed", "Chew Toy"],
    ),
    fam(
        "office",
        8.0,
        0.04,
        false,
        false,
        &["Notebook", "Desk Lamp", "Gel Pens", "Stapler"],
    ),
    fam(
        "books",
        12.0,
        0.03,
        false,
        false,
        &["Cookbook", "Novel", "Atlas", "Coloring Book"],
    ),
    fam(
        "baby",
        18.0,
        0.03,
        false,
        true,
        &["Baby Bottle", "Onesie", "Diaper Bag", "Teether"],
    ),
    fam(
        "bulk_food",
        7.0,
        0.04,
        true,
        true,
        &[
            "Rolled Oats",
            "Basmati Rice",
            "Almonds",
            "Coffee Beans",
            "Lentils",
        ],
    ),
];

const fn fam(
    name: &'static str,
    cost: f64,
    weight: f64,
    by_weight: bool,
    perishable: bool,
    nouns: &'static [&'static str],
) -> Family {
    Family {
        name,
        cost,
        weight,
        by_weight,
        perishable,
        nouns,
    }
}

pub(crate) const ADJECTIVES: &[&str] = &[
    "Classic",
    "Premium",
    "Eco",
    "Compact",
    "Deluxe",
    "Everyday",
    "Organic",
    "Heavy-Duty",
    "Kids'",
    "Vintage",
    "Ultra",
    "Travel",
    "Soft",
    "Pro",
];
pub(crate) const COLOURS: &[&str] = &[
    "Navy", "Black", "White", "Sage", "Red", "Grey", "Sand", "Teal",
];

pub(crate) const EXCEPTION_TYPES: [&str; 11] = [
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ExType {
    ShortReceipt,
    OverReceipt,
    BinMismatch,
    PickShortage,
    Damaged,
    Unscannable,
    ReturnDelay,
    LotMismatch,
    OversellRisk,
    CarrierCutoffMiss,
    Other,
}

impl ExType {
    pub(crate) fn name(self) -> &'static str {
        EXCEPTION_TYPES[self as usize]
    }

    /// Team that owns this kind of exception.
    pub(crate) fn owner(self) -> &'static str {
        match self {
            ExType::ShortReceipt | ExType::OverReceipt | ExType::LotMismatch => "Inbound Ops",
            ExType::BinMismatch | ExType::PickShortage => "Inventory Control",
            ExType::Damaged => "Quality",
            ExType::Unscannable => "Site Ops",
            ExType::ReturnDelay => "Returns Team",
            ExType::OversellRisk => "E-commerce Ops",
            ExType::CarrierCutoffMiss => "Transport",
            ExType::Other => "Site Ops",
        }
    }

    /// Typical hours to resolve, before the severity factor.
    pub(crate) fn base_hours(self) -> f64 {
        match self {
            ExType::ShortReceipt => 40.0,
            ExType::OverReceipt => 30.0,
            ExType::BinMismatch => 36.0,
            ExType::PickShortage => 10.0,
            ExType::Damaged => 30.0,
            ExType::Unscannable => 6.0,
            ExType::ReturnDelay => 60.0,
            ExType::LotMismatch => 28.0,
            ExType::OversellRisk => 5.0,
            ExType::CarrierCutoffMiss => 3.0,
            ExType::Other => 48.0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub(crate) fn escalate(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            _ => Severity::Critical,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Open,
    Acknowledged,
    InProgress,
    Resolved,
    Cancelled,
}

impl Status {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Cancelled => "cancelled",
        }
    }
}

pub(crate) const CARRIERS: [&str; 5] = ["UPS", "FedEx", "DHL", "USPS", "local_courier"];
pub(crate) const RETURN_REASONS: [&str; 6] = [
    "wrong_size",
    "changed_mind",
    "defective",
    "not_as_described",
    "damaged_in_transit",
    "late_delivery",
];
pub(crate) const DISPOSITIONS: [&str; 5] = [
    "restock",
    "refurbish",
    "quarantine",
    "vendor_return",
    "write_off",
];
