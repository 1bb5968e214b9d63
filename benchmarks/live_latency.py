"""Per-update latency of every live figure, in the kernel: recompute + in-place redraw to pixels.

    python -m benchmarks.live_latency            # prints a table, writes benchmarks/results/live_latency.json

For each figure and each control, the control is moved back and forth between two
neighbouring values at its default, its minimum and its maximum; each move is one
update (compute, set artists' data, Agg draw of the whole canvas). "image" mode adds
the PNG encoding of the fallback used when ipympl is unavailable. Medians and p95
in milliseconds. The browser adds transport and painting on top: see browser_latency.
"""
import json
import sys
import time
from pathlib import Path

import ipywidgets as W
import numpy as np

from helpers import live

FIGURES = {"00": [live.repeated_product], "01": [live.chain_product],
           "02": [live.saturation, live.sigmoid_chain], "03": [live.layer_gradients]}
REPEATS = 30
TARGET_MEDIAN_MS, TARGET_P95_MS = 50.0, 100.0
OUT = Path(__file__).resolve().parent / "results" / "live_latency.json"


def positions(control) -> dict:
    """Pairs of neighbouring values to alternate between, at the default and both ends."""
    if isinstance(control, W.Dropdown):
        options = list(control.options)
        return {"options": options}
    step = control.step
    lo, hi, mid = control.min, control.max, control.value
    pairs = {"default": [mid, mid + step if mid + step <= hi else mid - step],
             "min": [lo, lo + step], "max": [hi, hi - step]}
    if isinstance(control, W.FloatLogSlider):
        pairs = {k: [control.base ** v if k != "default" else v for v in vals] for k, vals in pairs.items()}
        pairs["default"] = [mid, mid * control.base ** step]
    return pairs


def time_updates(lf, control, values: list) -> np.ndarray:
    """Milliseconds per update, cycling through `values` REPEATS times."""
    times = []
    for i in range(REPEATS):
        value = values[i % len(values)]
        t0 = time.perf_counter()
        control.value = value
        times.append((time.perf_counter() - t0) * 1e3)
        assert lf.last_error is None, lf.last_error
    return np.array(times)


def measure(mode: str) -> list:
    rows = []
    for notebook, makers in FIGURES.items():
        for make in makers:
            lf = make(mode=mode)
            for name, control in lf.controls.items():
                default = control.value
                for where, values in positions(control).items():
                    control.value = values[0]
                    ms = time_updates(lf, control, values)
                    rows.append(dict(notebook=notebook, figure=make.__name__, control=name, where=where,
                                     mode=mode, median_ms=float(np.median(ms)),
                                     p95_ms=float(np.percentile(ms, 95))))
                control.value = default
    return rows


def main() -> int:
    rows = measure("agg") + measure("image")
    print(f"{'nb':<3} {'figure':<17} {'control':<11} {'where':<8} {'mode':<6} {'median':>7} {'p95':>7}  (ms)")
    for r in rows:
        print(f"{r['notebook']:<3} {r['figure']:<17} {r['control']:<11} {r['where']:<8} {r['mode']:<6} "
              f"{r['median_ms']:7.1f} {r['p95_ms']:7.1f}")
    for mode in ("agg", "image"):
        sel = [r for r in rows if r["mode"] == mode]
        worst_med = max(r["median_ms"] for r in sel)
        worst_p95 = max(r["p95_ms"] for r in sel)
        print(f"{mode}: worst median {worst_med:.1f} ms (target {TARGET_MEDIAN_MS:.0f}), "
              f"worst p95 {worst_p95:.1f} ms (target {TARGET_P95_MS:.0f})")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
