#!/usr/bin/env python3
"""A second, independent operation generator for the cycle-count priority ("busy bins").

`opintel generate` plants wrong records whose traces do not depend on how busy a bin
is. This generator writes an operation whose wrong records show themselves the way a
real floor does, to check that the priority is not fitted to the first generator:

* Pick frequency is heavy-tailed (log-normal): a few bins are picked dozens of times a
  day, most a few times a week.
* Every pick can go wrong for innocent reasons (a picker at the wrong face, a lagging
  replenishment that leaves the bin empty, a mis-scan): pick shortages, bin mismatches
  and shrink adjustments happen at every bin in proportion to its picks, so busy bins
  pile up raw evidence without any wrong record.
* Wrong records (3% of SKU-locations) raise those rates per pick, in three kinds:
  `phantom` (the record holds units that are not there: pick shortages, mismatches and
  shrink after shortages; the status snapshot keeps showing them available),
  `adjust_only` (seen only through unexplained adjustments: `other`/`found`/`shrink`),
  and `late` (phantom, but beginning in the last 40% of the history).
* Cycle counts follow an ABC schedule; a count at a wrong record finds it off and books
  a `count_correction`, but the cause stays (the error is systematic).
* Daily `inventory_snapshots` (status `available`) give the record's units per bin; a
  bin emptied by lagging replenishment shows 0 on the days its innocent shortages
  happen.

Writes canonical CSVs (`items.csv`, `locations.csv`, `order_lines.csv`, `shipments.csv`,
`cycle_counts.csv`, `adjustments.csv`, `exception_events.csv`,
`inventory_snapshots.csv`) into OUT/exports and the wrong records into
OUT/ground_truth/record_errors.csv (warehouse_id, location_id, sku, kind, onset).
Standard library only.

    python3 bench/gen_busy.py --out /tmp/busy --seed 1 --scale 1
"""

import argparse
import csv
import datetime as dt
import math
import os
import random

EVENT_FILES = {
    "order_lines": ["order_id", "line_id", "sku", "channel", "warehouse_id", "ordered_at",
                    "promised_ship_at", "qty_ordered", "cancelled_qty", "cancel_reason",
                    "updated_at"],
    "shipments": ["event_id", "shipment_id", "order_id", "line_id", "sku", "warehouse_id",
                  "location_id", "qty_shipped", "shipped_at", "carrier"],
    "cycle_counts": ["event_id", "count_id", "warehouse_id", "location_id", "sku",
                     "system_qty", "counted_qty", "counted_at", "counter_id"],
    "adjustments": ["event_id", "warehouse_id", "location_id", "sku", "qty_delta",
                    "reason_code", "adjusted_at", "user_id"],
    "exception_events": ["event_id", "exception_id", "event_at", "status", "exception_type",
                         "severity", "owner", "warehouse_id", "location_id", "sku"],
    "inventory_snapshots": ["snapshot_at", "warehouse_id", "location_id", "sku", "status",
                            "qty"],
}

# Innocent per-pick rates at every bin, and the wrong records' rates per pick.
NOISE = {"shortage": 0.02, "mismatch": 0.006, "shrink": 0.008, "found": 0.004,
         "damage": 0.01}
WRONG = {"phantom": {"shortage": 0.22, "mismatch": 0.05, "shrink_after_shortage": 0.3},
         "adjust_only": {"adjust": 0.12}}


