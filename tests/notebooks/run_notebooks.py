#!/usr/bin/env python3
"""Execute every analyst notebook in notebooks/ top to bottom and fail on any error.

    python3 tests/notebooks/run_notebooks.py --lake data/demo/lake --report reports/demo

Each notebook runs in a fresh `python3` kernel (nbclient), with OPINTEL_LAKE and
OPINTEL_REPORT set to the given lake (a folder or an s3:// URL, its credentials and endpoint
in the AWS_* environment variables, which the kernels inherit) and report folder, and the
notebooks folder as working directory.
A cell that raises, or runs longer than --timeout seconds, fails its notebook; the
runner prints the notebook, the cell number and the error, goes on with the other
notebooks, and exits 1 when any failed. Notebooks are committed without outputs: one
that has outputs or execution counts fails too (unless --allow-outputs), so diffs stay
clean (--clear strips them). Nothing is written back to the notebooks; --save DIR keeps the
executed copies.

Needs: nbclient, nbformat, ipykernel, polars, duckdb, pyarrow, deltalake (tests/requirements.txt).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lake", default=str(ROOT / "data/demo/lake"),
                   help="the Delta lake, a folder or an s3:// URL (OPINTEL_LAKE; default data/demo/lake)")
    p.add_argument("--report", type=Path, default=ROOT / "reports/demo",
                   help="the report folder with kpis/ and manifest.json (OPINTEL_REPORT; default reports/demo)")
    p.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                   help="folder of *.ipynb to run (default notebooks/)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.add_argument("--kernel", default="python3", help="kernel name (default python3)")
    p.add_argument("--save", type=Path, help="write the executed notebooks (with outputs) here")
    p.add_argument("--allow-outputs", action="store_true",
                   help="do not fail notebooks that were committed with outputs")
    p.add_argument("--clear", action="store_true",
                   help="only strip outputs and execution counts from the notebooks, in place, and exit")
    p.add_argument("names", nargs="*", help="only these notebooks (file names or stems)")
    return p.parse_args(argv)


def has_outputs(nb) -> list[int]:
    """Indices of code cells that carry outputs or an execution count."""
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]


def cell_error(nb, index: int | None) -> str:
    """The error output of a cell, as text (ANSI colours stripped)."""
    import re

    if index is None or index >= len(nb.cells):
        return ""
    lines = []
    for out in nb.cells[index].get("outputs", []):
        if out.get("output_type") == "error":
            lines.append(f"{out.get('ename')}: {out.get('evalue')}")
            lines.extend(out.get("traceback", [])[-6:])
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(lines))


def run_one(path: Path, args: argparse.Namespace) -> bool:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    ok = True
    dirty = has_outputs(nb)
    if dirty and not args.allow_outputs:
        print(f"FAIL {path.name}: committed with outputs in code cells {dirty[:10]} "
              "(clear them: python3 tests/notebooks/run_notebooks.py --clear)")
        ok = False

    client = NotebookClient(
        nb,
        timeout=args.timeout,
        kernel_name=args.kernel,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    # Which cell is running: nbclient executes in order, so remember the last started.
    current: dict[str, int | None] = {"index": None}
    client.on_cell_start = lambda cell, cell_index: current.__setitem__("index", cell_index)

    started = time.monotonic()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        ok = False
        i = current["index"]
        code_no = None if i is None else sum(1 for c in nb.cells[: i + 1] if c.cell_type == "code")
        src = "" if i is None else nb.cells[i].source
        head = "\n".join("    | " + line for line in src.splitlines()[:12])
        kind = type(e).__name__
        if isinstance(e, CellTimeoutError):
            kind += f" (ran longer than --timeout {args.timeout} s)"
        print(f"FAIL {path.name}: cell {i} (code cell {code_no}) raised {kind}")
        if head:
            print(head)
        detail = cell_error(nb, i) or str(e)
        print("\n".join("    " + line for line in detail.splitlines()[-25:]))
    except Exception:  # kernel could not start, bad notebook, …
        ok = False
        print(f"FAIL {path.name}: could not run")
        traceback.print_exc()
    elapsed = time.monotonic() - started

    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, args.save / path.name)
    if ok:
        print(f"ok   {path.name} ({elapsed:.1f} s)")
    return ok


def clear(paths: list[Path]) -> int:
    import nbformat

    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if not has_outputs(nb):
            continue
        for c in nb.cells:
            if c.cell_type == "code":
                c.outputs = []
                c.execution_count = None
        nbformat.write(nb, path)
        print(f"cleared {path}")
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.clear:
        return clear(sorted(args.notebooks.glob("*.ipynb")))
    # The lake may be an s3:// URL: passed on as it is (not a folder to check here; a
    # notebook that finds no table there fails and says so).
    lake = args.lake if "://" in args.lake else Path(args.lake).resolve()
    report = args.report.resolve()
    folders = [("report", report)] if isinstance(lake, str) else [("lake", lake), ("report", report)]
    for label, folder in folders:
        if not folder.is_dir():
            print(f"error: the {label} folder {folder} does not exist (run `opintel demo` first)",
                  file=sys.stderr)
            return 2
    # The kernels inherit this environment.
    os.environ["OPINTEL_LAKE"] = str(lake)
    os.environ["OPINTEL_REPORT"] = str(report)
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

    paths = sorted(args.notebooks.glob("*.ipynb"))
    if args.names:
        wanted = {Path(n).stem for n in args.names}
        paths = [p for p in paths if p.stem in wanted]
        missing = wanted - {p.stem for p in paths}
        if missing:
            print(f"error: no such notebook: {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    if not paths:
        print(f"error: no notebooks in {args.notebooks}", file=sys.stderr)
        return 2

    print(f"running {len(paths)} notebooks on lake {lake} and report {report}")
    passed = failed = 0
    for p in paths:
        if run_one(p, args):
            passed += 1
        else:
            failed += 1
    print(f"notebooks: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
