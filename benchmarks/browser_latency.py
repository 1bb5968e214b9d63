"""How fast the notebooks feel in a real JupyterLab, or in the classroom view, in a real browser (headless Chromium).

For every notebooks/*.ipynb: the wall time of Run -> Run All Cells (click to every
widget rendered and every figure drawn), and for every slider of every live figure the
keypress-to-new-pixels latency: the time from the keydown event (its timestamp in the
page) to the first animation frame in which the figure's canvas (or image) shows new
pixels, over --presses arrow-key presses from the slider's default value (median, p90).

Run from the repository root:

    python -m benchmarks.browser_latency                 # all notebooks, 15 presses per slider
    python -m benchmarks.browser_latency --presses 30 notebooks/02_sigmoid_saturation.ipynb
    python -m benchmarks.browser_latency --rounds 3      # three rounds, pooled
    python -m benchmarks.browser_latency --ui present    # the classroom view (python course.py present)
    python -m benchmarks.browser_latency --ui both       # JupyterLab, then the classroom view: side by side

On a shared 2-core machine one round's medians can differ from the next by a third;
with --rounds N the whole measurement runs N times (a fresh server and browser each)
and each slider's median and p90 are taken over the presses of all rounds, with the
N single-round medians shown beside them. Before and after each round the machine's
speed is taken with a fixed task (a bare Agg draw of a 30-point semilogy figure), so
that rounds from a slow hour can be told from slow code.

In the classroom view each notebook gets its own Voila server, started as `python course.py
present NN` starts it, and the page is 1280 x 720; "Run All s" is then the time from asking
for the page (Voila runs every cell before it shows it) to every widget drawn.

Prints a table and writes benchmarks/results/browser_latency.json (the classroom view:
browser_latency_present.json; --ui both writes both and prints the two medians of each
slider side by side). Uses the harness of the browser tests (tests/browser_harness.py):
needs Chromium at /usr/bin/chromium.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tests import browser_harness as bh

RESULTS = bh.REPO_ROOT / "benchmarks" / "results" / "browser_latency.json"
RESULTS_PRESENT = RESULTS.with_name("browser_latency_present.json")


def _versions() -> dict:
    out = {}
    for pkg in ("jupyterlab", "notebook", "voila", "ipywidgets", "ipympl", "ipykernel", "matplotlib", "torch",
                "playwright"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    exe = bh.find_chromium()
    if exe:
        try:
            out["chromium"] = subprocess.run([exe, "--version"], capture_output=True, text=True,
                                             timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out["chromium"] = None
    return out


def reference_draw_ms(repeats: int = 30) -> float:
    """Median time of one Agg draw of a 30-point semilogy figure (7 x 3.4 in, 100 dpi), in
    this process: the machine's speed now, to read a round's latencies against."""
    fig = Figure(figsize=(7.0, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.semilogy(np.arange(30), 0.5 ** np.arange(30), marker="o")
    fig.canvas.draw()  # fonts and caches, as a live figure has them
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fig.canvas.draw()
        times.append((time.perf_counter() - t0) * 1e3)
    return round(statistics.median(times), 1)


def _fmt(ms) -> str:
    return "-" if ms is None else f"{ms:.0f}"


def _pages(notebooks: list[Path], ui: str, browser: bh.Browser):
    """(notebook, its page, not yet opened, seconds its server took to start) for each notebook:
    one JupyterLab server for all of them ("lab", "classic"), or in the classroom view
    ("present") a Voila server for each, as `python course.py present` serves one notebook."""
    if ui == "present":
        for path in notebooks:
            t0 = time.monotonic()
            with bh.PresentServer(path) as server:
                yield path, bh.PresentPage(browser, server), time.monotonic() - t0
        return
    t0 = time.monotonic()
    with bh.LabServer() as server:
        started = time.monotonic() - t0
        for path in notebooks:
            yield path, bh.NotebookPage(browser, server, path, ui=ui), started
            started = 0.0  # counted once


def _measure_sliders(page: bh.NotebookPage, presses: int) -> list[dict]:
    """slider_latencies for every slider of every live figure of an opened, run page."""
    rows = []
    for fig in page.live_figures():
        fig.scroll_into_view()
        kind = "canvas" if fig.summary.get("canvases") else "img"
        for slider in fig.sliders():
            stats = bh.slider_latencies(fig, slider, presses)
            stats.update(figure=fig.number, cell=fig.cell_index + 1, figure_kind=kind,
                         pixel_read_ms=round(fig.pixel_read_ms(), 2))
            for key in ("median_ms", "p90_ms", "max_ms"):
                if stats[key] is not None:
                    stats[key] = round(stats[key], 1)
            stats["problems"] = [str(p) for p in page.take_problems()]
            rows.append(stats)
            print(f"  figure {fig.number} {stats['slider']!r}: median {_fmt(stats['median_ms'])} ms,"
                  f" p90 {_fmt(stats['p90_ms'])} ms, misses {stats['misses']}", flush=True)
    return rows


def measure(notebooks: list[Path], presses: int, ui: str = "lab") -> dict:
    """One round: open and run each notebook in `ui`, then measure every slider. In the
    classroom view "Run All s" is from asking for the page to every widget drawn (Voila
    runs the notebook as it sends the page)."""
    results = []
    reference_before = reference_draw_ms()
    t_start = time.monotonic()
    with bh.Browser() as browser:
        startup_s = time.monotonic() - t_start
        for path, page, server_s in _pages(notebooks, ui, browser):
            startup_s += server_s
            print(f"{path.name}: opening in {ui} ...", flush=True)
            entry = {"notebook": path.name, "ui": ui, "sliders": []}
            try:
                page.open()
                page.run_all()
                entry.update({k: round(v, 2) for k, v in page.timings.items()})
                entry["problems_after_run_all"] = [str(p) for p in page.take_problems(settle_s=0.3)]
                entry["sliders"] = _measure_sliders(page, presses)
            except Exception as err:  # keep measuring the other notebooks
                entry["error"] = repr(err)
                print(f"  error: {err!r}", file=sys.stderr, flush=True)
            finally:
                page.close()
            results.append(entry)
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.browser_latency", *sys.argv[1:]]),
        "ui": ui,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "versions": _versions(),
        "presses_per_slider": presses,
        "reference_draw_ms": {"before": reference_before, "after": reference_draw_ms()},
        "server_and_browser_start_s": round(startup_s, 2),
        "total_s": round(time.monotonic() - t_start, 2),
        "latency_definition": "keydown event timestamp -> first requestAnimationFrame in which the "
                              "figure's pixels differ (canvas toDataURL(), or an img's decoded pixels); "
                              "arrow keys from the slider's default value, waiting for the figure to be "
                              "still between presses. The pixels are read in the first frame after a paint "
                              "(canvas drawImage/putImageData, img load) and every 250 ms; pixel_read_ms "
                              "is what one read costs, so a latency is late by up to that.",
        "notebooks": results,
    }


def pooled(rounds: list[dict]) -> list[dict]:
    """One row per slider over all rounds: median and p90 of every press, and each round's median."""
    rows = {}
    for report in rounds:
        for nb in report["notebooks"]:
            for s in nb["sliders"]:
                key = (nb["notebook"], s["figure"], s["slider"])
                row = rows.setdefault(key, {"notebook": nb["notebook"], "figure": s["figure"], "slider": s["slider"],
                                            "latencies_ms": [], "round_medians_ms": [], "misses": 0})
                row["latencies_ms"] += s["latencies_ms"]
                row["round_medians_ms"].append(s["median_ms"])
                row["misses"] += s["misses"]
    for row in rows.values():
        lat = row["latencies_ms"]
        row.update(median_ms=round(statistics.median(lat), 1) if lat else None,
                   p90_ms=round(bh.percentile(lat, 90), 1) if lat else None)
    return list(rows.values())


