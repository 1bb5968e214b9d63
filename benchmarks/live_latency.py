"""Per-update latency of every live figure, in the kernel: recompute + in-place redraw to pixels.

    python -m benchmarks.live_latency            # prints a table, writes benchmarks/results/live_latency.json
    python -m benchmarks.live_latency 03 05      # only these notebooks' figures

For each figure and each control, the control is moved back and forth between two
neighbouring values at its default, its minimum and its maximum; each move is one
update (compute, set artists' data, then a blit of the data over the cached background
or, when limits or ticks changed, a full Agg draw: the "full" column counts those, and
"panel" the updates that re-rendered only the panel whose ticks changed).
"image" mode adds the PNG encoding of the fallback used when ipympl is unavailable.
Medians and p95 in milliseconds. The browser adds transport and painting on top: see browser_latency.
"""
import json
import sys
import time
from pathlib import Path

import ipywidgets as W
import numpy as np
import torch

from helpers import live
from helpers.rnn import ReLURNNRegressor
from helpers.tasks import ADDING_BASELINE_MSE, make_adding_task
from helpers.training import train

def clipping_rescue(mode):
    """Notebook 05's clipping figure, on runs trained as the notebook trains them."""
    x, y = make_adding_task(1000, 20, np.random.default_rng(0))

    def run(**clip):
        model = ReLURNNRegressor(2, hidden=32, radius=2.2, rng=np.random.default_rng(0))
        return train(model, x, y, steps=300, lr=0.01, loss="mse", batch_size=100, progress=False,
                     generator=torch.Generator().manual_seed(0), **clip)

    runs = {(kind, t): run(**{f"clip_{kind}": t}) for kind in ("norm", "value") for t in (0.1, 0.3, 1.0, 3.0, 10.0)}
    n_params = sum(p.numel() for p in ReLURNNRegressor(2, hidden=32, rng=np.random.default_rng(0)).parameters())
    return live.clipping_rescue(run(), runs, lr=0.01, n_params=n_params, baseline=ADDING_BASELINE_MSE, mode=mode)


FIGURES = {"00": [live.repeated_product], "01": [live.chain_product],
           "02": [live.saturation, live.sigmoid_chain], "03": [live.layer_gradients, live.activation_statistics],
           "04": [live.scalar_recurrence, live.bptt_gradients],
           "05": [live.bptt_gradients, clipping_rescue, live.cliff_descent],
           "06": [live.forget_path, live.gated_gradients], "07": [live.remedies_lab]}
REPEATS = 30
TARGET_MEDIAN_MS, TARGET_P95_MS = 50.0, 100.0
OUT = Path(__file__).resolve().parent / "results" / "live_latency.json"


def positions(control) -> dict:
    """Pairs of neighbouring values to alternate between, at the default and both ends."""
    if isinstance(control, (W.Dropdown, W.SelectionSlider)):
        return {"options": list(control.options)}
    if isinstance(control, W.Checkbox):
        return {"options": [True, False]}
    step = control.step
    lo, hi, mid = control.min, control.max, control.value
    pairs = {"default": [mid, mid + step if mid + step <= hi else mid - step],
             "min": [lo, lo + step], "max": [hi, hi - step]}
    if isinstance(control, W.FloatLogSlider):
        pairs = {k: [control.base ** v if k != "default" else v for v in vals] for k, vals in pairs.items()}
        pairs["default"] = [mid, mid * control.base ** step]
    return pairs


def time_updates(lf, control, values: list) -> tuple[np.ndarray, int, int]:
    """Milliseconds per update, cycling through `values` REPEATS times; and how many
    were full draws and how many re-rendered only the panels that changed."""
    times, full_before, partial_before = [], lf.full_draws, lf.partial_draws
    for i in range(REPEATS):
        value = values[i % len(values)]
        t0 = time.perf_counter()
        control.value = value
        times.append((time.perf_counter() - t0) * 1e3)
        assert lf.last_error is None, lf.last_error
    return np.array(times), lf.full_draws - full_before, lf.partial_draws - partial_before


def measure(mode: str, notebooks: list) -> list:
    rows = []
    for notebook, makers in FIGURES.items():
        if notebooks and notebook not in notebooks:
            continue
        for make in makers:
            lf = make(mode=mode)
            for name, control in lf.controls.items():
                default = control.value
                for where, values in positions(control).items():
                    control.value = values[0]
                    ms, full, partial = time_updates(lf, control, values)
                    rows.append(dict(notebook=notebook, figure=make.__name__, control=name, where=where,
                                     mode=mode, median_ms=float(np.median(ms)),
                                     p95_ms=float(np.percentile(ms, 95)), full_draws=full, partial_draws=partial))
                control.value = default
    return rows


def main(notebooks: list) -> int:
    rows = measure("agg", notebooks) + measure("image", notebooks)
    print(f"{'nb':<3} {'figure':<21} {'control':<11} {'where':<8} {'mode':<6} {'median':>7} {'p95':>7} "
          f"{'full':>5} {'panel':>5}  (ms; full draws and one-panel re-renders of {REPEATS} updates)")
    for r in rows:
        print(f"{r['notebook']:<3} {r['figure']:<21} {r['control']:<11} {r['where']:<8} {r['mode']:<6} "
              f"{r['median_ms']:7.1f} {r['p95_ms']:7.1f} {r['full_draws']:5d} {r['partial_draws']:5d}")
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
    sys.exit(main(sys.argv[1:]))
