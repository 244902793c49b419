#!/usr/bin/env python3
"""opintel benchmark driver (issue 7): opintel vs DuckDB vs Polars on one machine, one run.

For every scale it
  1. generates the sample operation (`opintel generate --scale S`) into WORK/data/scale-S
     (skipped with --skip-generate when the folder is already there);
  2. times, each as its own child process (wall time, user+sys CPU and peak RSS from
     os.wait4):
       opintel  ingest   `opintel ingest --lake L EXPORTS`
       opintel  kpi      `opintel run --lake L --as-of D --out O --kpis <4> --no-report`
       opintel  kpi_all  `opintel run --lake L --as-of D --out OA` (every KPI + report)
       opintel  whole    `opintel run --lake L2 --as-of D --out O2 EXPORTS` (fresh lake)
       duckdb   ingest   duck_job.py convert (exports -> typed zstd Parquet lake)
       duckdb   kpi      duck_job.py kpis on its own lake
       duckdb   kpi*     duck_job.py kpis on opintel's lake (same rows as opintel)
       polars   ingest / kpi / kpi*   the same with polars_job.py
     ("whole" for DuckDB and Polars = their ingest + kpi, two processes);
  3. checks every engine's KPI tables against opintel's `O/kpis/*.parquet` with
     tests/reference/compare_kpis.py (and O2 against O), and the lakes' row counts;
  4. writes a markdown report (--out) and the raw numbers (WORK/results.json).

Only the standard library is used here; the engines run in bench/duck_job.py and
bench/polars_job.py, whose packages this script installs from bench/requirements.txt.

    python3 bench/run.py --opintel /tmp/opintel-bin/opintel --scales 1,4,16
    python3 bench/run.py --render /tmp/opintel-bench/results.json   # report only
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
COMPARE = os.path.join(REPO, "tests", "reference", "compare_kpis.py")
REFERENCE = os.path.join(REPO, "tests", "reference", "kpis_duckdb.py")
KPIS = ["fill_rate", "exception_aging", "count_variance_by_zone",
        "count_variance_by_supplier"]
# Tables the four core KPIs read (the denominator of the KPI phase's rows/s).
KPI_TABLES = ["order_lines", "shipments", "cycle_counts", "exception_events", "items",
              "locations"]
ENGINES = ["opintel", "duckdb", "polars"]
PHASE_TITLE = {
    "ingest": "ingest: exports → Parquet lake",
    "kpi": "KPI phase on its own lake",
    "kpi_olake": "KPI phase on opintel's lake",
    "whole": "whole run (ingest + KPIs)",
    "kpi_all": "opintel: every KPI + backtest + checks + HTML/PNG report, no ingest",
    "whole4": "whole run, like for like: ingest + the four KPIs",
}


# ---------------------------------------------------------------------------------------
# Measuring one child process
# ---------------------------------------------------------------------------------------


def measure(cmd: list[str], log_prefix: str, env: dict | None = None,
            ok_codes=(0,)) -> dict:
    """Run `cmd` to completion; its wall time, user+sys CPU and peak RSS (ru_maxrss of
    this child and the descendants it waited for, from wait4). stdout/stderr go to
    `log_prefix`.out/.err.

    Linux carries the resident high-water mark of the address space a child had before
    exec (a copy of this driver's) into its ru_maxrss, so every peak RSS has a floor of
    the driver's own size (≈ 15–20 MiB; the start-up rows of the report show it)."""
    os.makedirs(os.path.dirname(log_prefix), exist_ok=True)
    # Flush the dirty pages of earlier phases first, so that their write-back (and the
    # fsyncs of the next phase waiting behind it) is not charged to this phase.
    os.sync()
    with open(log_prefix + ".out", "wb") as out, open(log_prefix + ".err", "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc          # already reaped: keep Popen from waiting again
    result = {
        "cmd": cmd, "rc": rc, "wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
        "cpu_s": ru.ru_utime + ru.ru_stime, "rss_mib": ru.ru_maxrss / 1024.0,  # KiB on Linux
        "log": log_prefix,
    }
    if rc not in ok_codes:
        tail = open(log_prefix + ".err", errors="replace").read()[-3000:]
        raise SystemExit(f"failed (exit {rc}): {' '.join(cmd)}\n{tail}")
    return result


# ---------------------------------------------------------------------------------------
# Facts about the machine, the versions and the generated data
# ---------------------------------------------------------------------------------------


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "kernel": platform.release(), "python": platform.python_version()}
    try:
        cpu = open("/proc/cpuinfo").read()
        m = re.search(r"^model name\s*:\s*(.+)$", cpu, re.M)
        info["cpu"] = m.group(1).strip() if m else "?"
        mem = open("/proc/meminfo").read()
        m = re.search(r"^MemTotal:\s*(\d+) kB", mem, re.M)
        info["ram_gib"] = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    except OSError:
        pass
    return info


def versions(opintel: str, python: str) -> dict:
    # `opintel --version` names the crate version only; the binary's size, time and
    # hash tell two builds apart.
    h = hashlib.sha256()
    with open(opintel, "rb") as fh:
        # Small chunks: the driver's own resident size is the floor of every child's
        # ru_maxrss (see measure()), so the driver stays small.
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    st = os.stat(opintel)
    v = {"opintel_binary": f"{opintel}, {st.st_size / 1e6:,.0f} MB, built "
                           f"{dt.datetime.fromtimestamp(st.st_mtime).isoformat(timespec='seconds')}"
                           f", sha256 {h.hexdigest()[:12]}"}
    try:
        r = subprocess.run([opintel, "--version"], capture_output=True, text=True, timeout=30)
        v["opintel"] = (r.stdout.strip() or r.stderr.strip().splitlines()[0]
                        if r.returncode == 0 else f"(no --version: exit {r.returncode})")
    except OSError as e:
        v["opintel"] = f"({e})"
    code = ("import duckdb, polars, pyarrow; "
            "print(duckdb.__version__, polars.__version__, pyarrow.__version__)")
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    v["duckdb"], v["polars"], v["pyarrow"] = r.stdout.split()
    return v


def data_facts(folder: str) -> dict:
    """Rows written and the period, from the generated README.md; bytes from the disk."""
    readme = open(os.path.join(folder, "README.md")).read()
    facts = {"rows_per_table": {}}
    for t, n in re.findall(r"^\| (\w+) \| (\d+) \|$", readme.split("## Noise")[0], re.M):
        if t == "total":
            facts["input_rows"] = int(n)
        else:
            facts["rows_per_table"][t] = int(n)
    m = re.search(r"Exports cover (\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d)", readme)
    facts["first_day"], facts["last_day"] = m.group(1), m.group(2)
    m = re.search(r"Invalid rows in total: (\d+)", readme)
    facts["invalid_rows"] = int(m.group(1)) if m else None
    files, size = 0, 0
    for root, _d, names in os.walk(os.path.join(folder, "exports")):
        for n in names:
            files += 1
            size += os.path.getsize(os.path.join(root, n))
    facts["files"], facts["input_bytes"] = files, size
    return facts


def warm_cache(folder: str) -> None:
    """Read every export once so that no engine pays for a cold page cache alone."""
    for root, _d, names in os.walk(folder):
        for n in names:
            with open(os.path.join(root, n), "rb") as fh:
                while fh.read(1 << 20):
                    pass


def fresh(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    return path


def compare(expected: str, actual: str, log: str, python: str) -> dict:
    r = subprocess.run([python, COMPARE, expected, actual, "--names", ",".join(KPIS)],
                       capture_output=True, text=True)
    with open(log, "w") as fh:
        fh.write(r.stdout + r.stderr)
    return {"pass": r.returncode == 0, "rc": r.returncode, "log": log,
            "summary": (r.stdout + r.stderr).strip().splitlines()[:40]}


def scale_name(s: float) -> str:
    return f"{s:g}"


def label(r: dict) -> str:
    """A scale's size relative to the base (1×, 4×, 16×)."""
    return f"{r.get('multiplier', r['scale']):g}×"


# ---------------------------------------------------------------------------------------
# The history axis (issue 17): one night's run on a lake of H days, for several H
# ---------------------------------------------------------------------------------------


def run_history(a) -> dict:
    """Generate max(H) + 1 nights once; for every H build a lake of the H nights before
    the last (one ingest per `--history-batch` nights), then time `opintel run` of the
    last night (its ingest + every KPI + backtest + checks + report) on a copy of that
    lake, `--history-runs` times. The same last night on every lake: only the history
    behind it differs."""
    days = sorted({int(x) for x in a.history.split(",") if x.strip()})
    data = os.path.join(a.work, "history", "data")
    logs = os.path.join(a.work, "history", "runs")
    res = {"scale": a.history_scale, "days": days, "batch": a.history_batch, "rows": []}
    if not (a.skip_generate and os.path.isfile(os.path.join(data, "README.md"))):
        res["generate"] = measure([a.opintel, "-q", "generate", "--out", fresh(data),
                                   "--days", str(max(days) + 1), "--scale",
                                   f"{a.history_scale:g}", "--seed", str(a.seed)],
                                  os.path.join(logs, "generate"))
    config = os.path.join(data, "opintel.toml")
    nights = sorted(os.path.join(data, "exports", n)
                    for n in os.listdir(os.path.join(data, "exports")))
    last = nights[-1]
    # The as-of date is the last night's (its folder's name), never the clock's
    # yesterday: once the generated data lies in the past, a run without --as-of would
    # be a stale feed's night with half a window of no data.
    as_of = a.as_of or os.path.basename(last)
    res["as_of"] = as_of
    # A year of nights is built in minutes, so no replaced state file would ever be
    # a week old: each ingest deletes the state files its upkeep replaced
    # (`[ingest] state_retain_hours`, a week by default) only after that many hours.
    # The build keeps them a second instead, and so leaves the lake a year of real
    # nights leaves: the live files and the last few nights' replaced ones, not a
    # year of them (3.5 GB beside 0.6 GB of lake at 365 days, copied before every
    # timed run). The timed runs use the generated config.
    build_config = os.path.join(data, "opintel-build.toml")
    with open(config) as src:
        text = src.read()
    if "[ingest]" in text:
        sys.exit(f"{config} has an [ingest] table: the build's retention cannot be added")
    with open(build_config, "w") as dst:
        dst.write(text + "\n[ingest]\nstate_retain_hours = 0.0003\n")
    warm_cache(data)
    for h in days:
        base = fresh(os.path.join(a.work, "history", f"lake-{h}"))
        before = nights[-1 - h:-1]
        t0 = time.perf_counter()
        for i in range(0, len(before), a.history_batch):
            measure([a.opintel, "-q", "--config", build_config, "ingest", "--lake", base]
                    + before[i:i + a.history_batch],
                    os.path.join(logs, f"build-{h}-{i}"), ok_codes=(0, 3))
        build_s = time.perf_counter() - t0
        runs = []
        for k in range(a.history_runs):
            lake = fresh(os.path.join(a.work, "history", f"run-{h}"))
            shutil.copytree(base, lake)
            # A nightly lake is not 600 MiB of pages just written: flush the copy, or
            # the ingest's commit (which syncs the file system) pays for writing it.
            os.sync()
            out = fresh(os.path.join(a.work, "history", f"out-{h}"))
            m = measure([a.opintel, "-q", "--config", config, "run", "--lake", lake,
                         "--as-of", as_of, "--out", out, last],
                        os.path.join(logs, f"run-{h}-{k}"),
                        ok_codes=(0, 3, 7))
            manifest = json.load(open(os.path.join(out, "manifest.json")))
            m["phases"] = {p["name"]: p["seconds"] for p in manifest["phases"]}
            m["kpis"] = {q["name"]: q["seconds"] for q in manifest.get("kpis", [])}
            runs.append(m)
        walls = sorted(r["wall_s"] for r in runs)
        res["rows"].append({"days": h, "build_s": build_s, "runs": runs,
                            "wall_min": walls[0], "wall_median": walls[len(walls) // 2],
                            "wall_max": walls[-1],
                            "rss_max": max(r["rss_mib"] for r in runs),
                            "lake_mib": du_mib(base)})
        print(f"history {h} days: run {walls[len(walls) // 2]:.2f} s (median of "
              f"{len(walls)}), peak {max(r['rss_mib'] for r in runs):.0f} MiB", flush=True)
        if not a.keep:
            shutil.rmtree(lake, ignore_errors=True)
    return res


def du_mib(path: str) -> float:
    total = 0
    for root, _d, names in os.walk(path):
        for n in names:
            total += os.path.getsize(os.path.join(root, n))
    return total / 2**20


def render_history(h: dict) -> list[str]:
    L = []
    w = L.append
    w("## History axis: one night on a lake of H days\n")
    w(f"`generate --scale {h['scale']:g}`, the lake built one ingest per {h['batch']} "
      "nights, then `opintel run` of the same last night (its ingest, every KPI, the "
      f"backtest, the checks and the report; as of {h.get('as_of', 'the clock')}) on a "
      "copy of it; wall time min / median / "
      f"max of {len(h['rows'][0]['runs']) if h['rows'] else 0} runs, peak RSS the "
      "highest. Ratio: median against the shortest history.\n")
    w("| history (days) | lake MiB | run wall s (min / median / max) | ratio | peak RSS MiB |"
      " slowest phases (median run) | slowest KPIs |")
    w("|---|---|---|---|---|---|---|")
    first = h["rows"][0]["wall_median"] if h["rows"] else 1.0
    for r in h["rows"]:
        med = sorted(r["runs"], key=lambda x: x["wall_s"])[len(r["runs"]) // 2]
        ph = sorted(((v, k) for k, v in med["phases"].items()
                     if k.startswith("queries.") or k in ("ingest", "report")), reverse=True)[:4]
        kp = sorted(((v, k) for k, v in med["kpis"].items()), reverse=True)[:4]
        w(f"| {r['days']} | {r['lake_mib']:.0f} | {r['wall_min']:.2f} / {r['wall_median']:.2f}"
          f" / {r['wall_max']:.2f} | {r['wall_median'] / first:.2f}× | {r['rss_max']:.0f} | "
          + ", ".join(f"{k} {v:.2f}" for v, k in ph) + " | "
          + ", ".join(f"{k} {v:.2f}" for v, k in kp) + " |")
    w("")
    return L


# ---------------------------------------------------------------------------------------
# One scale
# ---------------------------------------------------------------------------------------


def run_scale(s: float, a, python: str) -> dict:
    name = scale_name(s)
    data = os.path.join(a.work, "data", f"scale-{name}")
    runs = os.path.join(a.work, "runs", f"scale-{name}")
    logs = os.path.join(runs, "logs")
    os.makedirs(logs, exist_ok=True)
    res = {"scale": s, "phases": {}, "checks": {}, "notes": []}
    say = lambda m: print(f"[scale {name}] {m}", flush=True)  # noqa: E731

    if a.skip_generate and os.path.isfile(os.path.join(data, "README.md")):
        say(f"reusing {data}")
    else:
        say(f"generating into {data}")
        res["generate"] = measure([a.opintel, "-q", "generate", "--out", fresh(data),
                                   "--scale", str(s), "--seed", str(a.seed)],
                                  os.path.join(logs, "generate"))
    facts = data_facts(data)
    res["data"] = facts
    as_of = a.as_of or facts["last_day"]
    res["as_of"] = as_of
    exports = os.path.join(data, "exports")
    config = os.path.join(data, "opintel.toml")
    say(f"{facts['input_rows']:,} rows in {facts['files']} files, "
        f"{facts['input_bytes'] / 1e6:,.0f} MB; as-of {as_of}")
    warm_cache(exports)

    env = dict(os.environ)
    env.setdefault("OPINTEL_LOG", "warn")
    oi = [a.opintel, "-q", "--config", config]
    ph = res["phases"]
    lake_o, lake_o2 = os.path.join(runs, "lake-opintel"), os.path.join(runs, "lake-opintel-2")
    out_o, out_o2 = os.path.join(runs, "report-opintel"), os.path.join(runs, "report-opintel-2")
    # opintel exits 3 when it published but a file was not fully ingested: recorded, not
    # fatal (the report says so); anything else non-zero stops the benchmark.
    ok = (0, 3)

    say("opintel ingest")
    ph["opintel/ingest"] = measure(
        oi + ["ingest", "--lake", fresh(lake_o), "--report",
              os.path.join(runs, "opintel-ingest.json"), exports],
        os.path.join(logs, "opintel-ingest"), env, ok)
    # The competitors' KPI phase computes four tables and writes them: so does this one
    # (tables, CSV copies and manifest with its freshness check; no page, no charts).
    say("opintel run --kpis <the four core KPIs> --no-report (no ingest)")
    ph["opintel/kpi"] = measure(
        oi + ["run", "--lake", lake_o, "--as-of", as_of, "--out", fresh(out_o),
              "--kpis", ",".join(KPIS), "--no-report"],
        os.path.join(logs, "opintel-kpi"), env, ok)
    say("opintel run (every KPI + report, no ingest)")
    out_oa = os.path.join(runs, "report-opintel-all")
    ph["opintel/kpi_all"] = measure(
        oi + ["run", "--lake", lake_o, "--as-of", as_of, "--out", fresh(out_oa)],
        os.path.join(logs, "opintel-kpi-all"), env, ok)
    say("opintel run (whole nightly run, fresh lake)")
    ph["opintel/whole"] = measure(
        oi + ["run", "--lake", fresh(lake_o2), "--as-of", as_of, "--out", fresh(out_o2),
              exports],
        os.path.join(logs, "opintel-whole"), env, ok)
    res["opintel_manifest"] = {"kpi": manifest_summary(out_o),
                               "kpi_all": manifest_summary(out_oa),
                               "whole": manifest_summary(out_o2)}
    # Like for like with the competitors' "whole" (ingest + the four KPIs, 2 processes).
    ph["opintel/whole4"] = two_processes(ph["opintel/ingest"], ph["opintel/kpi"])
    for k in ("opintel/ingest", "opintel/kpi", "opintel/kpi_all", "opintel/whole"):
        if ph[k]["rc"] != 0:
            res["notes"].append(f"{k} exited {ph[k]['rc']} (published, partly): see "
                                f"{ph[k]['log']}.err")

    threads = ["--threads", str(a.threads)]
    kpi_out = {}
    for engine, job in (("duckdb", "duck_job.py"), ("polars", "polars_job.py")):
        script = os.path.join(BENCH, job)
        lake = os.path.join(runs, f"lake-{engine}")
        say(f"{engine} convert")
        ph[f"{engine}/ingest"] = measure(
            [python, script, "convert", "--exports", exports, "--config", config,
             "--lake", fresh(lake), "--json", os.path.join(runs, f"{engine}-convert.json")]
            + threads, os.path.join(logs, f"{engine}-convert"), env)
        for phase, src_lake in (("kpi", lake), ("kpi_olake", lake_o)):
            out = os.path.join(runs, f"kpis-{engine}-{phase}")
            say(f"{engine} KPIs on {'its own' if phase == 'kpi' else 'opintel’s'} lake")
            ph[f"{engine}/{phase}"] = measure(
                [python, script, "kpis", "--lake", src_lake, "--as-of", as_of,
                 "--out", fresh(out), "--json", os.path.join(runs, f"{engine}-{phase}.json")]
                + threads, os.path.join(logs, f"{engine}-{phase}"), env)
            kpi_out[f"{engine}/{phase}"] = out
        ph[f"{engine}/whole"] = two_processes(ph[f"{engine}/ingest"], ph[f"{engine}/kpi"])

    if a.reference:
        out = os.path.join(runs, "kpis-reference")
        say("reference (tests/reference/kpis_duckdb.py, 1 thread) on opintel's lake")
        ph["reference/kpi_olake"] = measure(
            [python, REFERENCE, "--lake", lake_o, "--as-of", as_of, "--out", fresh(out)],
            os.path.join(logs, "reference"), env)
        kpi_out["reference/kpi_olake"] = out

    say("checking KPI values against opintel's")
    actual = os.path.join(out_o, "kpis")
    for key, out in kpi_out.items():
        res["checks"][key] = compare(out, actual, os.path.join(logs, f"compare-{key.replace('/', '-')}.txt"), python)
    res["checks"]["opintel/whole"] = compare(
        os.path.join(out_o2, "kpis"), actual, os.path.join(logs, "compare-opintel-whole.txt"),
        python)
    for key, c in res["checks"].items():
        say(f"  {key}: {'pass' if c['pass'] else 'FAIL'}")

    say("counting lake rows")
    counts = {}
    for engine, lake in (("opintel", lake_o), ("duckdb", os.path.join(runs, "lake-duckdb")),
                         ("polars", os.path.join(runs, "lake-polars"))):
        j = os.path.join(runs, f"count-{engine}.json")
        subprocess.run([python, os.path.join(BENCH, "duck_job.py"), "count", "--lake", lake,
                        "--json", j] + threads, check=True)
        counts[engine] = json.load(open(j))["result"]
    res["lake_rows"] = counts
    res["lake_mb"] = {e: lake_mb(l, list(counts["opintel"])) for e, l in (
        ("opintel", lake_o), ("duckdb", os.path.join(runs, "lake-duckdb")),
        ("polars", os.path.join(runs, "lake-polars")))}
    res["lake_rows_kpi_tables"] = sum(counts["opintel"][t] for t in KPI_TABLES)
    try:
        res["opintel_ingest_report"] = summarize_ingest_report(
            json.load(open(os.path.join(runs, "opintel-ingest.json"))))
    except (OSError, ValueError, KeyError, TypeError) as e:
        res["notes"].append(f"could not read opintel's ingest report: {e}")
    if not a.keep:
        for path in (lake_o2, os.path.join(runs, "lake-duckdb"),
                     os.path.join(runs, "lake-polars")):
            shutil.rmtree(path, ignore_errors=True)
    return res


def lake_mb(lake: str, tables: list[str]) -> float:
    """Megabytes of the Parquet files of the canonical tables in a lake (opintel's
    _rejects and _opintel folders are not counted, nor the checkpoints in its tables'
    Delta logs). The benchmark's opintel lake is fresh (one ingest, never optimized), so
    every data file in its folders is one its Delta log lists."""
    size = 0
    for t in tables:
        for root, dirs, names in os.walk(os.path.join(lake, t)):
            dirs[:] = [d for d in dirs if d != "_delta_log"]
            size += sum(os.path.getsize(os.path.join(root, n)) for n in names
                        if n.endswith(".parquet"))
    return size / 1e6


def two_processes(first: dict, second: dict) -> dict:
    """A phase made of two measured processes run one after the other: times add up,
    the peak RSS is the larger one."""
    out = {"derived": True, "rc": 0, "rss_mib": max(first["rss_mib"], second["rss_mib"])}
    for k in ("wall_s", "cpu_s", "user_s", "sys_s"):
        if k in first and k in second:
            out[k] = first[k] + second[k]
    return out


def manifest_summary(report_dir: str) -> dict:
    """opintel's own timings of a run (manifest.json): seconds per phase and per KPI."""
    try:
        m = json.load(open(os.path.join(report_dir, "manifest.json")))
    except (OSError, ValueError):
        return {}
    return {"phases": {p["name"]: p["seconds"] for p in m.get("phases", [])},
            "kpi_seconds": {k["name"]: k.get("seconds") for k in m.get("kpis", [])
                            if isinstance(k, dict) and "name" in k},
            "warnings": m.get("warnings", [])[:10]}


def summarize_ingest_report(rep) -> dict:
    """Totals of rows read / accepted / rejected / duplicates from opintel's report,
    whatever its nesting: sums every per-file entry that has these keys."""
    totals = {"read": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    files = rep.get("files") if isinstance(rep, dict) else None
    for f in files or []:
        for k in totals:
            v = f.get(k, f.get(f"rows_{k}"))
            if isinstance(v, (int, float)):
                totals[k] += v
    return totals


# ---------------------------------------------------------------------------------------
# The markdown report
# ---------------------------------------------------------------------------------------


def fit(xs: list[float], ys: list[float]) -> tuple[float, float, float] | None:
    """Least squares y = a + b·x: (b, a, R²)."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys))
    return b, a, (1 - ss_res / ss_tot) if ss_tot else 1.0


def f2(x, digits=2) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def render(results: dict) -> str:
    m, v = results["machine"], results["versions"]
    L = []
    w = L.append
    w("# opintel benchmark: opintel vs DuckDB vs Polars\n")
    w(f"Run {results['started']} – {results['finished']} by `bench/run.py` "
      f"(`{results['command']}`). One run per phase, warm page cache (every export is read "
      "once before the timed phases). Details and how to read this: `bench/README.md`.\n")
    w("## Machine and versions\n")
    w("| | |\n|---|---|")
    w(f"| CPU | {m.get('cpu')} |")
    w(f"| cores (nproc / usable) | {m['nproc']} / {m['affinity']} |")
    w(f"| RAM | {m.get('ram_gib')} GiB |")
    w(f"| kernel, Python | {m['kernel']}, {m['python']} |")
    w(f"| threads per engine | {results['threads']} (opintel: DataFusion target_partitions = "
      f"cores, the default; DuckDB `SET threads`; Polars `POLARS_MAX_THREADS`) |")
    w(f"| opintel | {v['opintel']} ({v.get('opintel_binary', '')}) |")
    w(f"| DuckDB | {v['duckdb']} (Python) |")
    w(f"| Polars | {v['polars']} (Python) |")
    w(f"| pyarrow | {v['pyarrow']} (comparator only) |")
    st = results.get("startup", {})
    if st:
        w("| start-up cost in every child | " + ", ".join(
            f"{k}: {x['wall_s']:.2f} s, {x['rss_mib']:.0f} MiB" for k, x in st.items()) + " |")
    w("")
    if not results["scales"]:
        if results.get("history"):
            L += render_history(results["history"])
        return "\n".join(L)
    w("## Data\n")
    w("| size | generate --scale | as-of | files | input rows | input MB | invalid rows "
      "(rejects) | lake rows (opintel) | lake rows of the KPI tables | generate s |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for r in results["scales"]:
        d = r["data"]
        w(f"| {label(r)} | {scale_name(r['scale'])} | {r['as_of']} | {d['files']} | {d['input_rows']:,} | "
          f"{d['input_bytes'] / 1e6:,.0f} | {d.get('invalid_rows') or 0:,} | "
          f"{sum(r['lake_rows']['opintel'].values()):,} | {r['lake_rows_kpi_tables']:,} | "
          f"{f2(r.get('generate', {}).get('wall_s'), 1)} |")
    w("")

    for r in results["scales"]:
        rows_in, rows_kpi = r["data"]["input_rows"], r["lake_rows_kpi_tables"]
        w(f"## Size {label(r)} (generate --scale {scale_name(r['scale'])}): "
          f"{rows_in:,} input rows\n")
        w("| phase | engine | wall s | CPU s | CPU/wall | peak RSS MiB | rows/s | "
          "opintel/engine (wall) | KPIs = opintel's |")
        w("|---|---|---|---|---|---|---|---|---|")
        ph = r["phases"]
        for phase in ("ingest", "kpi", "kpi_olake", "whole4", "whole", "kpi_all"):
            base = ph.get(f"opintel/{phase}") or (ph.get("opintel/kpi") if phase == "kpi_olake" else None)
            if phase == "whole4":
                # The competitors' "whole" is ingest + four KPIs: compare with that.
                base = ph.get("opintel/whole4")
            for engine in ENGINES + ["reference"]:
                if phase == "whole4" and engine != "opintel":
                    continue
                x = ph.get(f"{engine}/{phase}")
                if x is None:
                    continue
                denom = rows_kpi if phase.startswith("kpi") else rows_in
                ratio = base["wall_s"] / x["wall_s"] if base and x["wall_s"] else None
                chk = r["checks"].get(f"{engine}/{phase}")
                if phase == "whole" and engine != "opintel":
                    chk = r["checks"].get(f"{engine}/kpi")
                if phase == "whole" and engine == "opintel":
                    chk = r["checks"].get("opintel/whole")
                mark = "—" if chk is None else ("pass" if chk["pass"] else "**FAIL**")
                title = PHASE_TITLE[phase]
                if engine == "opintel" and phase == "kpi":
                    title += " (opintel: `run --kpis` the four `--no-report`: tables, CSV, manifest, freshness)"
                if engine == "opintel" and phase == "whole":
                    title += " (opintel: the full nightly run: every KPI, backtest, checks, report)"
                if phase == "whole" and engine != "opintel":
                    ratio = (ph["opintel/whole4"]["wall_s"] / x["wall_s"]) if x["wall_s"] else None
                    title += "; ratio against opintel's like-for-like whole run"
                if x.get("derived"):
                    title += " (sum of 2 processes)"
                w(f"| {title} | {engine} | {x['wall_s']:.2f} | {x['cpu_s']:.2f} | "
                  f"{x['cpu_s'] / x['wall_s']:.2f} | {x['rss_mib']:,.0f} | "
                  f"{denom / x['wall_s']:,.0f} | "
                  f"{'—' if engine == 'opintel' else f2(ratio)} | {mark} |")
        w("")
        w("Lake rows per table (after validation and de-duplication):\n")
        w("| table | opintel | DuckDB | Polars |\n|---|---|---|---|")
        lr = r["lake_rows"]
        for t in lr["opintel"]:
            cells = [lr[e].get(t, 0) for e in ENGINES]
            flag = "" if len(set(cells)) == 1 else " ≠"
            w(f"| {t}{flag} | " + " | ".join(f"{c:,}" for c in cells) + " |")
        if r.get("lake_mb"):
            w("| *Parquet MB, all tables* | " + " | ".join(
                f"{r['lake_mb'].get(e, 0):,.1f}" for e in ENGINES) + " |")
        if r.get("opintel_ingest_report"):
            t = r["opintel_ingest_report"]
            w(f"\nopintel's ingest report: {t['read']:,} rows read = {t['accepted']:,} accepted "
              f"+ {t['rejected']:,} rejected + {t['duplicates']:,} duplicates.")
        for run, title in (("kpi", "four-KPI run"), ("kpi_all", "full KPI-phase run"), ("whole", "whole run")):
            man = r.get("opintel_manifest", {}).get(run) or {}
            if not man.get("phases"):
                continue
            ks = man.get("kpi_seconds", {})
            core = sum(ks.get(k) or 0 for k in KPIS)
            parts = ", ".join(f"{n} {t:.2f} s" for n, t in man["phases"].items())
            w(f"\nopintel's own timings of its {title} (manifest.json): {parts}; the "
              f"KPI queries {sum(v or 0 for v in ks.values()):.2f} s, of which the four core "
              f"KPIs {core:.2f} s (the rest of `queries` is registering the lake and gathering "
              + ("the freshness check)." if run == "kpi" else
                 "the report's inputs: freshness, and the tiles' KPI queries run again for the "
                 "previous window and every trend week)."))
            if man.get("warnings"):
                w(f"Warnings: {'; '.join(str(x) for x in man['warnings'][:3])}")
        fails = {k: c for k, c in r["checks"].items() if not c["pass"]}
        if fails:
            w("\nKPI mismatches (compare_kpis.py: expected = the engine, actual = opintel):\n")
            for k, c in fails.items():
                w(f"- `{k}` (full log: `{c['log']}`)\n\n```text")
                w("\n".join(c["summary"]))
                w("```")
        for n in r.get("notes", []):
            w(f"\nNote: {n}")
        w("")

    if len(results["scales"]) >= 2:
        w("## Growth with input size (least-squares fit of wall time on input rows)\n")
        w("| phase | engine | slope s per M rows | intercept s | R² | "
          "opintel slope / engine slope |")
        w("|---|---|---|---|---|---|")
        xs = [r["data"]["input_rows"] / 1e6 for r in results["scales"]]
        slopes = {}
        for phase in ("ingest", "kpi", "kpi_olake", "whole4", "whole"):
            for engine in ENGINES:
                key = f"{engine}/{phase}"
                if not all(key in r["phases"] for r in results["scales"]):
                    continue
                ys = [r["phases"][key]["wall_s"] for r in results["scales"]]
                slopes[key] = fit(xs, ys)
        for key, fr in slopes.items():
            engine, phase = key.split("/")
            if fr is None:
                continue
            base = slopes.get(f"opintel/{phase}") or (slopes.get("opintel/kpi")
                                                       if phase == "kpi_olake" else None)
            ratio = base[0] / fr[0] if base and fr[0] else None
            w(f"| {PHASE_TITLE[phase]} | {engine} | {fr[0]:.3f} | {fr[1]:.2f} | {fr[2]:.4f} | "
              f"{'—' if engine == 'opintel' else f2(ratio)} |")
        w("")
    w("## Peak RSS of the ingest phase per scale (MiB)\n")
    w("| size | input rows | opintel | DuckDB | Polars |\n|---|---|---|---|---|")
    for r in results["scales"]:
        cells = [r["phases"].get(f"{e}/ingest", {}).get("rss_mib") for e in ENGINES]
        w(f"| {label(r)} | {r['data']['input_rows']:,} | "
          + " | ".join(f2(c, 0) for c in cells) + " |")
    w("")
    allpass = all(c["pass"] for r in results["scales"] for c in r["checks"].values())
    w("## Verdict on KPI values\n")
    w("All engines produced the same four core KPI tables as opintel at every scale "
      "(compare_kpis.py: same columns and types, same rows, floats within 1e-9)."
      if allpass else
      "**Some KPI tables differ from opintel's**: see the mismatches above.")
    w("")
    if results.get("history"):
        L += render_history(results["history"])
    return "\n".join(L)


# ---------------------------------------------------------------------------------------


def main() -> int:
    p = argparse.ArgumentParser(description="opintel vs DuckDB vs Polars benchmark")
    p.add_argument("--opintel", default=os.path.join(REPO, "target", "release", "opintel"),
                   help="the opintel binary (default: target/release/opintel)")
    p.add_argument("--scales", default="1,4,16",
                   help="comma-separated size multipliers: generate --scale = base × multiplier")
    p.add_argument("--base-scale", type=float, default=3.0,
                   help="generate --scale of multiplier 1 (default 3 ≈ 2.1 M input rows, so "
                        "that 16× is ≈ 34 M)")
    p.add_argument("--work", default="/tmp/opintel-bench",
                   help="where data, lakes and logs go (never the repo)")
    p.add_argument("--out", default=os.path.join(BENCH, "results.md"), help="markdown report")
    p.add_argument("--as-of", help="as-of date (default: the generated data's last day)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--skip-generate", action="store_true",
                   help="reuse WORK/data/scale-S when it exists")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="threads for DuckDB and Polars (default: all cores, like opintel)")
    p.add_argument("--reference", action="store_true",
                   help="also run tests/reference/kpis_duckdb.py (1 thread) and compare it")
    p.add_argument("--keep", action="store_true",
                   help="keep every lake (default: keep only opintel's first lake)")
    p.add_argument("--no-install", action="store_true", help="do not pip install")
    p.add_argument("--python", default=sys.executable, help="Python for the engine jobs")
    p.add_argument("--render", metavar="JSON", help="only re-render a results.json")
    p.add_argument("--history", metavar="DAYS",
                   help="also the history axis: one night's run on lakes of these many days "
                        "(e.g. 35,365); --scales '' runs it alone")
    p.add_argument("--history-scale", type=float, default=1.0,
                   help="generate --scale of the history axis (default 1)")
    p.add_argument("--history-runs", type=int, default=3, help="timed runs per history")
    p.add_argument("--history-batch", type=int, default=31,
                   help="nights per ingest while building a history lake (default 31)")
    a = p.parse_args()

    if a.render:
        results = json.load(open(a.render))
        results.setdefault("finished", results["started"])
        open(a.out, "w").write(render(results))
        print(f"wrote {a.out}")
        return 0

    a.opintel = os.path.abspath(a.opintel)
    if not os.access(a.opintel, os.X_OK):
        raise SystemExit(f"{a.opintel}: no opintel binary (build with cargo build --release, "
                         "or pass --opintel PATH)")
    a.work = os.path.abspath(a.work)
    if os.path.commonpath([a.work, REPO]) == REPO:
        raise SystemExit("--work must be outside the repository (big data)")
    multipliers = [float(x) for x in a.scales.split(",") if x.strip()]
    # Rounded so that 3 × 0.1 names folder scale-0.3, not scale-0.30000000000000004.
    scales = [(m, round(a.base_scale * m, 6)) for m in multipliers]

    if not a.no_install:
        print("installing bench/requirements.txt with pip", flush=True)
        subprocess.run([a.python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-r", os.path.join(BENCH, "requirements.txt")], check=True)

    os.makedirs(a.work, exist_ok=True)
    results = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
        "machine": machine(), "versions": versions(a.opintel, a.python),
        "threads": a.threads, "base_scale": a.base_scale, "scales": [],
    }
    logs = os.path.join(a.work, "runs", "startup")
    results["startup"] = {
        "opintel --help": measure([a.opintel, "--help"], os.path.join(logs, "opintel")),
        "python + import duckdb": measure([a.python, "-c", "import duckdb"],
                                          os.path.join(logs, "duckdb")),
        "python + import polars": measure([a.python, "-c", "import polars"],
                                          os.path.join(logs, "polars")),
    }
    for mult, s in scales:
        r = run_scale(s, a, a.python)
        r["multiplier"] = mult
        results["scales"].append(r)
        results["finished"] = dt.datetime.now().isoformat(timespec="seconds")
        # Write after every scale: a long run leaves a usable report if it dies later.
        with open(os.path.join(a.work, "results.json"), "w") as fh:
            json.dump(results, fh, indent=1)
        with open(a.out, "w") as fh:
            fh.write(render(results))
    if a.history:
        results["history"] = run_history(a)
        results["finished"] = dt.datetime.now().isoformat(timespec="seconds")
        with open(os.path.join(a.work, "results.json"), "w") as fh:
            json.dump(results, fh, indent=1)
        with open(a.out, "w") as fh:
            fh.write(render(results))
    print(f"wrote {a.out} and {os.path.join(a.work, 'results.json')}")
    return 0 if all(c["pass"] for r in results["scales"] for c in r["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