def print_pooled(report: dict) -> None:
    print(f"\n{'notebook':<34} {'fig':>3} {'slider':<24} {'n':>3} {'median ms':>9} {'p90 ms':>7}  round medians")
    for r in report["pooled"]:
        rounds = " ".join(_fmt(m) for m in r["round_medians_ms"])
        print(f"{r['notebook']:<34} {r['figure']:>3} {r['slider'][:24]:<24} {len(r['latencies_ms']):>3}"
              f" {_fmt(r['median_ms']):>9} {_fmt(r['p90_ms']):>7}  {rounds}")
    refs = ", ".join(f"{ref['before']}/{ref['after']}" for ref in report["reference_draw_ms"])
    print(f"reference Agg draw per round, before/after (ms): {refs}")


def print_table(report: dict) -> None:
    print()
    print(f"{'notebook':<34} {'kernel ready s':>14} {'Run All s':>10}")
    for nb in report["notebooks"]:
        print(f"{nb['notebook']:<34} {nb.get('open_to_kernel_ready_s', '-'):>14} {nb.get('run_all_s', '-'):>10}"
              + (f"  ERROR {nb['error']}" if nb.get("error") else ""))
    print()
    print(f"{'notebook':<34} {'fig':>3} {'slider':<24} {'kind':<6} {'n':>3} {'median ms':>9} {'p90 ms':>7}"
          f" {'max ms':>7} {'miss':>4}")
    for nb in report["notebooks"]:
        for s in nb["sliders"]:
            print(f"{nb['notebook']:<34} {s['figure']:>3} {s['slider'][:24]:<24} {s['figure_kind']:<6}"
                  f" {len(s['latencies_ms']):>3} {_fmt(s['median_ms']):>9} {_fmt(s['p90_ms']):>7}"
                  f" {_fmt(s['max_ms']):>7} {s['misses']:>4}")
    ref = report["reference_draw_ms"]
    print(f"\nserver + browser start {report['server_and_browser_start_s']} s, total {report['total_s']} s;"
          f" reference Agg draw {ref['before']} ms before, {ref['after']} ms after")


