"""Run All wall time of every notebook in a fresh kernel, and of each cell that trains.

    python -m benchmarks.notebook_times                 # every notebook
    python -m benchmarks.notebook_times 04 05           # notebooks whose names start so

Executes a copy of each notebook (the stored files are not touched) with nbclient,
reporting the whole run (kernel start included) and every cell whose code calls
`train(`, i.e. the training demos. Writes benchmarks/results/notebook_times.json.
"""
import copy
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers.execute import NOTEBOOK_DIR

OUT = Path(__file__).resolve().parent / "results" / "notebook_times.json"


def seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return float("nan")
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (parse(end) - parse(start)).total_seconds()


def time_notebook(path: Path) -> dict:
    nb = copy.deepcopy(nbformat.read(path, as_version=4))
    client = NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - t0
    demos = [(i, seconds(c), c.source.splitlines()[0][:60]) for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and "train(" in c.source]
    return {"notebook": path.stem, "run_all_s": wall, "training_cells": demos}


def main(args: list) -> int:
    os.environ.pop("MPLBACKEND", None)
    paths = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if args:
        paths = [p for p in paths if any(p.name.startswith(a) for a in args)]
    rows = []
    for path in paths:
        row = time_notebook(path)
        rows.append(row)
        print(f"{row['notebook']:<28} Run All {row['run_all_s']:6.1f} s")
        for index, secs, first_line in row["training_cells"]:
            print(f"{'':<4}cell {index:>2}: {secs:5.1f} s  {first_line}")
    print(f"whole course: {sum(r['run_all_s'] for r in rows):.1f} s")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