def ts(day, seconds):
    t = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def poisson(rng, lam):
    if lam > 30:
        return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))
    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--days", type=int, default=35)
    ap.add_argument("--end", default="2026-11-20")
    ap.add_argument("--cycle-days", default="30,60,120",
                    help="days between counts of an A, B and C SKU-location (larger: fewer "
                         "counts, so the evidence must come from picks)")
    a = ap.parse_args()
    cycle = dict(zip("ABC", (float(x) for x in a.cycle_days.split(","))))
    rng = random.Random(a.seed)
    end = dt.date.fromisoformat(a.end)
    days = [end - dt.timedelta(days=a.days - 1 - i) for i in range(a.days)]
    exports = os.path.join(a.out, "exports")
    truth_dir = os.path.join(a.out, "ground_truth")
    os.makedirs(exports, exist_ok=True)
    os.makedirs(truth_dir, exist_ok=True)

    n_slots = max(200, int(6000 * a.scale))
    warehouses = ["BB-NORTH", "BB-SOUTH"]
    slots = []
    for i in range(n_slots):
        wh = warehouses[i % 2]
        rate = math.exp(rng.gauss(0.0, 1.4)) * 0.5  # picks per day, heavy-tailed
        slots.append({
            "wh": wh, "loc": f"{wh[3]}-{rng.choice('ABCDEF')}{i:05d}", "sku": f"BB{i:06d}",
            "rate": rate, "cost": round(math.exp(rng.gauss(2.5, 1.0)), 2),
            "qty": rng.randint(20, 200), "kind": None, "onset": days[0],
            "empty_days": set(), "last_count": None,
        })
    # ABC by pick rate: top 20% A, next 30% B, the rest C.
    by_rate = sorted(range(n_slots), key=lambda k: -slots[k]["rate"])
    for r, k in enumerate(by_rate):
        slots[k]["abc"] = "A" if r < 0.2 * n_slots else ("B" if r < 0.5 * n_slots else "C")
    wrong = rng.sample(range(n_slots), max(10, int(0.03 * n_slots)))
    for j, k in enumerate(wrong):
        s = slots[k]
        s["kind"] = ["phantom", "phantom", "adjust_only", "late"][j % 4]
        if s["kind"] == "late":
            s["onset"] = days[int(a.days * 0.6) + rng.randrange(max(1, int(a.days * 0.4)))]

    out = {t: [] for t in EVENT_FILES}
    seq = [0]

    def nid(p):
        seq[0] += 1
        return f"{p}-{seq[0]:08d}"

    def exception(s, day, sec, etype):
        x = nid("X")
        for status, later in (("open", 0), ("resolved", 3600 + rng.randrange(7200))):
            out["exception_events"].append([nid("XE"), x, ts(day, sec + later), status, etype,
                                            "medium", "pickers", s["wh"], s["loc"], s["sku"]])

    def adjust(s, day, sec, delta, reason):
        out["adjustments"].append([nid("AD"), s["wh"], s["loc"], s["sku"], delta, reason,
                                   ts(day, sec), f"u{rng.randrange(40)}"])

    for day in days:
        for s in slots:
            wrong_now = s["kind"] is not None and day >= s["onset"]
            kind = "phantom" if s["kind"] == "late" else s["kind"]
            # A lagging replenishment empties a busy bin on some days (the record sees it).
            empty = rng.random() < min(0.1, 0.005 * s["rate"])
            if empty:
                s["empty_days"].add(day)
            picks = poisson(rng, s["rate"])
            for _ in range(picks):
                sec = rng.randrange(6 * 3600, 22 * 3600)
                order = nid("O")
                qty = rng.randint(1, 4)
                short = False
                if empty and rng.random() < 0.5:
                    short = True  # the bin is really empty: an innocent shortage
                elif rng.random() < NOISE["shortage"]:
                    short = True
                elif wrong_now and kind == "phantom" and rng.random() < WRONG["phantom"]["shortage"]:
                    short = True
                    if rng.random() < WRONG["phantom"]["shrink_after_shortage"]:
                        adjust(s, day, sec + 1800, -rng.randint(1, 5), "shrink")
                out["order_lines"].append([order, "1", s["sku"], rng.choice(["web", "b2b"]),
                                           s["wh"], ts(day, sec - 3600), ts(day, sec + 7200),
                                           qty, qty if short else 0,
                                           "stockout" if short else "", ts(day, sec)])
                if short:
                    exception(s, day, sec, "pick_shortage")
                else:
                    out["shipments"].append([nid("SE"), nid("S"), order, "1", s["sku"], s["wh"],
                                             s["loc"], qty, ts(day, sec), "UPS"])
                mismatch = NOISE["mismatch"] + (WRONG["phantom"]["mismatch"]
                                                if wrong_now and kind == "phantom" else 0)
                if rng.random() < mismatch:
                    exception(s, day, sec + 60, rng.choice(["bin_mismatch", "unscannable"]))
                if rng.random() < NOISE["shrink"]:
                    adjust(s, day, sec + 120, -rng.randint(1, 3), "shrink")
                if rng.random() < NOISE["found"]:
                    adjust(s, day, sec + 120, rng.randint(1, 3), "found")
                if rng.random() < NOISE["damage"]:
                    adjust(s, day, sec + 120, -1, "damage")
                if wrong_now and kind == "adjust_only" and rng.random() < WRONG["adjust_only"]["adjust"]:
                    adjust(s, day, sec + 300, rng.choice([-4, -3, -2, 2, 3]),
                           rng.choice(["other", "shrink", "found"]))
            # Cycle counts on the ABC schedule.
            if rng.random() < 1.0 / cycle[s["abc"]]:
                sec = rng.randrange(5 * 3600, 7 * 3600)
                system = s["qty"]
                if wrong_now and rng.random() < 0.8:
                    counted = max(0, system - rng.randint(1, 10))
                elif rng.random() < 0.03:
                    counted = max(0, system + rng.choice([-2, -1, 1]))
                else:
                    counted = system
                out["cycle_counts"].append([nid("CE"), nid("C"), s["wh"], s["loc"], s["sku"],
                                            system, counted, ts(day, sec), f"c{rng.randrange(9)}"])
                if counted != system:
                    adjust(s, day, sec + 600, counted - system, "count_correction")
            out["inventory_snapshots"].append([ts(day, 23 * 3600 + 59 * 60), s["wh"], s["loc"],
                                               s["sku"], "available",
                                               0 if empty else s["qty"]])

    for table, cols in EVENT_FILES.items():
        with open(os.path.join(exports, f"{table}.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            w.writerows(out[table])
    stamp = ts(days[0] - dt.timedelta(days=400), 0)
    with open(os.path.join(exports, "items.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sku", "description", "family", "supplier_id", "unit_cost", "abc_class",
                    "updated_at"])
        for s in slots:
            w.writerow([s["sku"], f"item {s['sku']}", "general", f"SUP{int(s['sku'][2:]) % 25:02d}",
                        s["cost"], s["abc"], stamp])
    with open(os.path.join(exports, "locations.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["location_id", "warehouse_id", "zone", "location_type", "updated_at"])
        for s in slots:
            w.writerow([s["loc"], s["wh"], s["loc"][2], "pick", stamp])
    with open(os.path.join(truth_dir, "record_errors.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["warehouse_id", "location_id", "sku", "kind", "onset"])
        for k in sorted(wrong):
            s = slots[k]
            w.writerow([s["wh"], s["loc"], s["sku"], s["kind"], s["onset"].isoformat()])
    print(f"{n_slots} SKU-locations, {len(wrong)} wrong records, "
          f"{len(out['shipments'])} shipments, {len(out['exception_events'])} exception events")


if __name__ == "__main__":
    main()
