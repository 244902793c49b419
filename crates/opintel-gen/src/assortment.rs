//! The assortment before day 1: suppliers with their habits (short, over and damaged
//! receipts, lateness), and the item master with families, costs, case packs,
//! heavy-tailed popularity and ABC classes, plus the SKUs launched during the period.
//!
//! Drawn from the `world` RNG stream by `World::build`.

use super::catalog::{ADJECTIVES, COLOURS, FAMILIES};
use super::model::{Abc, Item, Supplier};
use super::rng::Rng;
use super::timefmt::{DAY, HOUR};

const SUPPLIER_FIRST: &[&str] = &[
    "Northwind",
    "Bluewater",
    "Golden Harvest",
    "Brightstar",
    "Pacific Rim",
    "Evergreen",
    "Summit",
    "Lotus",
    "Ironbridge",
    "Silverline",
    "Red Maple",
    "Sunrise",
    "Atlas",
    "Harbor",
    "Crescent",
    "Nordic",
    "Sierra",
    "Jade River",
    "Oakridge",
    "Meridian",
];
const SUPPLIER_LAST: &[&str] = &[
    "Trading Co.",
    "Manufacturing Ltd",
    "Industries",
    "Goods Inc.",
    "Textiles",
    "Imports LLC",
    "Home & Living",
    "Electronics Co., Ltd",
    "Supply",
    "Brands",
];
const COUNTRIES: &[(&str, f64)] = &[
    ("CN", 0.32),
    ("US", 0.18),
    ("VN", 0.1),
    ("IN", 0.08),
    ("MX", 0.06),
    ("DE", 0.05),
    ("TR", 0.05),
    ("IT", 0.04),
    ("BD", 0.04),
    ("PT", 0.03),
    ("PL", 0.03),
    ("KR", 0.02),
];

pub(crate) fn suppliers(rng: &mut Rng, scale: f64, day0: i64) -> Vec<Supplier> {
    let n = ((40.0 * scale.sqrt()).round() as usize).max(6);
    let weights: Vec<f64> = COUNTRIES.iter().map(|c| c.1).collect();
    (0..n)
        .map(|i| {
            let first = SUPPLIER_FIRST[(i * 7 + rng.index(3)) % SUPPLIER_FIRST.len()];
            let last = rng.pick(SUPPLIER_LAST);
            let country = COUNTRIES[rng.weighted(&weights)].0;
            let habitual_shorter = i % 9 == 4;
            let chronic_late = i % 11 == 7;
            let punctual = !chronic_late && rng.chance(0.35);
            let suffix = if i >= SUPPLIER_FIRST.len() {
                format!(" {}", i / SUPPLIER_FIRST.len() + 1)
            } else {
                String::new()
            };
            Supplier {
                id: format!("SUP-{:04}", 101 + i * 3),
                name: format!("{first} {last}{suffix}"),
                country,
                short_rate: if habitual_shorter {
                    rng.uniform(0.15, 0.3)
                } else {
                    rng.uniform(0.01, 0.03)
                },
                short_depth: if habitual_shorter { 0.4 } else { 0.2 },
                over_rate: if i % 13 == 5 {
                    rng.uniform(0.05, 0.09)
                } else {
                    rng.uniform(0.003, 0.015)
                },
                damage_rate: if i % 10 == 3 {
                    rng.uniform(0.05, 0.08)
                } else {
                    rng.uniform(0.005, 0.025)
                },
                lead_days: rng.range(3, 10) as i32,
                late_prob: if chronic_late {
                    rng.uniform(0.5, 0.7)
                } else if punctual {
                    0.0
                } else {
                    rng.uniform(0.08, 0.2)
                },
                late_max: if chronic_late { 7 } else { 2 },
                messy: i % 8 == 2,
                updated_at: (day0 - rng.range(30, 900)) * DAY + rng.range(8 * HOUR, 18 * HOUR),
            }
        })
        .collect()
}

pub(crate) fn items(
    rng: &mut Rng,
    scale: f64,
    days: i32,
    day0: i64,
    n_sup: usize,
) -> (Vec<Item>, Vec<i32>) {
    let n_base = ((5000.0 * scale).round() as usize).max(60);
    // New SKUs now and then: about two a week at scale 1 (at least one).
    let n_new =
        ((f64::from(days) / 7.0 * 2.0 * scale.sqrt()).round() as usize).clamp(1, n_base / 10 + 1);
    let n = n_base + n_new;
    let fam_weights: Vec<f64> = FAMILIES.iter().map(|f| f.weight).collect();
    let mut items: Vec<Item> = (0..n)
        .map(|i| {
            let family = rng.weighted(&fam_weights);
            let fam = &FAMILIES[family];
            let unit_cost = (rng.lognormal(fam.cost, 0.75) * 100.0).round() / 100.0;
            let unit_cost = unit_cost.clamp(1.5, 450.0);
            let case_pack = if fam.by_weight {
                10
            } else if unit_cost < 8.0 {
                *rng.pick(&[12u16, 24, 24, 48])
            } else if unit_cost < 40.0 {
                *rng.pick(&[4u16, 6, 6, 12])
            } else {
                *rng.pick(&[1u16, 1, 2, 4])
            };
            Item {
                sku: (100 + i * 7 + rng.index(7)) as u32,
                description: describe(rng, fam.nouns),
                family: family as u8,
                supplier: rng.index(n_sup) as u16,
                unit_cost,
                popularity: rng.pareto(1.16),
                abc: Abc::C,
                case_pack,
                updated_at: (day0 - rng.range(20, 900)) * DAY + rng.range(8 * HOUR, 18 * HOUR),
            }
        })
        .collect();
    // ABC by velocity rank among the opening assortment: A top 20%, B next 30%, C rest.
    let mut order: Vec<usize> = (0..n_base).collect();
    order.sort_by(|&a, &b| {
        items[b]
            .popularity
            .total_cmp(&items[a].popularity)
            .then(a.cmp(&b))
    });
    for (rank, &i) in order.iter().enumerate() {
        items[i].abc = if rank < n_base / 5 {
            Abc::A
        } else if rank < n_base / 2 {
            Abc::B
        } else {
            Abc::C
        };
        // A few items were set up recently and never classified.
        if rng.chance(0.005) {
            items[i].abc = Abc::None;
        }
    }
    let mut intro = vec![0i32; n];
    for (k, slot) in intro.iter_mut().enumerate().skip(n_base) {
        let i = k - n_base;
        *slot = 1
            + ((i as i64 * i64::from(days - 6).max(1)) / n_new as i64) as i32
            + rng.below(3) as i32;
        *slot = (*slot).min(days - 1).max(1);
        items[k].abc = Abc::None;
        items[k].popularity = items[k].popularity.min(3.0);
    }
    (items, intro)
}

/// A realistic-ish description; some contain commas and quotes (CSV quoting).
fn describe(rng: &mut Rng, nouns: &[&str]) -> String {
    let adj = rng.pick(ADJECTIVES);
    let noun = rng.pick(nouns);
    match rng.below(10) {
        0..=4 => format!("{adj} {noun}"),
        5..=6 => format!("{adj} {noun}, {}", rng.pick(COLOURS)),
        7 => format!("{adj} {noun}, {} {}\"", rng.pick(COLOURS), rng.range(8, 24)),
        8 => format!("\"{adj}\" {noun}"),
        _ => format!("{noun} ({} pack), {}", rng.range(2, 6), rng.pick(COLOURS)),
    }
}
