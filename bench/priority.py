#!/usr/bin/env python3
"""Benchmark of the cycle-count priority against its baselines, on generated operations.

For each (generator, seed, scale): generate, `opintel ingest`, then
`opintel evaluate-priority` against the planted ground truth (as of the last day) and
`opintel backtest-priority` (as of 14 days before the last day, horizon 14), each once
with the weights fitted on the lake's history up to the as-of date (`score`) and once
with the documented weights (`score_defaults`, `--default-weights`). Writes a markdown
table of precision@50 (and @200) per method to --out.

Generators: `opintel` (`opintel generate`), `busy` (bench/gen_busy.py: heavy-tailed
picking, innocent noise in proportion to picks, wrong records seen through per-pick
rates, adjustments only, or from mid-history) and `sparse` (the same with counts every
90 / 180 / 365 days, so little evidence comes from counts).

    python3 bench/priority.py --opintel target/release/opintel --out bench/priority.md

Standard library only; the work folder holds the generated data (default
/tmp/opintel-priority-bench).
"""

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys

METHODS = ["score", "random", "abc_overdue", "rule_ladder", "largest_last_variance",
           "most_exceptions"]
COLUMNS = ["score", "score_defaults"] + METHODS[1:]
HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode not in (0, 3):  # 3 = published with warnings (the noise is on purpose)
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr}")
    return r


def precision(e, method, k):
    if method == "score_defaults":
        e, method = e["defaults"], "score"
    for s in e["scores"]:
        if s["method"] == method and s["k"] == k:
            return s["precision"]
    return float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--opintel", default="target/release/opintel")
    ap.add_argument("--work", default="/tmp/opintel-priority-bench")
    ap.add_argument("--runs", default="opintel:42:1,opintel:1:1,opintel:7:1,opintel:3:0.5,"
                                      "opintel:5:2,busy:1:1,busy:2:1,busy:3:0.5,sparse:4:1,"
                                      "sparse:5:1,sparse:6:2",
                    help="generator:seed:scale triples, comma separated")
    ap.add_argument("--days", type=int, default=35)
    ap.add_argument("--end", default="2026-11-20")
    ap.add_argument("--horizon", type=int, default=14)
    ap.add_argument("--out", default="bench/priority.md")
    a = ap.parse_args()
    exe = os.path.abspath(a.opintel)
    end = dt.date.fromisoformat(a.end)
    bt_as_of = (end - dt.timedelta(days=a.horizon)).isoformat()
    rows = []
    for triple in a.runs.split(","):
        gen, seed, scale = triple.split(":")
        d = os.path.join(a.work, f"{gen}-seed{seed}-scale{scale}")
        shutil.rmtree(d, ignore_errors=True)
        lake = os.path.join(d, "lake")
        if gen == "opintel":
            exports = os.path.join(d, "exports")
            run([exe, "-q", "generate", "--out", exports, "--seed", seed, "--scale", scale,
                 "--days", str(a.days), "--end", a.end])
            run([exe, "-q", "--config", os.path.join(exports, "opintel.toml"), "ingest",
                 "--lake", lake, os.path.join(exports, "exports")])
            truth = os.path.join(exports, "ground_truth", "record_errors.csv")
        else:
            cycle = ["--cycle-days", "90,180,365"] if gen == "sparse" else []
            run([sys.executable, os.path.join(HERE, "gen_busy.py"), "--out", d, "--seed", seed,
                 "--scale", scale, "--days", str(a.days), "--end", a.end] + cycle)
            run([exe, "-q", "ingest", "--lake", lake, os.path.join(d, "exports")])
            truth = os.path.join(d, "ground_truth", "record_errors.csv")
        evals = {}
        for weights, flag in (("fitted", []), ("defaults", ["--default-weights"])):
            t_out = os.path.join(d, f"truth-{weights}.json")
            b_out = os.path.join(d, f"backtest-{weights}.json")
            run([exe, "-q", "evaluate-priority", "--lake", lake, "--as-of", a.end, "--truth",
                 truth, "--out", t_out] + flag)
            run([exe, "-q", "backtest-priority", "--lake", lake, "--as-of", bt_as_of,
                 "--horizon", str(a.horizon), "--out", b_out] + flag)
            evals[weights] = (json.load(open(t_out)), json.load(open(b_out)))
        t, b = evals["fitted"]
        t["defaults"], b["defaults"] = evals["defaults"]
        rows.append((gen, seed, scale, t, b))
        print(f"{gen} seed {seed} scale {scale}: truth P@50 {precision(t, 'score', 50):.2f} "
              f"(defaults {precision(t, 'score_defaults', 50):.2f}), backtest P@50 "
              f"{precision(b, 'score', 50):.2f} (defaults {precision(b, 'score_defaults', 50):.2f}); "
              f"weights {t.get('weights', {}).get('status')}: {t.get('weights', {}).get('reason')}",
              file=sys.stderr)

    out = []
    out.append(f"Generated operations ({a.days} days to {a.end}); ground truth as of {a.end}, "
               f"backtest as of {bt_as_of} with a {a.horizon}-day horizon.\n")
    for title, idx in (("Against the planted ground truth", 3), ("Time-split backtest (no labels)", 4)):
        out.append(f"**{title}**: precision@50 (precision@200)\n")
        out.append("| generator | seed | scale | SKU-locations | positives | weights | " + " | ".join(COLUMNS) + " | score ÷ best baseline @50 |")
        out.append("|---|---|---|---:|---:|---|" + "---:|" * (len(COLUMNS) + 1))
        for r in rows:
            e = r[idx]
            cells = [f"{precision(e, m, 50):.2f} ({precision(e, m, 200):.2f})" for m in COLUMNS]
            status = (e.get("weights") or {}).get("status", "-")
            best = max(precision(e, m, 50) for m in METHODS[1:])
            ratio = precision(e, "score", 50) / best if best > 0 else float("inf")
            out.append(f"| {r[0]} | {r[1]} | {r[2]} | {e['candidates']:,} | {e['positives']:,} | {status} | " + " | ".join(cells) + f" | {ratio:.1f}× |")
        out.append("")
    text = "\n".join(out)
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