def slider_medians(report: dict) -> dict:
    """(notebook, figure, slider) -> median ms: pooled over the rounds if there were several."""
    if "pooled" in report:
        return {(r["notebook"], r["figure"], r["slider"]): r["median_ms"] for r in report["pooled"]}
    return {(nb["notebook"], s["figure"], s["slider"]): s["median_ms"]
            for nb in report["notebooks"] for s in nb["sliders"]}


def print_side_by_side(lab: dict, present: dict) -> None:
    """One row per slider: its median keypress-to-pixels latency in JupyterLab and in the
    classroom view (a slider only one of them has shows "-" for the other)."""
    lab_ms, present_ms = slider_medians(lab), slider_medians(present)
    print(f"\n{'notebook':<34} {'fig':>3} {'slider':<24} {'lab ms':>7} {'present ms':>10}")
    for key in list(lab_ms) + [k for k in present_ms if k not in lab_ms]:
        notebook, figure, slider = key
        print(f"{notebook:<34} {figure:>3} {slider[:24]:<24} {_fmt(lab_ms.get(key)):>7}"
              f" {_fmt(present_ms.get(key)):>10}")


def run_rounds(notebooks: list[Path], presses: int, rounds: int, ui: str) -> dict:
    """`rounds` measurements in `ui`, each printed; one report (presses pooled if several)."""
    reports = []
    for i in range(rounds):
        if rounds > 1:
            print(f"round {i + 1} of {rounds} ({ui})", flush=True)
        reports.append(measure(notebooks, presses, ui))
        print_table(reports[-1])
    report = reports[0]
    if rounds > 1:
        report = {key: value for key, value in reports[0].items() if key != "notebooks"}
        report.update(rounds=[r["notebooks"] for r in reports], pooled=pooled(reports),
                      reference_draw_ms=[r["reference_draw_ms"] for r in reports],
                      total_s=round(sum(r["total_s"] for r in reports), 2))
        print_pooled(report)
    return report


def results_path(out: Path | None, ui: str, both: bool) -> Path:
    """Where a report goes: --out, else browser_latency.json (JupyterLab, Notebook 7) or
    browser_latency_present.json (the classroom view). With --ui both, --out names the
    JupyterLab file and the classroom view's goes beside it with "_present" added."""
    if ui != "present":
        return out or RESULTS
    if out is None:
        return RESULTS_PRESENT
    return out.with_name(f"{out.stem}_present{out.suffix}") if both else out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    ap.add_argument("--presses", type=int, default=15, help="arrow-key presses per slider (default 15)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the whole measurement, pool the presses")
    ap.add_argument("--ui", choices=("lab", "classic", "present", "both"), default="lab",
                    help="present: the classroom view (Voila); both: lab, then present, side by side")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"JSON file (default {RESULTS.relative_to(bh.REPO_ROOT)}, "
                         f"{RESULTS_PRESENT.relative_to(bh.REPO_ROOT)} for the classroom view)")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1, got {args.rounds}")
    if not bh.find_chromium():
        print("no Chromium at /usr/bin/chromium or on PATH (apt-get install chromium)", file=sys.stderr)
        return 1
    notebooks = bh.select_notebooks(args.notebooks)
    if isinstance(notebooks, int):
        return notebooks
    both = args.ui == "both"
    reports = {}
    for ui in ("lab", "present") if both else (args.ui,):
        reports[ui] = run_rounds(notebooks, args.presses, args.rounds, ui)
        out = results_path(args.out, ui, both)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(reports[ui], indent=2) + "\n")
        print(f"wrote {out}")
    if both:
        print_side_by_side(reports["lab"], reports["present"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
