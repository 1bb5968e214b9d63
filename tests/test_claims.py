r"""Claims the notebooks make in prose, each set up as the sentence says and checked.

A test's docstring starts with its notebook's number and a colon and quotes the
sentence it checks in double quotes, copied exactly from the notebook's markdown
(whitespace aside; "..." joins two pieces of one sentence). Text a notebook prints
from a code cell (the symptom table of 07) is quoted in «guillemets» and copied
exactly from that code cell. The last tests below keep those quotes honest: a
"What to look for" paragraph without a test, or a quote that no longer appears in
its notebook, fails, so a rewritten sentence gets its test looked at again.

Vague words get a number here, said in the docstring: "about x" is within 10% of x,
"about 10^k" within a factor 2 of 10^k, "level" or "flat" within a factor 2.
"""
import ast
import json
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import ipywidgets
import numpy as np
import pytest
import torch

from helpers import live
from helpers.activations import (
    get_activation,
    relu_prime,
    saturated,
    saturation_fraction,
    sigmoid,
    sigmoid_prime,
)
from helpers.chain import chain_bound, chain_forward_backward, factor_products
from helpers.data import insurance_batch, load_insurance, standardize
from helpers.execute import CPU_SETTINGS, OTHER_CPU, kernel_env
from helpers.gradcheck import numerical_gradient, rel_error
from helpers.init import he_normal, he_std, orthogonal, xavier_std
from helpers.lab import DEFAULT_BATCH, DEFAULT_STEPS, DEFAULT_WIDTH, numpy_train
from helpers.network import NetConfig, init_params, numpy_layer_gradients
from helpers.sequence import MACHINE_TOLERANCE, stored_point

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
# This module and any tests/test_claims_<topic>.py beside it: their docstrings quote the notebooks.
CLAIM_MODULES = sorted((ROOT / "tests").glob("test_claims*.py"))
LN2 = float(np.log(2.0))


# --- reading the live figures -----------------------------------------------------------

def line(lf, gid: str = "measured", ax: int = 0):
    r"""(x, y) of the line called `gid` in panel `ax`, as floats (NaN where nothing is drawn)."""
    (found,) = [l for l in lf.fig.axes[ax].lines if l.get_gid() == gid]
    return np.asarray(found.get_xdata(), dtype=float), np.asarray(found.get_ydata(), dtype=float)


def line_y(lf, gid: str = "measured", ax: int = 0) -> np.ndarray:
    return line(lf, gid, ax)[1]


def status(lf, ax: int = 0) -> str:
    return " ".join(t.get_text() for t in lf.fig.axes[ax].texts if t.get_visible())


def set_controls(lf, **values):
    """Set `lf`'s controls as a reader would, one at a time, and return the figure."""
    for name, value in values.items():
        lf.controls[name].value = value
    return lf


def within(value, target, rel=0.1) -> bool:
    return abs(value - target) <= rel * abs(target)


def within_factor(value, target, factor=2.0) -> bool:
    return target / factor <= value <= target * factor


def flat(values) -> bool:
    r"""Every value drawable and all the same (to rounding)."""
    v = np.asarray(values, dtype=float)
    return bool(np.isfinite(v).all() and v.max() <= v.min() * (1 + 1e-12))


def slider_positions(control) -> np.ndarray:
    r"""Every value a FloatSlider can be dragged to."""
    return np.round(np.arange(control.min, control.max + control.step / 2, control.step), 10)


def run_as(setting: dict, code: str):
    """The JSON that `code` prints, run in a fresh process as `setting` makes it compute."""
    out = subprocess.run([sys.executable, "-c", code], env=kernel_env(setting), check=True, capture_output=True,
                         text=True, timeout=600).stdout
    return json.loads(out)


TANH_LAB = """
import json, numpy as np
from helpers.data import insurance_batch
from helpers.lab import DEFAULT_BATCH, DEFAULT_WIDTH, numpy_train
from helpers.network import NetConfig
config = NetConfig(depth=20, width=DEFAULT_WIDTH, activation="tanh", init="normal")
run = numpy_train(config, *insurance_batch(DEFAULT_BATCH), rng=np.random.default_rng(0))
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
print(json.dumps([float(run.loss[-1]), bool(__cpu_features__.get("AVX512_SKX")), "X86_V3" in __cpu_dispatch__]))
"""


def test_07_the_saturated_tanh_network_ends_near_0_6_and_its_second_digit_depends_on_the_processor():
    """07: "shown to one digit only: it differs in the second digit from one computer to another
    (on one x86 processor, 0.60 with numpy's AVX-512 arithmetic and 0.62 with its AVX2 arithmetic)"."""
    own, has_avx512, x86 = run_as({}, TANH_LAB)
    avx2 = run_as(CPU_SETTINGS["numpy-avx2"], TANH_LAB)[0]
    for loss in (own, avx2):
        assert f"{loss:.1g}" == "0.6"  # what the notebook prints, on either arithmetic
    if x86:
        assert round(avx2, 2) == 0.62
    if has_avx512:
        assert round(own, 2) == 0.60 and abs(own - avx2) > 0.005


KNIFE_EDGE = ("adding", "rnn", 25, 2)  # learns for one arithmetic and not for the other


def test_06_a_run_balanced_between_learning_and_not_can_tip_either_way():
    """06: "a run balanced between learning and not within the budget can tip either way";
    data/README.md names this point among them."""
    code = f"import json; from helpers.sequence import run_point; print(json.dumps(run_point(*{KNIFE_EDGE!r})['metric']))"
    other = run_as(OTHER_CPU, code)
    stored = stored_point(*KNIFE_EDGE)["metric"]
    assert abs(other - stored) > MACHINE_TOLERANCE["adding"]
    assert min(other, stored) < 0.167 < max(other, stored) or abs(other - stored) > 0.03


def test_03_deep_sigmoid_networks_plateau_at_ln2_and_their_first_layers_barely_move():
    r"""03: the deep sigmoid networks "sit near $\ln 2 \approx 0.69$, the loss of guessing 50/50, for the whole run"
    at learning rate 0.1, and "the first layers' move many thousands of times less" than the last in the 10-layer
    network."""
    from helpers.data import load_insurance, standardize
    from helpers.network import NetConfig, init_params, to_torch
    from helpers.training import train

    data = load_insurance()
    X, _, _ = standardize(data.X)
    for depth in (4, 10):
        config = NetConfig(depth=depth, width=16, activation="sigmoid", init="xavier", n_in=4)  # as 03 trains them
        model = to_torch(init_params(config, np.random.default_rng(0)), "sigmoid")
        log = train(model, X, data.y, steps=500, lr=0.1, progress=False)
        assert abs(log.final_loss - np.log(2)) < 0.01
        change = log.rel_weight_change.mean(axis=0)
        if depth == 10:
            assert change[-1] / change[0] > 1000


# --- live figures, driven to the positions the prose names ------------------------------

def spread(values) -> float:
    """Largest over smallest: how far a line strays from level."""
    return float(np.nanmax(values) / np.nanmin(values))


def test_03_one_layer_back_passes_scale_times_rms_slope_and_breaks_even_near_scale_10():
    """03: "each layer passes back about 0.23 of the gradient it receives", "to about 0.16 at scale 4 and 0.10
    at scale 10", "at scale 4 each layer still passes back only about 0.6", "the break-even $\\sqrt{\\chi} = 1$ comes
    near scale 10, where more than half of the units are saturated"."""
    from helpers.activations import saturation_fraction, sigmoid_prime
    from helpers.data import insurance_batch
    from helpers.network import NetConfig, init_params, numpy_layer_gradients

    x, y = insurance_batch()
    per_layer, rms_slope, saturated = {}, {}, {}
    for scale in (1.0, 4.0, 9.0, 10.0, 11.0):
        config = NetConfig(depth=10, width=32, activation="sigmoid", init="xavier", weight_scale=scale)
        grads = numpy_layer_gradients(init_params(config, np.random.default_rng(0)), x, y, "sigmoid")
        a = grads.act_norms
        per_layer[scale] = (a[0] / a[-1]) ** (1 / (a.size - 1))  # the geometric mean of the steps back
        z = np.concatenate([z.ravel() for z in grads.zs[1:]])
        rms_slope[scale] = np.sqrt(np.mean(sigmoid_prime(z) ** 2))
        saturated[scale] = saturation_fraction(z, "sigmoid")
    assert abs(per_layer[1.0] - 0.23) < 0.01 and abs(rms_slope[1.0] - 0.23) < 0.01
    assert abs(rms_slope[4.0] - 0.16) < 0.01 and abs(rms_slope[10.0] - 0.10) < 0.01
    assert abs(per_layer[4.0] - 0.6) < 0.05
    assert per_layer[9.0] < 1 < per_layer[11.0] and abs(per_layer[10.0] - 1) < 0.05
    assert saturated[10.0] > 0.5


def test_03_what_to_look_for_in_the_layer_gradient_figure():
    """03: "the measured norms (dots and squares) fall along the dashed theory line, about six orders of magnitude over 10
    sigmoid layers", "the first layer gets less than $10^{-30}$ of the last layer's gradient", "both lines stay
    within a factor of 10 of level even at depth 50", "about a million times more at depth 50", "falls about a
    hundred-million-fold", "all of them near $10^{-9}$", "with every weight gradient at least a million times
    larger than with Xavier"."""
    from helpers import live

    lf = live.layer_gradients(mode="agg")
    weights, acts, theory = line_y(lf, "weight_grads"), line_y(lf, "act_grads"), line_y(lf, "theory")
    assert np.all(np.abs(np.log10(theory / acts)) < 0.3)  # along the line: within a factor 2 at every layer
    assert 0.5e6 < spread(weights) < 5e6 and weights[0] < weights[-1]
    set_controls(lf, depth=50)
    assert line_y(lf, "weight_grads")[0] / line_y(lf, "weight_grads")[-1] < 1e-30
    set_controls(lf, activation="tanh")
    assert spread(line_y(lf, "weight_grads")) < 10 and spread(line_y(lf, "act_grads")) < 10
    set_controls(lf, scale=3.0)
    weights = line_y(lf, "weight_grads")
    assert within_factor(weights[0] / weights[-1], 1e6, 3)
    set_controls(lf, scale=1.0, activation="relu")
    xavier, acts = line_y(lf, "weight_grads"), line_y(lf, "act_grads")
    assert within_factor(acts[-1] / acts[0], 1e8, 3)
    assert spread(xavier) < 10 and np.all((xavier > 1e-10) & (xavier < 1e-8))
    set_controls(lf, init="he")
    he = line_y(lf, "weight_grads")
    assert spread(he) < 12 and spread(line_y(lf, "act_grads")) < 12
    assert he.min() > 1e6 * xavier.max()


def test_03_the_relu_network_moves_every_layer_by_a_similar_amount():
    """03: "The ReLU network with He initialisation moves every layer by a similar amount" (within a factor 3 of
    the last layer's, against many thousands for the 10-layer sigmoid network)."""
    from helpers.data import load_insurance, standardize
    from helpers.network import NetConfig, init_params, to_torch
    from helpers.training import train

    data = load_insurance()
    X, _, _ = standardize(data.X)
    config = NetConfig(depth=10, width=16, activation="relu", init="he", n_in=4)
    model = to_torch(init_params(config, np.random.default_rng(0)), "relu")
    change = train(model, X, data.y, steps=500, lr=0.1, progress=False).rel_weight_change.mean(axis=0)
    assert spread(change) < 3


def test_04_the_scalar_recurrence_climbs_left_to_right_below_1_and_falls_above():
    """04: "the line climbs from left to right, because the gradient shrinks as it flows back", "above 1 it falls
    from left to right", "both dotted reference lines run off by tens of orders of magnitude", "even $w = 0.99$
    loses a factor of 7 over 200 steps", and the figure says which way the gradient flows."""
    from helpers import live

    lf = live.scalar_recurrence(mode="agg")
    assert "right to left" in lf.fig.axes[0].get_xlabel()
    line = line_y(lf)
    assert np.all(np.diff(line) > 0) and within_factor(line[-1] / line[0], 1e6, 1.1)  # w = 0.5, T = 20
    for w in (1.2, 1.5, 2.0):
        assert np.all(np.diff(line_y(set_controls(lf, w=w))) < 0)
    set_controls(lf, T=200)
    assert line_y(lf, "w=0.5")[0] < 1e-20 and line_y(lf, "w=1.5")[0] > 1e20
    assert np.all(line_y(set_controls(lf, w=1.0)) == 1.0)
    for w in (0.99, 1.01):
        assert 6.5 < spread(line_y(set_controls(lf, w=w))) < 7.5


def test_04_half_loses_a_million_in_20_steps_and_one_and_a_half_gains_as_much_in_34():
    """04: "One unit with $w = 0.5$ loses a factor $2^{20} \\approx 10^6$ in 20 steps; $w = 1.5$ gains as much in
    about 34"."""
    from helpers.rnn import scalar_bptt

    assert within_factor(1 / scalar_bptt(0.5, 20, "linear")[0], 1e6, 1.1)
    assert within_factor(scalar_bptt(1.5, 34, "linear")[0], 1e6, 1.1)


def test_06_a_forget_bias_keeps_memory_for_one_over_one_minus_sigma_steps():
    """06: "$\\sigma(0) = 0.5$ halves the memory at every step, $\\sigma(3) \\approx 0.95$ keeps it for about 20
    steps", "$\\sigma(5) \\approx 0.993$ for about 150"."""
    from helpers.activations import sigmoid

    assert sigmoid(0.0) == 0.5
    for bias, steps, gate in ((3.0, 20, 0.95), (5.0, 150, 0.993)):
        assert round(float(sigmoid(bias)), 3 if bias == 5 else 2) == gate
        lasts = 1 / (1 - sigmoid(bias))
        assert within_factor(lasts, steps, 1.1)
        assert within_factor(sigmoid(bias) ** lasts, np.exp(-1), 1.05)


def test_06_what_to_look_for_in_the_forget_path_figure():
    """06: "at bias 0 the memory of step 0 is down to about $10^{-15}$ after 50 steps", "the product flattens
    towards 1, and the full gradient stops vanishing altogether", "a quarter of the signal still arrives through
    the cell path alone"."""
    from helpers import live

    lf = set_controls(live.forget_path(mode="agg"), T=50, forget_bias=0.0)
    assert within_factor(line_y(lf)[0], 1e-15, 3)
    first = []
    for bias in (3.0, 5.0):
        set_controls(lf, forget_bias=bias)
        first.append(line_y(lf)[0])
        full = line_y(lf, "cell_grad")
        assert full.min() > 0.5 and full[0] > full[-1]  # no vanishing; more at the early steps
    assert first[0] < first[1] < 1
    assert abs(line_y(set_controls(lf, T=200))[0] - 0.25) < 0.03


def test_06_what_to_look_for_rnn_lstm_and_gru_side_by_side():
    """06: "the LSTM already keeps about ten thousand times more gradient at step 0 than the RNN", "the LSTM's line
    stays within a factor of about 20 of the last step's over all 50 steps, while the RNN's falls by ten orders of
    magnitude", "vanishes like the RNN here"."""
    from helpers import live

    lf = live.gated_gradients(mode="agg")
    assert lf.values["T"] == 50 and lf.values["forget_bias"] == 1.0
    assert within_factor(line_y(lf, "lstm")[0] / line_y(lf, "rnn")[0], 1e4, 3)
    assert within_factor(line_y(lf, "gru")[0], line_y(lf, "rnn")[0], 10)
    set_controls(lf, forget_bias=5.0)
    assert spread(line_y(lf, "lstm")) < 25
    assert within_factor(line_y(lf, "rnn")[0], 1e-10, 3)


GATES = """
import json, numpy as np, torch
from helpers.gated import lstm_forward, lstm_params_of
from helpers.sequence import INPUT_SCALE, GATE_BIAS, SequenceModel
from helpers.tasks import make_tense_task
from helpers.training import train
task = make_tense_task(2000, gap=20, rng=np.random.default_rng(0))
def new_lstm():
    return SequenceModel("lstm", task.vocab_size, rng=np.random.default_rng(0), input_scale=INPUT_SCALE["tense"],
                         forget_bias=GATE_BIAS)
untrained, model = new_lstm(), new_lstm()
train(model, task.one_hot(), task.labels, steps=300, lr=0.01, optimizer="adam", batch_size=64,
      generator=torch.Generator().manual_seed(0), progress=False)
held_out = make_tense_task(500, gap=20, rng=np.random.default_rng(7))
out = []
for m in (untrained, model):
    cache = lstm_forward(lstm_params_of(m.rnn), held_out.one_hot())
    c, a = cache.cs[:, -1], held_out.labels
    sep = np.abs(c[a == 1].mean(0) - c[a == 0].mean(0)) / c.std(0)
    kept = np.median(np.prod(cache.f[:, 1:-1], axis=1), axis=0)
    out.append(dict(above=float(np.mean(cache.f > 0.9)), sep=sep.tolist(), kept=kept.tolist()))
print(json.dumps(out))
"""


def test_06_training_chooses_what_to_remember_the_bias_made_the_gates_near_1():
    """06: "the forget gates sit close to 1 before any training, because their bias of 3", "Training raised the share
    of forget gates above 0.9 only a little", "separates the two answers by about two standard deviations", "keep
    more than twice as much of the time marker's memory across the fillers as before"."""
    before, after = run_as({}, GATES)
    assert before["above"] > 0.6 and 0 < after["above"] - before["above"] < 0.15
    carriers = np.argsort(after["sep"])[-3:]
    for unit in carriers:
        assert before["sep"][unit] < 0.3 and abs(after["sep"][unit] - 2) < 0.3
        assert after["kept"][unit] > 2 * before["kept"][unit]


def test_06_the_stored_sweep_says_what_the_paragraph_under_it_says():
    """06: "the RNN is at chance from a gap of about 45, while both gated cells still answer correctly at 100",
    "three of its five seeds still learning when the budget ran out", "the RNN sits at the baseline from 25 steps on",
    "the GRU solves every length, and the LSTM solves length 25 with every seed and 50 with four seeds of five; at 75 and
    100 only one seed of five solves it within this budget". Chance is within 0.05 of 0.5; solving the adding problem
    is a mean squared error below 0.05."""
    from helpers.sequence import load_sweep, mean_over_seeds
    from helpers.tasks import ADDING_BASELINE_MSE

    sweep = load_sweep()

    def means(task, kind):
        return dict(zip(*mean_over_seeds(sweep, task, kind)))

    rnn, lstm, gru = (means("tense", kind) for kind in ("rnn", "lstm", "gru"))
    assert all(abs(acc - 0.5) < 0.05 for gap, acc in rnn.items() if gap >= 45)
    assert all(acc > 0.55 for gap, acc in rnn.items() if gap < 45)  # "from ... about 45": above chance before
    assert lstm[100] > 0.95 and gru[100] > 0.95
    at_70 = [row["metric"] for row in sweep if (row["task"], row["kind"], row["gap"]) == ("tense", "lstm", 70)]
    assert sorted(at_70)[:3] == [a for a in sorted(at_70) if 0.55 < a < 0.9] and len(at_70) == 5
    rnn, lstm, gru = (means("adding", kind) for kind in ("rnn", "lstm", "gru"))
    assert all(abs(mse - ADDING_BASELINE_MSE) < 0.01 for length, mse in rnn.items() if length >= 25)
    assert all(mse < 0.05 for mse in gru.values())
    def solved(length):
        return sum(row["metric"] < 0.05 for row in sweep
                   if (row["task"], row["kind"], row["gap"]) == ("adding", "lstm", length))

    assert [solved(length) for length in (25, 50, 75, 100)] == [5, 4, 1, 1]


# --- prediction exercises ask before they show -----------------------------------------

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


def _text_above(cells: list, end: int) -> str:
    """The markdown and stored text outputs of cells[:end], as a reader sees them before cell `end`."""
    parts = []
    for cell in cells[:end]:
        if cell["cell_type"] == "markdown":
            parts.append("".join(cell["source"]))
        for out in cell.get("outputs", []):
            parts.append("".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", "")))
    # LaTeX powers such as 1.5^{50} or 10^{8}: read as the numbers they are.
    return re.sub(r"(\d+(?:\.\d+)?)\s*\\times\s*10\^\{?(-?\d+)\}?", r"\1e\2", "\n".join(parts))


def test_a_prediction_exercise_is_not_answered_above_it():
    """Every "Predict, then check" exercise: no number the notebook shows before the exercise's answer cell (in
    its prose or stored outputs) would pass the exercise's check."""
    from helpers.exercises.core import evaluate, exercises

    registry, answered = exercises(), {}
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            found = re.fullmatch(r'check\("(\d\d\.\d)"\)\s*', "".join(cell["source"]))
            if not found or "Predict, then check" not in "".join(cells[i - 2]["source"]):
                continue
            exercise = registry[found.group(1)]
            shown = {float(n) for n in NUMBER.findall(_text_above(cells, i - 1))}
            passing = [n for n in shown if evaluate(exercise, {exercise.answer: n}).status == "correct"]
            if passing:
                answered[exercise.id] = passing
    assert not answered, f"answered above the exercise, by: {answered}"


def test_05_a_scaled_rotation_grows_the_gradient_by_its_scale_per_step_and_tanh_tames_it():
    """05: "multiplies the gradient by 1.5 at every step back", "After 50 steps the factor is $1.5^{50} \\approx 6
    \\times 10^{8}$, and after 200 steps $1.5^{200} \\approx 10^{35}$", "the measured gradient climbs a straight line
    towards the first step, exactly on the dashed bound", "Switch to tanh: saturation slows the growth", "At
    $\\rho = 10$ the gradient still grows about $10^{54}$-fold over 200 steps, about $\\times 2$ per step instead of
    $\\times 10$, and no longer overflows; at $\\rho = 1.5$ it vanishes instead"."""
    from helpers import live

    assert within_factor(1.5 ** 50, 6e8, 1.1) and within_factor(1.5 ** 200, 1e35, 2)
    lf = live.bptt_gradients(T=50, radius=1.5, activation="linear", mode="agg")
    measured = line_y(lf)
    np.testing.assert_allclose(measured, line_y(lf, "bound"), rtol=1e-9)
    np.testing.assert_allclose(measured[:-1] / measured[1:], 1.5, rtol=1e-9)
    tanh = line_y(set_controls(lf, activation="tanh"))
    assert tanh[0] / tanh[-1] < 1e-6 * measured[0] / measured[-1]
    tanh = line_y(set_controls(lf, T=200, radius=10.0))
    assert np.isfinite(tanh).all() and within_factor(tanh[0] / tanh[-1], 1e54, 10)
    assert 1.5 < 10 ** np.median(np.diff(np.log10(tanh[::-1]))) < 3
    tanh = line_y(set_controls(lf, radius=1.5))
    assert tanh[0] < tanh[-1]


def test_02_relu_is_never_saturated_but_half_its_units_are_inactive_at_every_scale():
    """02: "0% saturated, but about half the units are inactive and pass back exactly 0 at every scale, while the
    other half pass back a full 1" (about half: 45-55%)."""
    from helpers import live

    lf = set_controls(live.saturation(mode="agg"), activation="relu")
    (bars,) = [a for a in lf.fig.axes[1].patches]  # the histogram of f'(z) / max f'
    for scale in (0.1, 1.0, 3.0, 10.0):
        set_controls(lf, scale=scale)
        reading = status(lf)
        assert "0% saturated" in reading
        inactive = int(re.search(r"(\d+)% inactive", reading).group(1))
        assert 45 <= inactive <= 55
        shares = bars.get_data().values
        assert shares[0] + shares[-1] > 0.999 and abs(shares[0] - inactive / 100) < 0.01


def test_04_what_to_look_for_in_the_bptt_figure():
    """04: "with tanh at radius 1 the bound is flat, yet the measured gradient still falls about ten orders of
    magnitude over 50 steps", "Switch to linear and the measured line sits on the bound, falling for $\\rho < 1$ and
    exploding for $\\rho > 1$", "the gradient at step 0 reaches about $10^{190}$, still a float64", "at $\\rho = 10$ it
    passes $1.8 \\times 10^{308}$ and overflows, and the figure names the step where it does", "Sigmoid vanishes at
    any radius below 4", "at $\\rho = 10$ and $T = 200$ the first step gets about $10^{8}$ times the gradient of the
    last"."""
    from helpers import live

    lf = live.bptt_gradients(mode="agg")
    assert lf.values["T"] == 50 and lf.values["radius"] == 1.0 and lf.values["activation"] == "tanh"
    assert spread(line_y(lf, "bound")) < 1 + 1e-9
    assert within_factor(line_y(lf)[0] / line_y(lf)[-1], 1e-10, 3)
    set_controls(lf, activation="linear")
    for radius in (0.5, 1.5, 3.0):
        line = line_y(set_controls(lf, radius=radius))
        np.testing.assert_allclose(line, line_y(lf, "bound"), rtol=1e-9)
        assert (line[0] < line[-1]) == (radius < 1)
    line = line_y(set_controls(lf, T=200, radius=3.0))
    assert np.isfinite(line).all() and within_factor(line[0], 1e190, 10)
    assert "overflow" not in status(lf)
    set_controls(lf, radius=10.0)
    named = int(re.search(r"overflowed to inf at step (\d+)", status(lf)).group(1))
    line = line_y(lf)
    assert abs(named - 90) <= 5 and np.isnan(line[:named + 1]).all() and np.isfinite(line[named + 10:]).all()
    set_controls(lf, activation="sigmoid", T=50)
    for radius in (0.5, 1.0, 2.0, 3.0, 3.9):
        line = line_y(set_controls(lf, radius=radius))
        assert line[0] < 1e-6 * line[-1]
    line = line_y(set_controls(lf, radius=10.0, T=200))
    assert within_factor(line[0] / line[-1], 1e8, 3)


def test_05_push_the_scale_to_10_and_the_gradient_overflows_near_step_90():
    """05: "takes the gradient at step 0 to about $10^{190}$: huge, but still a float64, and the figure draws it",
    "so the gradient overflows to inf on its way back, and the figure names the step where it does (about step 90)",
    "the steps before it only inherit the inf", "The line itself ends a few steps later in the sequence, where the values
    pass $10^{300}$, the most the log axis draws"."""
    from helpers import live

    lf = live.bptt_gradients(T=200, radius=3.0, activation="linear", mode="agg")
    assert within_factor(line_y(lf)[0], 1e190, 10) and "overflow" not in status(lf)
    set_controls(lf, radius=10.0)
    named = int(re.search(r"overflowed to inf at step (\d+)", status(lf)).group(1))
    assert abs(named - 90) <= 5
    line = line_y(lf)
    first_drawn = int(np.argmax(np.isfinite(line)))
    assert np.isnan(line[:first_drawn]).all() and named < first_drawn <= named + 15
    assert 1e299 < line[first_drawn] < 1e301


# --- 00 start here ------------------------------------------------------------------------

def test_00_below_one_the_line_falls():
    r"""00: "drag `factor w` from 0.9 down to 0.5 and up past 1. Below 1 the line falls"."""
    lf = live.repeated_product(mode="agg")
    w = lf.controls["w"]
    assert w.value == 0.9 and w.min <= 0.5 and w.max > 1.0
    for value in (0.9, 0.8, 0.7, 0.6, 0.5, 0.99):
        w.value = value
        assert np.all(np.diff(line_y(lf)) < 0), value


def test_00_after_50_factors_of_0_9_about_0_005_is_left():
    r"""00: "after 50 factors of 0.9 only about 0.005 is left"; "the last point of the default line is $0.9^{50}$"
    (about = within 10%)."""
    lf = live.repeated_product(mode="agg")
    last = line_y(lf)[-1]
    assert last == 0.9 ** 50
    assert within(last, 0.005)
    assert status(lf) == f"after 50 factors: {0.9 ** 50:.3g}"


def test_00_above_one_the_line_climbs():
    r"""00: "above 1 it climbs"."""
    lf = live.repeated_product(mode="agg")
    for value in (1.01, 1.1, 1.5, 2.0):
        lf.controls["w"].value = value
        assert np.all(np.diff(line_y(lf)) > 0), value


def test_00_only_at_exactly_one_does_the_line_stay_flat():
    r"""00: "only at exactly 1 does it stay flat", over every position of the slider."""
    lf = live.repeated_product(mode="agg")
    flat_at = []
    for value in slider_positions(lf.controls["w"]):
        lf.controls["w"].value = value
        if flat(line_y(lf)):
            flat_at.append(value)
    assert flat_at == [1.0]


def test_00_the_plot_shows_w_to_the_k_on_a_log_axis_of_decades_where_a_constant_factor_is_straight():
    r"""00: "The plot shows $w^k$ for $k = 0, 1, \dots, 50$ on a **logarithmic** $y$-axis, where equal distances
    mean equal factors (at the default each grid line is ten times the one below it), so a quantity that shrinks by
    the same factor at every step draws a straight line"; "Log-scale plots turn that exponential behaviour into straight lines you can read"; "A product of
    factors below 1 vanishes and one above 1 explodes, exponentially in the number of factors"."""
    lf = live.repeated_product(mode="agg")
    ax = lf.fig.axes[0]
    for value in (0.9, 0.5, 1.5):
        lf.controls["w"].value = value
        k, y = line(lf)
        np.testing.assert_array_equal(k, np.arange(51))
        np.testing.assert_allclose(y, value ** k, rtol=1e-12)
        steps = np.diff(np.log10(y))
        np.testing.assert_allclose(steps, steps[0], atol=1e-9)  # a straight line on the log axis
    assert ax.get_yscale() == "log"
    lf.controls["w"].value = 0.9
    lo, hi = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if lo <= t <= hi]
    assert len(ticks) >= 2
    np.testing.assert_allclose(np.diff(np.log10(ticks)), 1.0)


def test_00_the_course_has_eight_notebooks_after_this_one_in_the_order_the_table_gives():
    r"""00: "say what the eight notebooks cover and in which order to take them"."""
    others = [nb.name for nb in NOTEBOOKS if not nb.name.startswith("00")]
    assert len(others) == 8
    table = markdown_text("00")
    linked = re.findall(r"\]\((0\d_\w+\.ipynb)\)", table.split("## Setup")[0])
    assert linked == [nb.name for nb in NOTEBOOKS]  # every notebook, in order, each link to a real file


def test_00_notebook_03_shows_networks_of_1_to_50_layers():
    r"""00: "per-layer gradients of a 1-50 layer network"."""
    depth = live.layer_gradients(mode="agg").controls["depth"]
    assert (depth.min, depth.max) == (1, 50)


def test_00_the_readiness_check_names_what_is_wrong_and_the_command_that_mends_it(monkeypatch, capsys):
    r"""00: "A line starting with `FIX` says what is wrong and the command that mends it";
    "No figure at all: the environment variable `MPLBACKEND` is set to `Agg`; unset it before starting JupyterLab"."""
    from helpers.environment import report

    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert report() is False
    fixes = [l for l in capsys.readouterr().out.splitlines() if l.startswith("FIX")]
    assert len(fixes) == 1
    assert "MPLBACKEND=Agg" in fixes[0] and "Fix: unset MPLBACKEND before starting JupyterLab" in fixes[0]


def test_00_a_widget_version_mismatch_is_reported_as_error_displaying_widget():
    r"""00: "a mismatch between `ipywidgets` (in the kernel) and `jupyterlab_widgets` (in JupyterLab), which shows
    *Error displaying widget* where a slider should be"."""
    from helpers.environment import REQUIREMENT, _widget_pair

    bad = _widget_pair({"ipywidgets": "8.1.0", "jupyterlab_widgets": "1.2.0"})
    assert not bad.ok and "Error displaying widget" in bad.detail and REQUIREMENT in bad.detail
    assert _widget_pair({"ipywidgets": "8.1.0", "jupyterlab_widgets": "3.0.1"}).ok


def test_00_image_mode_makes_figures_refresh_as_plain_images():
    r"""00: "figures then refresh as plain images"."""
    from helpers import widgets

    before = widgets._live_mode
    widgets.set_live_mode("image")
    try:
        lf = live.repeated_product()
    finally:
        widgets.set_live_mode(before)
    assert isinstance(lf.view, ipywidgets.Image)
    before = lf.view.value
    lf.controls["w"].value = 1.5
    assert lf.view.value != before and lf.view.value[:4] == b"\x89PNG"


# --- 01 chain rule --------------------------------------------------------------------------

NAMES = ["w1", "w2", "w3", "w4", "w5", "w6", "b1", "b2", "b3"]


def forward(p, x, y):
    r"""The insurance network of notebook 01, as its equations say."""
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = p
    z1 = w1 * x[0] + w2 * x[1] + b1
    z2 = w3 * x[2] + w4 * x[3] + b2
    a1, a2 = sigmoid(z1), sigmoid(z2)
    z3 = w5 * a1 + w6 * a2 + b3
    y_hat = sigmoid(z3)
    return (y_hat - y) ** 2, dict(z1=z1, z2=z2, a1=a1, a2=a2, z3=z3, y_hat=y_hat)


def backward(p, x, y, c):
    w1, w2, w3, w4, w5, w6, b1, b2, b3 = p
    d_z3 = 2.0 * (c["y_hat"] - y) * sigmoid_prime(c["z3"])
    d_z1 = d_z3 * w5 * sigmoid_prime(c["z1"])
    d_z2 = d_z3 * w6 * sigmoid_prime(c["z2"])
    return np.array([d_z1 * x[0], d_z1 * x[1], d_z2 * x[2], d_z2 * x[3],
                     d_z3 * c["a1"], d_z3 * c["a2"], d_z1, d_z2, d_z3])


@lru_cache(maxsize=1)
def example_person():
    r"""(params, x, y, cache, grad) of notebook 01: the 29-year-old buyer, weights drawn from seed 0."""
    _, mean, std = standardize(load_insurance().X)
    x = (np.array([29.0, 16.0, 150.0, 40.0]) - mean) / std
    params = np.random.default_rng(0).normal(0.0, 0.5, size=9)
    _, cache = forward(params, x, 1.0)
    return params, x, 1.0, cache, backward(params, x, 1.0, cache)


def test_01_inputs_are_standardized_to_mean_0_and_standard_deviation_1():
    r"""01: "Inputs are standardized (mean 0, standard deviation 1 over the course's data set"."""
    z, _, _ = standardize(load_insurance().X)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-12)


def test_01_hand_gradients_agree_with_autograd_to_rounding_and_with_finite_differences_to_1e_9():
    r"""01: "should be at rounding level against autograd and around $10^{-9}$ or smaller against finite
    differences"; "Hand-derived gradients agree with autograd to rounding error and with finite differences to
    about $10^{-9}$ or better" (rounding level = below 1e-14; around 1e-9 or smaller = below 2e-9)."""
    params, x, y, _, grad = example_person()
    p = torch.tensor(params, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64)
    a1 = torch.sigmoid(p[0] * xt[0] + p[1] * xt[1] + p[6])
    a2 = torch.sigmoid(p[2] * xt[2] + p[3] * xt[3] + p[7])
    ((torch.sigmoid(p[4] * a1 + p[5] * a2 + p[8]) - y) ** 2).backward()
    assert rel_error(grad, p.grad.numpy()) < 1e-14
    fd = numerical_gradient(lambda q: forward(q, x, y)[0], params.copy(), h=1e-6)
    assert rel_error(grad, fd) < 2e-9


def test_01_the_sigmoid_derivative_is_never_larger_than_a_quarter():
    r"""01: "$\sigma'(z) = \sigma(z)(1-\sigma(z))$ is **never larger than 1/4**"."""
    z = np.concatenate([np.linspace(-50, 50, 100_001), np.random.default_rng(0).normal(0, 5, 10_000)])
    d = sigmoid_prime(z)
    np.testing.assert_allclose(d, sigmoid(z) * (1 - sigmoid(z)), rtol=1e-12, atol=1e-15)
    assert d.max() <= 0.25 and sigmoid_prime(0.0) == 0.25


def test_01_the_first_layers_gradient_is_five_factors_two_of_them_sigmoid_slopes_at_most_a_sixteenth():
    r"""01: "Write $\partial L / \partial w_1$ as its five factors"; "the path to the first layer is multiplied by at
    most $1/16$, while $w_5$ (one layer closer to the loss) needs only one such factor"."""
    params, x, y, c, grad = example_person()
    slopes = sigmoid_prime(c["z3"]) * sigmoid_prime(c["z1"])
    five = [2.0 * (c["y_hat"] - y), sigmoid_prime(c["z3"]), params[4], sigmoid_prime(c["z1"]), x[0]]
    assert np.prod(five) == pytest.approx(grad[0], rel=1e-12)
    assert slopes <= 1 / 16
    assert grad[4] == pytest.approx(2.0 * (c["y_hat"] - y) * sigmoid_prime(c["z3"]) * c["a1"], rel=1e-12)


def test_01_a_step_moves_each_weight_in_proportion_to_its_gradient():
    r"""01: "A weight whose gradient is ten times smaller moves ten times less"; "Gradient descent moves a weight in
    proportion to its gradient"."""
    *_, grad = example_person()
    step = -0.5 * grad
    np.testing.assert_allclose(np.outer(step, grad), np.outer(grad, step), rtol=1e-12)  # step_i/step_j = g_i/g_j


def test_01_in_the_two_layer_network_w1_moves_a_modest_fraction_of_w5():
    r"""01: "In this two-layer network the difference is modest" (modest = within a factor of 10);
    the notebook prints «w1 moves ... times as far as w5»: 0.11."""
    *_, grad = example_person()
    ratio = abs(grad[0]) / abs(grad[4])
    assert f"{ratio:.2f}" == "0.11"
    assert 0.1 < ratio < 1


def test_01_layers_far_from_the_loss_receive_smaller_gradients():
    r"""01: "Every sigmoid on the path contributes a factor of at most 1/4, so layers far from the loss receive
    smaller gradients"."""
    *_, grad = example_person()
    assert np.abs(grad[:4]).max() < np.abs(grad[4:6]).min()  # w1..w4 against w5, w6


def test_01_sigmoid_stays_finite_at_minus_800_and_never_overflows():
    r"""01: "It must stay finite for very large |z| (try z = -800): write it in terms of `sigmoid(z)`, which never
    overflows"."""
    z = np.array([-800.0, -50.0, 0.0, 50.0, 800.0])
    with np.errstate(over="raise", invalid="raise"):
        s, d = sigmoid(z), sigmoid_prime(z)
    assert np.isfinite(s).all() and np.isfinite(d).all()
    assert s[0] == 0.0 and s[-1] == 1.0 and d[0] == 0.0


def test_01_ten_factors_of_a_quarter_give_about_1e_minus_6():
    r"""01: "with each derivative at 0.25 (the sigmoid's best case) ten factors already give about $10^{-6}$"
    (about 10^k = within a factor 2); the figure's default is that picture."""
    lf = live.chain_product(mode="agg")
    assert (lf.controls["n_factors"].value, lf.controls["d"].value) == (10, 0.25)
    assert get_activation("sigmoid").max_slope == 0.25
    y = line_y(lf)
    assert y[-1] == 0.25 ** 10
    assert within_factor(y[-1], 1e-6)
    assert status(lf) == "product of 10 factors = 9.54e-07"


def test_01_a_derivative_of_exactly_one_keeps_the_product_at_one():
    r"""01: "a derivative of exactly 1 keeps the product at 1"."""
    lf = live.chain_product(mode="agg")
    set_controls(lf, n_factors=50, d=1.0)
    np.testing.assert_array_equal(line_y(lf), np.ones(50))


def test_01_any_derivative_above_one_makes_the_product_explode():
    r"""01: "anything above 1 makes it explode": the product grows by the same factor at every step
    (exponentially), over every slider position above 1."""
    lf = live.chain_product(mode="agg")
    lf.controls["n_factors"].value = 50
    for d in slider_positions(lf.controls["d"]):
        if d <= 1.0:
            continue
        lf.controls["d"].value = d
        y = line_y(lf)
        assert np.all(np.diff(y) > 0), d
        np.testing.assert_allclose(y[1:] / y[:-1], d, rtol=1e-12)
    assert line_y(lf)[-1] > 1e15  # at d = 2


def test_01_at_zero_the_product_is_exactly_zero_after_the_first_factor_and_the_figure_says_so():
    r"""01: "At 0 the product is exactly 0 after the first factor, which the figure says in words because a log
    axis cannot draw 0"."""
    lf = live.chain_product(mode="agg")
    set_controls(lf, n_factors=50, d=0.0)
    assert np.all(factor_products(0.0, 50) == 0.0)
    assert np.isnan(line_y(lf)).all()
    assert "exactly 0 at factor 1" in status(lf) and "underflow" not in status(lf)  # a zero factor, not an underflow


def test_01_the_product_of_ten_checker_accepts_a_factor_of_two():
    r"""01: "About how large is the product of 10 of them?"; "(within a factor of 2 counts)"."""
    from helpers.exercises.core import CORRECT, check

    truth = 0.25 ** 10
    for guess, right in ((truth * 1.99, True), (truth / 1.99, True), (truth * 2.01, False), (truth / 2.01, False)):
        assert (check("01.3", {"guess_product_of_ten": guess}).status == CORRECT) is right, guess


# --- 02 sigmoid saturation ----------------------------------------------------------------

GRID = np.linspace(-10, 10, 2001)


def test_02_largest_derivatives_are_a_quarter_one_and_one_and_agree_with_autograd():
    r"""02: "state the largest derivative of sigmoid (1/4), tanh (1) and ReLU (1), and check each with autograd";
    "the course's derivatives are compared with autograd on a grid of 2001 points, and the maxima are read off
    the grid"."""
    for name, top in (("sigmoid", 0.25), ("tanh", 1.0), ("relu", 1.0)):
        act = get_activation(name)
        z = torch.tensor(GRID, requires_grad=True)
        act.torch_f(z).sum().backward()
        assert rel_error(act.df(GRID), z.grad.numpy()) < 1e-12, name
        assert act.max_slope == top and act.df(GRID).max() == top, name


def test_02_sigmoid_and_tanh_slopes_peak_only_at_zero():
    r"""02: "largest at $z=0$ where $\sigma = 1/2$, so $\sigma'(z) \le 1/4$"; "Likewise $\tanh'(z) = 1 - \tanh^2 z
    \le 1$"; "with equality only at $z = 0$; far from 0 both derivatives are close to 0 (saturation)"
    (far = |z| >= 5, close to 0 = below 3% of the maximum)."""
    assert sigmoid(0.0) == 0.5
    for name in ("sigmoid", "tanh"):
        act = get_activation(name)
        d = act.df(GRID)
        assert GRID[d.argmax()] == 0.0 and d.max() == act.max_slope
        assert np.all(d[GRID != 0.0] < act.max_slope)
        assert np.all(d[np.abs(GRID) >= 5] < 0.03 * act.max_slope)
    np.testing.assert_allclose(get_activation("tanh").df(GRID), 1 - np.tanh(GRID) ** 2, atol=1e-15)


def test_02_sigmoid_and_tanh_squeeze_into_their_intervals():
    r"""02: "squeezes every input into $(0, 1)$, and **tanh** squeezes into $(-1, 1)$"
    (on |z| <= 15, where float64 can still tell the values from the ends)."""
    z = np.linspace(-15, 15, 3001)
    s, t = sigmoid(z), get_activation("tanh").f(z)
    assert np.all((0 < s) & (s < 1)) and np.all((-1 < t) & (t < 1))


def test_02_at_z_5_the_sigmoid_passes_back_less_than_0_007_about_40_times_less_than_at_0():
    r"""02: "At $z = 5$ the sigmoid passes back less than 0.007, about 40 times less than at 0"
    (about = within 10%)."""
    at5 = sigmoid_prime(5.0)
    assert at5 < 0.007
    assert within(sigmoid_prime(0.0) / at5, 40)


def test_02_tanh_derivative_stays_finite_for_very_large_inputs():
    r"""02: "it must stay finite for very large |z|"."""
    d = get_activation("tanh").df(np.array([-1e4, -800.0, 800.0, 1e4]))
    np.testing.assert_array_equal(d, 0.0)


def test_02_pre_activation_spread_is_weight_scale_times_input_spread():
    r"""02: "the pre-activation $z$ has standard deviation about $s_w\,s_x$" (about = within 10%)."""
    rng = np.random.default_rng(0)
    fan_in = 64
    for s_w, s_x in ((1.0, 1.0), (3.0, 1.0), (1.0, 5.0), (0.5, 2.0)):
        x = s_x * rng.standard_normal((2000, fan_in))
        w = s_w / np.sqrt(fan_in) * rng.standard_normal((200, fan_in))
        assert within((x @ w.T).std(), s_w * s_x), (s_w, s_x)


def test_02_a_saturated_unit_has_a_slope_below_ten_percent_of_the_largest():
    r"""02: "A unit is *saturated* when its slope is below 10% of the activation's largest slope"; the figure's
    percentage is the share of its right-hand histogram below 0.1."""
    z = np.random.default_rng(0).normal(0, 4, 10_000)
    for name in ("sigmoid", "tanh"):
        act = get_activation(name)
        assert saturation_fraction(z, name) == np.mean(act.df(z) < 0.1 * act.max_slope)
    lf = live.saturation(mode="agg")
    for scale in (1.0, 10 ** 0.4, 10 ** 0.6, 10.0):
        lf.controls["scale"].value = scale
        below = lf.fig.axes[1].patches[0].get_data().values[:4].sum()  # bins of width 0.025 below 0.1
        assert saturated_percent(lf) == round(100 * below)


def saturated_percent(lf) -> int:
    """The percentage of saturated units the saturation figure states."""
    return int(re.search(r"(\d+)% of units saturated", status(lf)).group(1))


def saturation_reading(lf):
    r"""(mass of the z-histogram in the shaded regions, saturated percent, share of the first slope bin, tallest bin)."""
    ax_z, ax_d = lf.fig.axes
    hist = ax_z.patches[0].get_data()
    centres = (hist.edges[:-1] + hist.edges[1:]) / 2
    spans = [(p.get_x(), p.get_x() + p.get_width()) for p in ax_z.patches[1:]]
    shaded = sum(hist.values[(centres >= a) & (centres <= b)].sum() for a, b in spans)
    slopes = ax_d.patches[0].get_data().values
    return shaded, saturated_percent(lf), slopes[0], int(np.argmax(slopes))


@pytest.mark.parametrize("control", ["scale", "spread"])
def test_02_raising_scale_or_spread_spreads_z_into_saturation(control):
    r"""02: "raise `weight scale` (or `input spread`) from 1 towards 10: the histogram spreads into the shaded
    regions, the saturated percentage climbs, and the right-hand histogram piles up at 0"; "Large weights or
    widely spread inputs push $z$ into the flat regions"."""
    lf = live.saturation(mode="agg")
    assert lf.controls["activation"].value == "sigmoid"
    readings = []
    for exponent in np.arange(0.0, 1.01, 0.2):  # 1 to 10 in slider steps
        lf.controls[control].value = 10 ** exponent
        readings.append(saturation_reading(lf))
    shaded, percent, first_bin, tallest = map(np.array, zip(*readings))
    assert shaded[0] == 0 and np.all(np.diff(shaded) > 0)
    assert percent[0] == 0 and np.all(np.diff(percent) > 0) and percent[-1] > 50
    assert first_bin[0] == 0 and np.all(np.diff(first_bin) > 0)
    assert tallest[0] != 0 and tallest[-1] == 0  # at 10 the most common slope is the bin at 0


def test_02_the_chain_gradient_matches_autograd_and_the_sigmoid_bound():
    r"""02: "check the hand-computed chain gradient against autograd"; "bound the gradient through a chain of $n$
    sigmoid units by $(|w|/4)^n$"."""
    a = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    out = a
    for _ in range(20):
        out = torch.sigmoid(1.0 * out)
    out.backward()
    assert rel_error(chain_forward_backward(20, 1.0, "sigmoid", x0=1.0).gradient, a.grad.item()) < 1e-12
    for n in (1, 5, 10, 20):
        for w in (-4.0, 1.0, 4.0):
            assert chain_bound(n, w, "sigmoid") == pytest.approx((abs(w) / 4) ** n, rel=1e-12)


def test_02_with_w_1_the_gradient_after_20_units_is_around_1e_minus_13():
    r"""02: "With $w = 1$ the gradient after 20 units is around $10^{-13}$: the first unit effectively receives no
    signal" (around 10^k = within a factor 2)."""
    lf = live.sigmoid_chain(mode="agg")
    set_controls(lf, n_units=20, w=1.0)
    assert within_factor(line_y(lf)[0], 1e-13)


def test_02_with_w_4_the_bound_is_1_but_the_gradient_still_shrinks_in_saturation():
    r"""02: "Raising $w$ to 4 lifts the bound to 1, but the measured gradient still shrinks, because a larger $w$
    also pushes $z$ into the saturated regions where $\sigma'$ is far below 1/4" (far below = under a tenth)."""
    lf = live.sigmoid_chain(mode="agg")
    set_controls(lf, n_units=20, w=4.0)
    np.testing.assert_array_equal(line_y(lf, "bound"), 1.0)
    assert np.all(np.diff(line_y(lf)) > 0)  # shrinking from unit n back to unit 0
    chain = chain_forward_backward(20, 4.0, "sigmoid")
    assert np.all(saturated(chain.z, "sigmoid")) and sigmoid_prime(chain.z).max() < 0.025


def test_02_no_positive_weight_rescues_a_sigmoid_chain():
    r"""02: "For sigmoid chains, no positive weight rescues the gradient", over weights 0.01 to 100
    (rescued = more than 1e-6 after 20 units, where w = 1 leaves 1e-13)."""
    best = max(abs(chain_forward_backward(20, w, "sigmoid").gradient) for w in np.geomspace(0.01, 100, 2001))
    assert best < 1e-10


def test_02_a_negative_weight_near_minus_5_5_does_better():
    r"""02: "neighbouring units alternate between high and low outputs, from the tenth unit on each pair of them passes
    back about 0.8, and about $10^{-3}$ of the gradient is left after 20 units, against $10^{-13}$ at $w = 1$" (about =
    within a factor 2; each pair = units 11-20's factors two by two, within 0.1 of 0.8)."""
    chain = chain_forward_backward(20, -5.5, "sigmoid")
    assert 5e-4 < abs(chain.gradient) < 2e-3
    factors = np.abs(-5.5 * sigmoid_prime(chain.z[-10:]))
    assert np.all((factors[::2] < 1) != (factors[1::2] < 1))  # one of each pair above 1, one below
    assert np.all(np.abs(factors[::2] * factors[1::2] - 0.8) < 0.1)
    assert 5e-14 < abs(chain_forward_backward(20, 1.0, "sigmoid").gradient) < 2e-13


def test_02_at_the_default_the_measured_points_are_a_straight_line_below_the_bound():
    r"""02: "at the default (sigmoid, $w = 1$) the measured points fall in a straight line, below the dashed
    bound" (straight = every point within 0.1 decade of the fitted line)."""
    lf = live.sigmoid_chain(mode="agg")
    assert (lf.controls["activation"].value, lf.controls["w"].value) == ("sigmoid", 1.0)
    k, y = line(lf)
    logs = np.log10(y)
    assert np.abs(logs - np.polyval(np.polyfit(k, logs, 1), k)).max() < 0.1
    assert np.all(y[:-1] < line_y(lf, "bound")[:-1])
    assert [l.get_linestyle() for l in lf.fig.axes[0].lines if l.get_gid() == "bound"] == ["--"]


def test_02_increasing_w_raises_the_bound_and_the_measured_gradient_falls_further_below_it():
    r"""02: "Increase `weight w`: the bound rises, then the measured gradient falls *further* below it as the units
    saturate"."""
    lf = live.sigmoid_chain(mode="agg")
    bounds, ratios, shares = [], [], []
    for exponent in np.arange(0.0, 1.01, 0.1):  # w from 1 to 10 in slider steps
        w = 10 ** exponent
        lf.controls["w"].value = w
        bounds.append(line_y(lf, "bound")[0])
        ratios.append(line_y(lf)[0] / bounds[-1])
        shares.append(saturated(chain_forward_backward(10, w, "sigmoid").z, "sigmoid").mean())
    assert np.all(np.diff(bounds) > 0) and np.all(np.diff(ratios) < 0)
    assert shares[0] == 0.0 and shares[-1] == 1.0


def units_above(y, level=1e-2) -> int:
    r"""How many units back from the output the gradient stays at or above `level`."""
    return int(np.argmax(y[::-1] < level)) - 1 if np.any(y < level) else y.size - 1


def test_02_tanh_near_w_1_keeps_the_gradient_much_longer():
    r"""02: "Switch to tanh with $w$ near 1 and the gradient survives much longer" (much longer = at least five
    times as many units before it falls below 0.01, for w from 0.9 to 1.1)."""
    lf = live.sigmoid_chain(mode="agg")
    lf.controls["n_units"].value = 50
    for w in (0.9, 1.0, 1.1):
        reach = {}
        for activation in ("sigmoid", "tanh"):
            set_controls(lf, activation=activation, w=w)
            reach[activation] = units_above(line_y(lf))
        assert reach["tanh"] >= 5 * max(reach["sigmoid"], 1), (w, reach)


def test_02_with_linear_units_the_measured_gradient_equals_the_bound():
    r"""02: "with linear units the measured gradient equals the bound exactly"."""
    lf = live.sigmoid_chain(mode="agg")
    set_controls(lf, activation="linear", n_units=50)
    for exponent in np.arange(-1.0, 1.01, 0.2):
        lf.controls["w"].value = 10 ** exponent
        np.testing.assert_allclose(line_y(lf), line_y(lf, "bound"), rtol=1e-12)


def test_02_saturation_keeps_the_gradient_below_the_bound_even_for_large_w():
    r"""02: "Through $n$ sigmoid units the gradient is at most $(|w|/4)^n$, and saturation keeps it below that bound
    even when $|w|$ is large" (at |w| = 10, twenty units: more than 1e15 below)."""
    for n in (1, 5, 10, 20, 50):
        for w in np.concatenate([-np.geomspace(0.1, 10, 21), np.geomspace(0.1, 10, 21)]):
            assert abs(chain_forward_backward(n, w, "sigmoid").gradient) <= chain_bound(n, w, "sigmoid") * (1 + 1e-12)
    for w in (-10.0, 10.0):
        assert abs(chain_forward_backward(20, w, "sigmoid").gradient) < 1e-15 * chain_bound(20, w, "sigmoid")


# --- 07 remedies ----------------------------------------------------------------------------

def lab_run(depth=20, activation="sigmoid", init="xavier", weight_scale=1.0, batch_norm=False, residual=False,
            **training):
    """The run of 07's `lab`: the same network, batch, seed and SGD."""
    x, y = insurance_batch(DEFAULT_BATCH)
    config = NetConfig(depth=depth, width=DEFAULT_WIDTH, activation=activation, init=init,
                       weight_scale=weight_scale, batch_norm=batch_norm, residual=residual)
    return numpy_train(config, x, y, rng=np.random.default_rng(0), **training)


def ratio(run) -> float:
    g = run.grad_norms[0]
    return g[0] / g[-1]


@lru_cache(maxsize=1)
def relu_depth_profiles():
    r"""Mean square of ReLU activations through 20 layers of width 512, for He and var 1/n, as 07 draws them."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((256, 512))
    profiles = {}
    for name, make in (("he", he_normal), ("1/n", lambda o, i, r: he_normal(o, i, r, gain=np.sqrt(0.5)))):
        h, squares = x0, [np.mean(x0 ** 2)]
        for _ in range(20):
            h = np.maximum(h @ make(512, 512, rng).T, 0.0)
            squares.append(np.mean(h ** 2))
        profiles[name] = np.array(squares)
    return profiles


def test_07_he_keeps_the_second_moment_level_and_var_1_over_n_halves_it_at_every_layer():
    r"""07: "**He** keeps the second moment of ReLU activations constant through depth, while a variance of $1/n$
    halves it at every layer" (constant = within a factor 2 of the start at every layer and within 20% from
    layer to layer; halves = every layer's factor within 20% of 1/2, their geometric mean within 5%)."""
    he, small = relu_depth_profiles()["he"], relu_depth_profiles()["1/n"]
    assert np.all((he >= he[0] / 2) & (he <= 2 * he[0]))
    assert np.all(np.abs(he[1:] / he[:-1] - 1) < 0.2)
    factors = small[1:] / small[:-1]
    assert np.all(np.abs(factors - 0.5) < 0.1)
    assert within(np.exp(np.mean(np.log(factors))), 0.5, 0.05)


def test_07_a_product_of_orthogonal_matrices_keeps_every_singular_value_at_one():
    r"""07: "A product of **orthogonal** matrices keeps every singular value at exactly 1" (to rounding: 1e-12)."""
    rng = np.random.default_rng(0)
    product = np.eye(64)
    for _ in range(20):
        product = orthogonal(64, 64, rng) @ product
    np.testing.assert_allclose(np.linalg.svd(product, compute_uv=False), 1.0, atol=1e-12)


def test_07_initialisations_keep_the_signal_size():
    r"""07: "weight scale chosen so each layer keeps the signal's size: $n\sigma_w^2\,\overline{f'^2} \approx 1$"
    (approx = within 5%): He with ReLU, Xavier with tanh near 0, orthogonal with linear units."""
    n, z = 512, np.random.default_rng(0).standard_normal(100_000)
    assert within(n * he_std(n, n) ** 2 * np.mean(relu_prime(z) ** 2), 1.0, 0.05)
    tanh = get_activation("tanh")
    assert within(n * xavier_std(n, n) ** 2 * np.mean(tanh.df(0.01 * z) ** 2), 1.0, 0.05)
    assert within(n * orthogonal(n, n, np.random.default_rng(0)).var(), 1.0, 0.05)


def test_07_relu_has_slope_one_on_the_active_side_where_sigmoid_has_at_most_a_quarter():
    r"""07: "local derivative 1 on the active side instead of at most 1/4 (sigmoid)"."""
    z = np.geomspace(1e-3, 1e3, 100)
    for name in ("relu", "leaky_relu"):
        assert np.all(get_activation(name).df(z) == 1.0)
    assert sigmoid_prime(np.concatenate([-z, [0.0], z])).max() == 0.25


def test_07_batch_norm_makes_output_and_passed_back_gradient_independent_of_weight_scale():
    r"""07: "makes a layer's output, and the gradient it passes back, independent of the scale of its incoming
    weights (up to the small constant $\epsilon = 10^{-5}$ it adds to the variance, hence the tolerance below)";
    "rescales every layer's pre-activations, so the incoming weights' scale stops mattering"."""
    from helpers.network import BN_EPS

    x, y = insurance_batch(DEFAULT_BATCH)
    config = NetConfig(depth=10, width=DEFAULT_WIDTH, activation="tanh", init="xavier", batch_norm=True)
    params = init_params(config, np.random.default_rng(0))
    scaled = [(W * 100.0 if l < len(params) - 1 else W, b) for l, (W, b) in enumerate(params)]
    plain = numpy_layer_gradients(params, x, y, "tanh", batch_norm=True)
    big = numpy_layer_gradients(scaled, x, y, "tanh", batch_norm=True)
    assert BN_EPS == 1e-5
    assert rel_error(big.loss, plain.loss) < 1e-4
    assert rel_error(big.act_norms, plain.act_norms) < 1e-4  # the gradient each layer passes back


def test_07_as_residual_branches_shrink_the_gradient_ratio_approaches_one():
    r"""07: "As the residual branches shrink, the ratio approaches 1: the gradient arrives at the first layer as it
    left the last"; "**Residual** blocks with small branches have a Jacobian close to the identity, so the gradient
    passes through unchanged"; "the Jacobian is the identity plus a correction, not a product of small matrices"
    (at branch scale 0.01: within 2% of 1)."""
    x, y = insurance_batch(DEFAULT_BATCH)
    gaps = []
    for branch in (1.0, 0.1, 0.01):
        config = NetConfig(depth=10, width=DEFAULT_WIDTH, activation="tanh", init="xavier", weight_scale=branch,
                           residual=True)
        grads = numpy_layer_gradients(init_params(config, np.random.default_rng(0)), x, y, "tanh", residual=True)
        gaps.append(abs(grads.act_norms[0] / grads.act_norms[-1] - 1))
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.02


def test_07_the_lab_is_one_network_of_16_units_on_32_people_trained_20_steps_against_a_50_50_guess():
    r"""07: "One network (16 units per layer) on 32 people from the insurance data"; "20 steps of gradient descent on
    the same batch (step 0 is the loss before the first update, as everywhere in the course)"; "the dotted line is
    the loss of a 50/50 guess"; "Drag `depth` between 1 and 50"."""
    lf = live.remedies_lab(mode="agg")
    assert (DEFAULT_WIDTH, DEFAULT_BATCH, DEFAULT_STEPS) == (16, 32, 20)
    assert insurance_batch(DEFAULT_BATCH)[0].shape[0] == 32
    steps, loss = line(lf, "loss", ax=1)
    np.testing.assert_array_equal(steps, np.arange(20))
    (dotted,) = [l for l in lf.fig.axes[1].lines if l.get_linestyle() == ":"]
    assert np.all(np.asarray(dotted.get_ydata()) == -np.log(0.5))  # cross-entropy of p = 1/2
    depth = lf.controls["depth"]
    assert (depth.min, depth.max) == (1, 50)


def test_07_the_lab_starts_vanishing_with_the_loss_on_the_dotted_line():
    r"""07: "the starting point is 20 sigmoid layers: the first layer gets about $6 \times 10^{-14}$ of the last one's
    gradient and the loss sits on the dotted line" (about = within a factor 2; on the line = every step within 15% of
    ln 2 and the last within 1%)."""
    lf = live.remedies_lab(mode="agg")
    assert (lf.controls["activation"].value, lf.controls["depth"].value) == ("sigmoid", 20)
    grads = line_y(lf)
    assert within_factor(grads[0] / grads[-1], 6e-14)
    assert status(lf).startswith("vanishing")
    loss = line_y(lf, "loss", ax=1)
    assert np.all(np.abs(loss / LN2 - 1) < 0.15) and abs(loss[-1] / LN2 - 1) < 0.01


def test_07_relu_and_he_take_the_slope_out_of_the_gradient_profile():
    r"""07: "Switch `activation` to relu and `initialisation` to he: the gradient profile loses its slope (first and
    last layer within a factor of 2 of each other, every layer within a factor of 15 of every other, against
    $10^{13}$ before)"."""
    lf = live.remedies_lab(mode="agg")
    before = line_y(lf)
    set_controls(lf, activation="relu", init="he")
    grads = line_y(lf)
    assert within_factor(grads[0] / grads[-1], 1.0) and status(lf).startswith("healthy")
    assert grads.max() / grads.min() <= 15 and before.max() / before.min() > 1e13


def test_07_batch_norm_then_residual_make_training_take_off():
    r"""07: "Tick `batch norm`, then `residual`: training takes off" (after 20 steps the loss is below a tenth of
    ln 2, where relu + he alone leaves it above 0.5)."""
    lf = live.remedies_lab(mode="agg")
    set_controls(lf, activation="relu", init="he")
    assert line_y(lf, "loss", ax=1)[-1] > 0.5
    set_controls(lf, batch_norm=True, residual=True)
    loss = line_y(lf, "loss", ax=1)
    assert np.isfinite(loss).all() and loss[-1] < 0.1 * LN2


def test_07_normal_initialisation_has_four_times_the_xavier_scale():
    r"""07: "initialisation *normal* (standard deviation 1: four times the Xavier scale for 16 inputs)"."""
    hidden = init_params(NetConfig(depth=20, width=16, activation="relu", init="normal"), np.random.default_rng(0))
    weights = np.concatenate([W.ravel() for W, _ in hidden[1:-1]])  # the 16 x 16 layers
    assert within(weights.std(), 1.0, 0.05)
    assert xavier_std(16, 16) == 0.25


def test_07_breaking_the_walked_through_lab_with_normal_initialisation_explodes():
    r"""07: "Now break it: untick both, and set initialisation *normal*" ... "with relu explodes", straight after
    "Tick `batch norm`, then `residual`"."""
    lf = live.remedies_lab(mode="agg")
    set_controls(lf, activation="relu", init="he", batch_norm=True, residual=True)
    set_controls(lf, batch_norm=False, residual=False, init="normal")
    assert status(lf).startswith("exploding")
    assert "non-finite" in status(lf, ax=1)


def test_07_normal_initialisation_with_relu_explodes():
    r"""07: "with relu explodes, and the training panel names the step at which the loss stopped being finite",
    with batch norm and residual off."""
    lf = live.remedies_lab(mode="agg")
    set_controls(lf, activation="relu", init="normal")
    assert status(lf).startswith("exploding")
    assert re.fullmatch(r"non-finite from step \d+", status(lf, ax=1))
    assert not np.isfinite(line_y(lf, "loss", ax=1)).all()


def test_07_the_training_panel_names_the_step_its_loss_stopped_being_finite():
    r"""07: "the training panel names the step at which the loss stopped being finite", the step as the panel's
    own axis numbers it."""
    lf = live.remedies_lab(mode="agg")
    set_controls(lf, activation="relu", init="normal")
    named = int(re.search(r"non-finite from step (\d+)", status(lf, ax=1)).group(1))
    steps, loss = line(lf, "loss", ax=1)
    assert named == steps[np.argmax(~np.isfinite(loss))]


def test_07_clipping_at_0_3_keeps_the_exploding_run_finite_but_the_loss_huge():
    r"""07: "`clip gradient norm` at 0.3 keeps the run finite, though the loss stays huge" (huge = every step above
    1000, where a 50/50 guess is 0.69)."""
    lf = live.remedies_lab(mode="agg")
    set_controls(lf, activation="relu", init="normal", clip=0.3)
    loss = line_y(lf, "loss", ax=1)
    assert np.isfinite(loss).all() and "non-finite" not in status(lf, ax=1)
    assert loss.min() > 1e3


def test_07_gradient_clipping_caps_the_size_of_a_step():
    r"""07: "caps the size of a step when the product explodes" (one SGD step moves the parameters by at most
    lr x the clipping threshold)."""
    config = NetConfig(depth=20, width=DEFAULT_WIDTH, activation="relu", init="normal")
    x, y = insurance_batch(DEFAULT_BATCH)
    start = init_params(config, np.random.default_rng(0))
    flatten = lambda params: np.concatenate([W.ravel() for W, _ in params] + [b for _, b in params])
    for clip in (0.01, 0.3, 1.0):
        run = numpy_train(config, x, y, rng=np.random.default_rng(0), steps=1, lr=0.1, clip_norm=clip)
        assert run.grad_norms[0].max() > 1e6  # the product explodes ...
        assert np.linalg.norm(flatten(run.params) - flatten(start)) <= 0.1 * clip * (1 + 1e-9)  # ... the step does not


def test_07_vanishing_sigmoid_stack_sits_at_ln_2_and_relu_he_restores_the_ratio():
    r"""07: «loss stuck at ln 2 = 0.69; early layers get almost no gradient» for «vanishing through 20 sigmoid
    layers», remedied by «ReLU + He initialisation» (stuck = last loss within 1% of ln 2; almost none = ratio
    below the health report's 1e-3; restored = ratio between 0.1 and 10 and the loss below ln 2)."""
    before, after = lab_run(), lab_run(activation="relu", init="he")
    assert abs(before.loss[-1] / LN2 - 1) < 0.01 and ratio(before) < 1e-3
    assert 0.1 < ratio(after) < 10 and after.loss[-1] < LN2


def test_07_clipping_hides_an_exploding_initialisation_while_fixing_the_scale_cures_it():
    r"""07: "clipping hides an exploding initialisation, while fixing the scale cures it"; the table's «an enormous
    loss, then NaN within a few steps» for «exploding: weights 3x too large for ReLU», «gradient clipping keeps it
    finite», «He initialisation at its proper scale» (enormous = above 1e6; a few = at most 5; hidden = finite
    but still above 1e6 after 20 steps; cured = below ln 2)."""
    broken = lab_run(activation="relu", init="he", weight_scale=3.0)
    assert broken.loss[0] > 1e6 and broken.diverged and broken.first_nonfinite_step <= 5
    clipped = lab_run(activation="relu", init="he", weight_scale=3.0, clip_norm=1.0)
    assert not clipped.diverged and clipped.loss.min() > 1e6
    cured = lab_run(activation="relu", init="he")
    assert not cured.diverged and cured.loss[-1] < LN2


def test_07_saturated_tanh_starts_slowly_and_batch_norm_fixes_it():
    r"""07: «tanh units saturated, a loss that jumps about» for «weights too large for tanh (std 1 with 16 inputs)»,
    remedied by «batch normalisation» (saturated = more than half the hidden units, on average over the layers;
    jumps about = the loss rises again at three or more of the first ten steps; fixed = below 0.1)."""
    x, _ = insurance_batch(DEFAULT_BATCH)
    params = init_params(NetConfig(depth=20, width=DEFAULT_WIDTH, activation="tanh", init="normal"),
                         np.random.default_rng(0))
    h, shares = x, []
    for W, b in params[:-1]:
        z = h @ W.T + b
        shares.append(saturation_fraction(z, "tanh"))
        h = np.tanh(z)
    assert np.mean(shares) > 0.5
    loss = lab_run(activation="tanh", init="normal").loss
    assert np.sum(np.diff(loss[:10]) > 0) >= 3
    assert lab_run(activation="tanh", init="normal", batch_norm=True).loss[-1] < 0.1


def test_07_a_deep_balanced_relu_stack_barely_learns_and_residual_batch_norm_or_fewer_layers_help():
    r"""07: «50 balanced ReLU layers that barely learn» for «a very deep plain stack», remedied by «residual
    connections + batch norm» and «fewer layers (5)» (balanced = first/last within a factor 3; barely = less than
    5% lower after 60 steps; helped = below half of ln 2)."""
    plain = lab_run(depth=50, activation="relu", init="he", steps=60)
    assert 1 / 3 < ratio(plain) < 3 and plain.loss[-1] > 0.95 * plain.loss[0]
    for fixed in (lab_run(depth=50, activation="relu", init="he", residual=True, batch_norm=True, steps=60),
                  lab_run(depth=5, activation="relu", init="he", steps=60)):
        assert fixed.loss[-1] < LN2 / 2


def test_07_weight_decay_pulls_a_growing_recurrent_matrix_back_down():
    r"""07: "**A recurrent matrix whose scale grows during training** can be pulled back below 1 by weight decay, at a
    price: in this run the larger scale did no harm, and the decay costs most of what the network learned"; "pulls
    weights (and the recurrent matrix's scale) down over time" (most: the loss ends closer to the 0.167 baseline than
    to the run without decay)."""
    from helpers.recurrent import spectral_radius
    from helpers.rnn import RNNRegressor
    from helpers.tasks import make_adding_task
    from helpers.training import train

    xa, ya = make_adding_task(1000, 20, np.random.default_rng(0))
    radius, logs = {}, {}
    for decay in (0.0, 0.03):
        model = RNNRegressor(2, hidden=32, radius=1.5, rng=np.random.default_rng(0))
        logs[decay] = train(model, xa, ya, steps=300, lr=0.1, loss="mse", batch_size=100, weight_decay=decay,
                            generator=torch.Generator().manual_seed(0), progress=False)
        radius[decay] = spectral_radius(model.rnn.weight_hh_l0.detach().double().numpy())
    assert radius[0.0] > 1.5 > 1.0 > radius[0.03]
    assert not logs[0.0].diverged  # the larger scale did no harm
    free, decayed = logs[0.0].final_loss, logs[0.03].final_loss
    assert decayed - free > 1 / 6 - decayed


def test_07_a_long_dependency_leaves_the_rnn_at_chance_and_gated_cells_learn_it():
    r"""07: "**A dependency the network cannot learn** (accuracy at chance once the gap is long) calls for gated
    cells"; "check whether accuracy falls with the distance between cause and effect: if so, use an LSTM or a GRU"
    (at chance = within 0.02 of 0.5 from gap 45 on; learned = above 0.95 at the longest gap; the RNN's accuracy
    falls from above 0.95 at the shortest gap)."""
    from helpers.sequence import CHANCE, load_sweep

    sweep = [row for row in load_sweep() if row["task"] == "tense"]
    mean = lambda kind, gap: np.mean([r["metric"] for r in sweep if r["kind"] == kind and r["gap"] == gap])
    gaps = sorted({r["gap"] for r in sweep})
    assert mean("rnn", gaps[0]) > 0.95
    for gap in (g for g in gaps if g >= 45):
        assert abs(mean("rnn", gap) - CHANCE["tense"]) < 0.02, gap
    for kind in ("lstm", "gru"):
        assert mean(kind, gaps[-1]) > 0.95, kind


# --- the quotes: every "What to look for" has a test, every quote is still in its notebook ----

def collapse(text: str) -> str:
    return " ".join(text.split())


@lru_cache(maxsize=None)
def notebook_cells(number: str) -> dict:
    r"""{"markdown": [...], "code": [...]}: the sources of one notebook's cells, by its two-digit number."""
    (path,) = [nb for nb in NOTEBOOKS if nb.name.startswith(number)]
    cells = {"markdown": [], "code": []}
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] in cells:
            cells[cell["cell_type"]].append("".join(cell["source"]))
    return cells


def markdown_text(number: str) -> str:
    return "\n\n".join(notebook_cells(number)["markdown"])


def look_for_paragraphs(number: str) -> list:
    return [collapse(p) for cell in notebook_cells(number)["markdown"] for p in re.split(r"\n\s*\n", cell)
            if "**What to look for:**" in p]


def claim_docstrings() -> list:
    r"""(module name, test name, docstring) of every test function in the claims modules, read with ast."""
    found = []
    for module in CLAIM_MODULES:
        if not module.exists():
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                found.append((module.name, node.name, collapse(ast.get_docstring(node) or "")))
    return found


def quotes(docstring: str, open_mark='"', close_mark='"') -> list:
    return re.findall(re.escape(open_mark) + r"([^" + open_mark + close_mark + r"]+)" + re.escape(close_mark), docstring)


def pieces(quote: str) -> list:
    r"""A quote's verbatim pieces: "..." (or an ellipsis character) joins two parts of one sentence."""
    return [p for p in (collapse(p) for p in re.split(r"\.\.\.|…", quote)) if p]


def words(quote: str) -> int:
    return sum(len(p.split()) for p in pieces(quote))


def appears_in(quote: str, text: str) -> bool:
    r"""Every piece of `quote` in `text`, in order."""
    at = 0
    for piece in pieces(quote):
        at = text.find(piece, at)
        if at < 0:
            return False
        at += len(piece)
    return True


@pytest.mark.parametrize("number", [nb.name[:2] for nb in NOTEBOOKS])
def test_every_what_to_look_for_paragraph_has_a_claims_test(number):
    r"""Each "What to look for" paragraph is quoted (four words or more) by a test whose docstring starts "NN:"."""
    docstrings = [doc for _, _, doc in claim_docstrings() if doc.startswith(f"{number}:")]
    uncovered = [paragraph for paragraph in look_for_paragraphs(number)
                 if not any(words(q) >= 4 and appears_in(q, paragraph) for doc in docstrings for q in quotes(doc))]
    assert not uncovered, "no claims test quotes:\n" + "\n".join(f"  {p[:110]}..." for p in uncovered)


def test_every_quote_in_a_claims_docstring_is_still_in_its_notebook():
    r"""Double-quoted phrases of four or more words are in the notebook's markdown; «...» in its code cells."""
    stale = []
    for module, name, doc in claim_docstrings():
        number = re.match(r"(\d\d):", doc)
        if not number or not any(nb.name.startswith(number.group(1)) for nb in NOTEBOOKS):
            continue
        cells = notebook_cells(number.group(1))
        markdown = collapse("\n\n".join(cells["markdown"]))
        code = collapse("\n\n".join(cells["code"]))
        stale += [f"{module}::{name}: \"{q}\"" for q in quotes(doc) if words(q) >= 4 and not appears_in(q, markdown)]
        stale += [f"{module}::{name}: «{q}»" for q in quotes(doc, "«", "»") if not appears_in(q, code)]
    assert not stale, "quoted text no longer in its notebook:\n" + "\n".join(stale)


def test_04_the_input_scale_sets_how_hard_each_word_pushes():
    r"""04: "`init_rnn` draws $W_x$ with standard deviation `input_scale`$/\sqrt{45}$ (the tense task has 45 words):
    0.15 with the default `input_scale=1`, 1.0 with the 6.7 used above"."""
    from helpers.rnn import init_rnn
    from helpers.tasks import make_tense_task

    assert make_tense_task(1, gap=1, rng=np.random.default_rng(0)).vocab_size == 45
    for scale, shown in ((1.0, 0.15), (6.7, 1.0)):  # the drawn weights, not only the formula
        W_x = init_rnn(32, 45, 2, np.random.default_rng(0), input_scale=scale).W_x
        assert abs(W_x.std() / (scale / np.sqrt(45)) - 1) < 0.05 and abs(W_x.std() - shown) < 0.02


def test_04_a_larger_input_scale_bends_the_slopes_and_the_first_word_fades_faster():
    r"""04: "along the gap-100 sentence 15% of the units are saturated and the root mean square of $f'$ is 0.62. At
    input scale 1 none is saturated and it is 0.91", "Per filler word the first word's influence keeps about 0.61 of
    itself at input scale 6.7 and 0.91 at input scale 1", "at gap 45 the measured ratio is $3\times10^{-11}$
    against $8\times10^{-3}$", "the blue line is the orange curve of the figure above", "the line flattens onto the grey
    dotted one and the slopes on the right crowd towards 1", "Drag it up to 10 and 30% of the units saturate",
    "Switch to linear: nothing saturates, and the input scale no longer moves the line"."""
    from helpers import live

    lf = live.first_word_influence(mode="agg")
    assert lf.values["input_scale"] == 6.7 and lf.values["radius"] == 1.0
    ratios = line_y(lf)  # gaps 0, 5, ..., 100; the orange curve above printed 5.4e-03 at gap 10, 2.3e-22 at 100
    assert within_factor(ratios[2], 5.4e-3, 1.05) and within_factor(ratios[-1], 2.3e-22, 1.05)
    assert [l.get_color() for l in lf.fig.axes[0].lines if l.get_gid() == "measured"] == ["#0072B2"]
    seen = {}
    for scale in (1.0, 6.7, 10.0):
        set_controls(lf, input_scale=scale)
        ratios = line_y(lf)
        seen[scale] = dict(reading=status(lf, ax=1), per_word=ratios[-1] ** (1 / 100), at_45=ratios[9])
        if scale == 1.0:
            np.testing.assert_allclose(ratios, line_y(lf, "scale=1"), rtol=1e-12)
    assert seen[1.0]["reading"].startswith("0% saturated") and "rms f' = 0.91" in seen[1.0]["reading"]
    assert seen[6.7]["reading"].startswith("15% saturated") and "rms f' = 0.62" in seen[6.7]["reading"]
    assert seen[10.0]["reading"].startswith("30% saturated")
    assert round(seen[1.0]["per_word"], 2) == 0.91 and round(seen[6.7]["per_word"], 2) == 0.61
    assert f"{seen[1.0]['at_45']:.0e}" == "8e-03" and f"{seen[6.7]['at_45']:.0e}" == "3e-11"
    set_controls(lf, activation="linear", input_scale=1.0)
    flat = line_y(lf)
    set_controls(lf, input_scale=6.7)
    np.testing.assert_allclose(line_y(lf), flat, rtol=1e-3)
    assert status(lf, ax=1).startswith("0% saturated")


def solved(gap, input_scale=None) -> int:
    """Seeds 0-4 reaching held-out accuracy 0.9 on the tense task with notebook 04's training cell; run_point is
    that cell (the same data, weights, batches and budget). input_scale None: 6.7, read from the stored sweep."""
    from helpers.sequence import run_point

    if input_scale is None:
        return sum(stored_point("tense", "rnn", gap, seed)["metric"] >= 0.9 for seed in range(5))
    return sum(run_point("tense", "rnn", gap, seed, input_scale=input_scale)["metric"] >= 0.9 for seed in range(5))


def test_04_the_stored_sweep_holds_the_training_cells_runs_at_input_scale_6_7():
    r"""04: "The runs at input scale 6.7 have the budget of notebook 06's stored sweep, which holds them
    (`data/gated_sweep.csv`, the same data, model and training), so the cell reads those 30 from the file and trains
    the 30 at input scale 1" (the cell's loop at input scale 6.7 gives run_point's accuracy exactly, and that is
    the stored value, for a solved and an unsolved point)."""
    from helpers.rnn import RNNClassifier
    from helpers.sequence import run_point
    from helpers.tasks import make_tense_task
    from helpers.training import binary_accuracy, train

    for gap, seed in ((5, 1), (20, 2)):
        data_rng = np.random.default_rng(seed)
        train_set, test_set = make_tense_task(2000, gap, data_rng), make_tense_task(1000, gap, data_rng)
        model = RNNClassifier(train_set.vocab_size, hidden=32, radius=1.0, input_scale=6.7, rng=np.random.default_rng(seed))
        train(model, train_set.one_hot(), train_set.labels, steps=300, lr=0.01, optimizer="adam", batch_size=64,
              generator=torch.Generator().manual_seed(seed), progress=False)
        accuracy = binary_accuracy(model, test_set.one_hot(), test_set.labels)
        assert accuracy == run_point("tense", "rnn", gap, seed)["metric"]
        assert round(accuracy, 3) == stored_point("tense", "rnn", gap, seed)["metric"]


def test_04_five_seeds_at_input_scales_6_7_and_1():
    r"""04: "two of five seeds solve gap 20, one gap 30, and none gap 45", "and most seeds solve gap 45", "even at input
    scale 1 most seeds fail at gap 100". At input scale 1 single seeds sit near the edge (gap 45, seed 2: 0.49 with
    AVX-512 arithmetic, 0.66 with AVX2; with MKL's AVX2 kernels alone the five seeds' mean went from 0.87 to above
    0.95), so only "most" is claimed."""
    assert [solved(gap) for gap in (2, 5, 10, 20, 30, 45)] == [5, 5, 5, 2, 1, 0]
    assert solved(45, input_scale=1.0) >= 3
    assert solved(100, input_scale=1.0) <= 2


def test_08_setup_1_barely_moves_and_answers_like_a_coin():
    r"""08: "Twelve hidden layers of 32 sigmoid units, torch's default initialisation", "800 people to train on, 200 to
    test on", "The loss barely moves and the network answers about as well as a coin" (the loss moves less than 0.1
    in 300 steps; held-out accuracy within 0.05 of 0.5)."""
    from helpers.exercises.nb08 import CLASSIFIER_SETTINGS, broken_deep_network, insurance_split
    from helpers.training import binary_accuracy, linear_layers, train

    X, y, X_test, y_test = insurance_split()
    assert (len(X), len(X_test)) == (800, 200)
    model = broken_deep_network()
    layers = linear_layers(model)
    assert len(layers) == 13 and all(layer.out_features == 32 for _, layer in layers[:-1])
    assert sum(isinstance(m, torch.nn.Sigmoid) for m in model.modules()) == 12
    log = train(model, X, y, generator=torch.Generator().manual_seed(0), **CLASSIFIER_SETTINGS)
    assert log.n_steps == 300 and abs(log.loss[0] - log.final_loss) < 0.1
    assert abs(binary_accuracy(model, X_test, y_test) - 0.5) < 0.05


def test_08_setup_3_draws_n01_weights_and_each_relu_layer_silences_about_half():
    r"""08: "Ten ReLU layers whose weights someone drew from $\mathcal{N}(0, 1)$, whatever the layer's width", "A layer
    of 32 ReLU units adds up 32 inputs, each times its weight, and then sets about half of its units to zero"
    (about half: within 15 points of 50% inactive in every hidden layer of the report); "A health report at initialisation tells
    vanishing from exploding": setup 1 says vanishing, setup 3 exploding."""
    from helpers.exercises.nb08 import broken_deep_network, broken_relu_network, insurance_split
    from helpers.health import gradient_health
    from helpers.training import linear_layers

    X, y, _, _ = insurance_split()
    model = broken_relu_network()
    layers = linear_layers(model)
    assert len(layers) == 11 and sum(isinstance(m, torch.nn.ReLU) for m in model.modules()) == 10
    hidden = torch.cat([layer.weight.detach().ravel() for _, layer in layers[1:-1]])  # the 32 x 32 layers
    assert abs(float(hidden.std()) - 1) < 0.05 and abs(float(hidden.mean())) < 0.05
    report = gradient_health(model, X, y)
    assert all(abs(row.inactive - 0.5) < 0.15 for row in report.rows[:-1])
    assert report.verdict == "exploding" and gradient_health(broken_deep_network(), X, y).verdict == "vanishing"


def test_02_a_sigmoid_unit_is_saturated_beyond_3_6_and_weight_scale_10_spreads_z_to_10():
    r"""02: "its pre-activations $z$ have a standard deviation of about 10", "That happens where $|z| > 3.6$ (solve
    $\sigma(z)(1-\sigma(z)) = 0.025$)", "the last row answers 02.3"."""
    from helpers.exercises.core import evaluate, exercises

    z = np.linspace(0, 10, 100001)
    assert round(float(z[np.argmax(sigmoid_prime(z) < 0.025)]), 1) == 3.6
    rng = np.random.default_rng(0)  # a layer of 64 inputs with spread 1 and weights of scale 10, as in the figure
    z = rng.standard_normal((4000, 64)) @ (10.0 * rng.standard_normal(64) / np.sqrt(64))
    assert within(float(z.std()), 10.0, 0.1)
    last_row = 100 * saturation_fraction(10 * np.random.default_rng(0).standard_normal(100_000), "sigmoid")
    exercise = exercises()["02.3"]
    assert evaluate(exercise, {exercise.answer: round(last_row, 1)}).status == "correct"


def test_04_ten_fillers_cut_the_first_word_two_hundredfold_and_radius_1_5_does_not_save_it():
    r"""04: "At radius 1, ten filler words already cut the first word's influence about two-hundredfold, and at a gap
    of 100 by more than twenty orders of magnitude. Even radius 1.5 does not save it" (not saved: below $10^{-6}$ at
    gap 100)."""
    lf = live.first_word_influence(mode="agg")  # at the input scale and sentence of the figure above it
    ratios = line_y(lf)
    assert within_factor(1 / ratios[2], 200, 1.25) and ratios[-1] < 1e-20
    assert line_y(set_controls(lf, radius=1.5))[-1] < 1e-6


def test_04_the_bound_holds_and_the_gradient_can_fall_far_below_it():
    r"""04: "explain why the gradient reaching step $k$ is bounded by $(s \cdot \max|f'|)^{T-k}$, why it can fall far
    below that bound" (far: a billion times, at the BPTT figure's default)."""
    lf = live.bptt_gradients(mode="agg")
    measured, bound = line_y(lf), line_y(lf, "bound")
    assert np.all(measured <= bound * (1 + 1e-9)) and measured[0] < 1e-9 * bound[0]


def test_05_weight_decay_adds_lambda_w_to_the_gradient_and_shrinks_weights_by_one_minus_eta_lambda():
    r"""05: "adds $\tfrac{\lambda}{2}\|W\|^2$ to the loss (equivalently $\lambda W$ to the gradient, as
    `torch.optim.SGD`'s `weight_decay` does), so every step also shrinks the weights by a factor $1 - \eta\lambda$"."""
    from helpers.rnn import RNNRegressor
    from helpers.tasks import make_adding_task
    from helpers.training import train

    x, y = make_adding_task(100, 5, np.random.default_rng(0))
    ours = RNNRegressor(2, hidden=4, rng=np.random.default_rng(0))
    theirs = RNNRegressor(2, hidden=4, rng=np.random.default_rng(0))
    train(ours, x, y, steps=1, lr=0.1, loss="mse", weight_decay=0.5, progress=False)
    sgd = torch.optim.SGD(theirs.parameters(), lr=0.1, weight_decay=0.5)
    penalised = torch.nn.functional.mse_loss(theirs(torch.tensor(x, dtype=torch.float32)),
                                             torch.tensor(y, dtype=torch.float32))
    penalised.backward()
    sgd.step()
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b)
    w = torch.tensor([2.0], requires_grad=True)  # with no data loss, one step is the factor 1 - eta * lambda
    (0.5 / 2 * (w ** 2).sum()).backward()
    assert float((w - 0.1 * w.grad).detach()) == pytest.approx(2.0 * (1 - 0.1 * 0.5))


def test_07_lab_rows_report_the_first_and_last_of_their_training_steps():
    r"""07: "losses are the first and the last of 20 (or 60) training steps"; "a ratio between 0.1 and 10 is stricter
    than the lab's *healthy*, which allows a factor of 1000 either way"."""
    from helpers.live import _gradient_verdict

    for steps in (20, 60):
        run = lab_run(activation="relu", init="he", steps=steps)
        assert run.loss.shape == (steps,)
    assert _gradient_verdict(np.array([1.01e-3, 1.0])).startswith("healthy")
    assert _gradient_verdict(np.array([0.99, 1e-3])).startswith("healthy")  # ratio 990
    assert _gradient_verdict(np.array([0.99e-3, 1.0])).startswith("vanishing")
    assert _gradient_verdict(np.array([1.01, 1e-3])).startswith("exploding")  # ratio 1010


def test_08_mlp_keeps_torchs_default_initialisation_whatever_the_activation():
    r"""08: "builds the same shape of network with any activation, always with torch's default initialisation"
    (nn.Linear's default: uniform within 1/sqrt(fan_in))."""
    from helpers.exercises.nb08 import DEEP_DEPTH, mlp
    from helpers.training import linear_layers

    for activation in (torch.nn.Sigmoid, torch.nn.ReLU, torch.nn.Tanh):
        layers = linear_layers(mlp(DEEP_DEPTH, activation))
        assert len(layers) == DEEP_DEPTH + 1
        for _, layer in layers:
            limit = 1 / np.sqrt(layer.in_features)
            weight = layer.weight.detach()
            assert float(weight.abs().max()) <= limit
            assert within(float(weight.std()), limit / np.sqrt(3), 0.2)


def test_00_the_figure_at_0_9_crosses_one_percent_where_the_logarithms_say():
    r"""00: "$0.9^k < 0.01$ means $k > \ln 0.01 / \ln 0.9$", "set `factor w` to 0.9 and read where the line crosses
    $10^{-2}$"."""
    from helpers.exercises.nb00 import factors_until_left

    k, y = line(set_controls(live.repeated_product(mode="agg"), w=0.9))
    crossing = int(k[np.argmax(y < 0.01)])
    assert crossing == factors_until_left() == int(np.ceil(np.log(0.01) / np.log(0.9))) == 44


# --- 05 exploding gradients ---------------------------------------------------------------
# The runs of notebook 05, set up as its cells set them up, computed once for all its tests.

def _adding(n, T):
    from helpers.tasks import make_adding_task
    return make_adding_task(n, T, np.random.default_rng(0))


@lru_cache(maxsize=None)
def _05_run(kind: str, radius: float, T: int, lr: float, steps: int = 300, **options):
    r"""(TrainLog, trained model) of one of 05's runs: kind "tanh" (RNNRegressor) or "relu" (ReLURNNRegressor)."""
    from helpers.training import train

    model = _fresh(kind, radius, truncate=options.pop("truncate", None), dtype=options.pop("dtype", torch.float32))
    x, y = _adding(1000, T)
    log = train(model, x, y, steps=steps, lr=lr, loss="mse", batch_size=100, progress=False,
                generator=torch.Generator().manual_seed(0), **options)
    return log, model


def _late(log) -> float:
    r"""The median loss of the last 50 steps, as 05 prints it."""
    return float(np.median(log.loss[-50:]))


def _radius(model) -> float:
    from helpers.recurrent import spectral_radius
    return spectral_radius(model.rnn.weight_hh_l0.detach().double().numpy())


def _fresh(kind: str, radius: float, **options):
    r"""05's network before training: kind "tanh" (RNNRegressor) or "relu" (ReLURNNRegressor), 32 units, seed 0."""
    from helpers.rnn import ReLURNNRegressor, RNNRegressor
    return (RNNRegressor if kind == "tanh" else ReLURNNRegressor)(2, hidden=32, radius=radius,
                                                                   rng=np.random.default_rng(0), **options)


def test_05_the_gradient_grows_with_the_sequence_length_through_the_recurrence_at_scale_3():
    r"""05: "at scale 0.9 no gradient grows appreciably with the length of the sequence" (none is more than 10% above
    its value at T = 5), "At scale 3 the recurrent weights' gradient grows from about 8 at $T = 10$ to about $6 \times
    10^{4}$ at $T = 40$, and the input weights' with it, while the readout's stays between 3 and 5", "at scale 3 these are, on
    average, larger than 1, even though $\tanh' \le 1$ and many units are saturated" (the geometric mean growth per
    step above 1; many: 30% or more), "what counts is the scale times the typical slope" (3 x rms f' above 1)."""
    from helpers.health import gradient_health
    from helpers.rnn import state_gradient_norms
    from helpers.training import gradient_norms

    norms = {radius: np.array([gradient_norms(_fresh("tanh", radius), *(a[:100] for a in _adding(1000, T)), "mse")
                               for T in (5, 10, 20, 30, 40)]) for radius in (0.9, 3.0)}
    assert np.all(norms[0.9] <= 1.1 * norms[0.9][0])
    inputs, recurrent, readout = norms[3.0].T
    assert within(recurrent[1], 8) and within(recurrent[-1], 6e4)
    assert inputs[-1] > 1000 * inputs[1]
    assert np.all((3 <= readout) & (readout <= 5))
    x, y = _adding(100, 30)
    model = _fresh("tanh", 3.0)
    through_time = state_gradient_norms(model, x, y)
    assert (through_time[0] / through_time[-1]) ** (1 / 30) > 1
    assert gradient_health(model, x, y).rows[0].saturation >= 0.3
    states, _ = model.rnn(torch.tensor(x, dtype=torch.float32))
    assert 3.0 * float(torch.sqrt(torch.mean((1 - states.detach() ** 2) ** 2))) > 1


def test_05_what_to_look_for_side_by_side_at_scales_0_9_and_3():
    r"""05: "small enough for scale 0.9", "at scale 0.9 the gradient reaching step $t$ falls as $t$ moves back",
    "every weight matrix's gradient shrinks as the loss falls: calm, if slow training, which ends a little below the
    baseline" (no matrix's gradient above its step-0 value, and ending below a tenth of it; a little: within 0.02), "At
    scale 3 the gradient grows more than $10^{4}$-fold from the last step back to the first", "at step 0 (on the first
    mini-batch) the recurrent weights get a gradient of about 3100 and the input weights about 1300, while the readout
    gets 3.5",
    "One step at learning rate 0.01 then moves $W_h$ by 1.8 times its own size", "From step 1 on, the recurrent
    weights' gradient is thousands of times smaller", "after training $W_h$'s spectral radius is 7 and almost every
    tanh unit is saturated" (90% or more), "so nothing overflows", "its loss ends at the baseline" (within 0.01)."""
    from helpers.health import gradient_health
    from helpers.rnn import state_gradient_norms
    from helpers.tasks import ADDING_BASELINE_MSE

    x, y = _adding(1000, 30)
    calm, _ = _05_run("tanh", 0.9, 30, 0.01)
    assert not calm.diverged
    assert np.all(np.diff(state_gradient_norms(_fresh("tanh", 0.9), x[:100], y[:100])) > 0)
    assert np.all(calm.grad_norms <= calm.grad_norms[0]) and np.all(calm.grad_norms[-1] < 0.1 * calm.grad_norms[0])
    assert ADDING_BASELINE_MSE - 0.02 < _late(calm) < ADDING_BASELINE_MSE
    through_time = state_gradient_norms(_fresh("tanh", 3.0), x[:100], y[:100])
    assert through_time[0] > 1e4 * through_time[-1]
    wild, model = _05_run("tanh", 3.0, 30, 0.01)
    inputs, recurrent, readout = wild.grad_norms[0]
    assert within(recurrent, 3100) and within(inputs, 1300) and within(readout, 3.5)
    assert within(wild.rel_weight_change[0, 1], 1.8)
    assert wild.grad_norms[1:, 1].max() < wild.grad_norms[0, 1] / 1000
    assert round(_radius(model)) == 7 and gradient_health(model, x[:100], y[:100]).rows[0].saturation >= 0.9
    assert not wild.diverged and abs(_late(wild) - ADDING_BASELINE_MSE) < 0.01


def test_05_the_health_report_sees_vanishing_and_exploding_through_time_before_training():
    r"""05: "The gradient health report sees both before any training, from the gradient reaching each time step"."""
    from helpers.health import gradient_health

    x, y = _adding(1000, 30)
    for radius, verdict in ((0.9, "vanishing"), (3.0, "exploding")):
        report = gradient_health(_fresh("tanh", radius), x, y, lr=0.01)
        assert report.verdict == verdict and report.reason.endswith(f"{verdict} through time")


def test_05_the_relu_network_explodes_through_time_whatever_the_learning_rate():
    r"""05: "At scale 0.9 the ReLU network trains" (ends below the baseline), "At scale 2.2 the loss is already 59
    before the first update, because the states grow on their way forward through the 20 steps" (the largest final
    state over 50 times the largest first one), "it is not finite from step 2 on, at either learning rate", "The
    health report calls it exploding: the gradient at step 1 is 91 times the one at step 20, and even a step of 0.001
    would move the readout by more than its own size"; "a step three times smaller fails at the same step", "Only a
    step ten times smaller (0.001) keeps the run finite, and after 300 steps its loss is still above the baseline";
    "a little smaller does not help (0.003 fails at the same step)"."""
    from helpers.health import gradient_health
    from helpers.tasks import ADDING_BASELINE_MSE

    calm, _ = _05_run("relu", 0.9, 20, 0.01)
    assert not calm.diverged and _late(calm) < ADDING_BASELINE_MSE
    for lr in (0.01, 0.003):
        log, _ = _05_run("relu", 2.2, 20, lr)
        assert within(log.loss[0], 59) and log.first_nonfinite_step == 2 and np.isnan(log.loss[2:]).all()
    slowest, _ = _05_run("relu", 2.2, 20, 0.001)
    assert not slowest.diverged and _late(slowest) > ADDING_BASELINE_MSE
    x, y = _adding(1000, 20)
    states, _ = _fresh("relu", 2.2).rnn(torch.tensor(x[:100], dtype=torch.float32))
    assert states[:, -1].abs().max() > 50 * states[:, 0].abs().max()
    report = gradient_health(_fresh("relu", 2.2), x, y, lr=0.01)
    rnn, readout = report.rows
    assert report.verdict == "exploding" and within(rnn.step_ratio, 91) and readout.update_ratio * 0.001 / 0.01 > 1


def _05_replay(steps=3):
    r"""05's hand replay of the ReLU run: per step (loss, spectral radius, largest h_20, step-1 / step-20 gradient,
    all weights NaN after the update, the model before the update)."""
    import copy

    from helpers.rnn import state_gradient_norms

    x, y = _adding(1000, 20)
    model = _fresh("relu", 2.2)
    x_t, y_t = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    batches = torch.randperm(1000, generator=torch.Generator().manual_seed(0)).reshape(10, 100)
    rows = []
    for step in range(steps):
        idx = batches[step]
        before = copy.deepcopy(model)
        W = model.rnn.weight_hh_l0.detach().double().numpy()
        radius = _radius(model) if np.isfinite(W).all() else float("nan")
        with torch.no_grad():
            states, _ = model.rnn(x_t[idx])
        through_time = state_gradient_norms(model, x[idx], y[idx])
        loss = torch.nn.functional.mse_loss(model(x_t[idx]), y_t[idx])
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.01 * p.grad
        rows.append((loss.item(), radius, states[:, -1].abs().max().item(), through_time[1] / through_time[-1],
                     all(bool(p.isnan().all()) for p in model.parameters()), before, idx))
    return rows


def test_05_the_replay_finds_the_explosion_step_by_step_in_the_recurrence():
    r"""05: "Step 0 starts at scale 2.2, where the gradient at step 1 is already about 85 times the one at step 20 (on
    this mini-batch)",
    "at step 1 its spectral radius is 3.2, the largest final state is about $3 \times 10^{12}$, the loss about $1.5
    \times 10^{26}$, and the gradient at step 1 is about $8 \times 10^{11}$ times the one at step 20", "That update
    throws the spectral radius to about $10^{25}$: at step 2 the forward pass overflows, the loss is NaN, and a single
    update turns every weight into NaN"; the replay is the run `train` made (same losses)."""
    from helpers.health import first_nonfinite_output

    rows = _05_replay()
    (loss0, radius0, _, ratio0, _, _, _), (loss1, radius1, state1, ratio1, nan1, _, _), last = rows
    assert radius0 == pytest.approx(2.2) and within(ratio0, 85)
    assert within(radius1, 3.2) and within(state1, 3e12) and within(loss1, 1.5e26) and within(ratio1, 8e11)
    assert not nan1
    loss2, radius2, _, _, nan2, before, idx = last
    assert within_factor(radius2, 1e25) and np.isnan(loss2) and nan2
    assert first_nonfinite_output(before, _adding(1000, 20)[0][idx.numpy()]) is not None
    log, _ = _05_run("relu", 2.2, 20, 0.01)
    np.testing.assert_allclose(log.loss[:2], [loss0, loss1], rtol=1e-6)


def test_05_a_step_too_long_grows_the_readouts_gradient_alone_and_a_smaller_step_cures_it():
    r"""05: "in the explosion (left) the recurrent weights' gradient is the largest from step 0, and all three grow
    more than $10^{22}$-fold in one step", "In the step too long (right) all gradients jump about for the first few
    steps, the recurrent weights' too", "then the recurrent and input weights' gradients fall to exactly 0", "only the
    readout's gradient grows, by about the same factor at every step, more than 10" (about the same: the last five
    factors within 30% of each other; about 18 here, about 12 with MKL's AVX2 kernels), "At learning
    rate 0.1 the same network trains", "one step would move the readout by 1.4 times its size, yet the gradient at step
    1 is only 0.003 times the one at step 20, so nothing grows through time, and the verdict is"; the table's "cures it
    (0.1 trains)", "the recurrent weights' is the largest from step 0 until the numbers overflow", "after a few
    erratic steps the recurrent weights' drops to exactly 0, and only the readout's keeps growing, by about the same
    factor every step" (a few: the zeros start before step 15, after W_h's gradient grew over 100-fold)."""
    from helpers.health import gradient_health
    from helpers.tasks import ADDING_BASELINE_MSE

    explosion, _ = _05_run("relu", 2.2, 20, 0.01)
    finite = explosion.grad_norms[:explosion.first_nonfinite_step]
    assert finite.shape[0] == 2 and list(finite.argmax(axis=1)) == [1, 1]
    assert np.all(explosion.grad_norms[1] > 1e22 * explosion.grad_norms[0])
    too_far, _ = _05_run("tanh", 0.9, 20, 0.3)
    k = too_far.first_nonfinite_step
    recurrent = too_far.grad_norms[:k, 1]
    zero_from = int(np.flatnonzero(recurrent != 0)[-1]) + 1  # exactly 0 from here to the overflow
    assert 0 < zero_from < 15 and k - zero_from >= 5 and np.all(too_far.grad_norms[zero_from:k, :2] == 0)
    assert recurrent[:zero_from].max() > 100 * recurrent[0]
    readout = too_far.grad_norms[k - 5:k, 2]
    factors = readout[1:] / readout[:-1]
    assert np.all(factors > 10) and factors.max() < 1.3 * factors.min()
    smaller, _ = _05_run("tanh", 0.9, 20, 0.1)
    assert not smaller.diverged and _late(smaller) < ADDING_BASELINE_MSE
    report = gradient_health(_fresh("tanh", 0.9), *_adding(1000, 20), lr=0.3)
    rnn, readout_row = report.rows
    assert within(readout_row.update_ratio, 1.4) and within(rnn.step_ratio, 0.003, 0.2)
    assert report.verdict == "learning rate too large"


def test_05_the_forward_check_finds_the_overflow_and_anomaly_mode_the_nan_born_in_a_derivative():
    r"""05: "The forward check names the culprit: the recurrent layer, at time step 2 of 20", "Anomaly detection names
    `MseLossBackward0` and the loss's line instead", "the derivative of $\sqrt{\cdot}$ at 0 is infinite, and
    multiplied by a zero gradient it gives NaN", "Here anomaly detection names `SqrtBackward0` and the very line with
    `torch.sqrt`"."""
    import warnings

    from helpers.health import first_nonfinite_output

    *_, (_, _, _, _, _, broken, idx) = _05_replay()
    x, y = _adding(1000, 20)
    assert first_nonfinite_output(broken, x[idx.numpy()]) == "'rnn' (RNN), first at time step 2 of 20"

    def anomaly(backward) -> tuple:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with torch.autograd.detect_anomaly(check_nan=True):
                with pytest.raises(RuntimeError) as err:
                    backward()
        lines = [str(w.message) for w in caught if "Traceback of forward call" in str(w.message)]
        return str(err.value).splitlines()[0], lines[0]

    x_t, y_t = torch.tensor(x[idx.numpy()], dtype=torch.float32), torch.tensor(y[idx.numpy()], dtype=torch.float32)
    error, forward = anomaly(lambda: torch.nn.functional.mse_loss(broken(x_t), y_t).backward())
    assert "'MseLossBackward0'" in error and "mse_loss" in forward
    v = torch.zeros(3, requires_grad=True)
    assert torch.autograd.grad(torch.sqrt((v ** 2).sum()), v)[0].isnan().all()  # 0 * inf inside the chain rule
    error, forward = anomaly(lambda: (0.0 * torch.sqrt((v ** 2).sum())).backward())
    assert "'SqrtBackward0'" in error and "torch.sqrt" in forward


def test_05_what_to_look_for_when_clipping_rescues_the_run():
    r"""05: "every threshold keeps the run finite", "Clipping by norm at 10 clips only a few steps, most of them the first
    steps, where the explosion is, and ends below the 0.167 baseline", "clipped by norm at 1 and below, every step is
    clipped, each update is at most learning rate $\times$ threshold long (0.01 at threshold 1, less below it)", "the
    loss ends above the baseline (about 0.43 at 0.1)", "at 1 and 3 it also ends below the baseline", "a value-clipped
    step can be up to $\sqrt{1185} \approx 34$ times the threshold long", "0.3 ends above the baseline, 0.1 below
    it". Ending = the median of the last 50 steps; a few: fewer than 10%; the first steps: steps 0-19; each holds
    under another processor's arithmetic too (next test)."""
    _check_05_clipping_claims(_05_clipping_summary())
    n_params = sum(p.numel() for p in _fresh("relu", 2.2).parameters())
    assert n_params == 1185 and round(np.sqrt(n_params)) == 34 and 0.01 * 1.0 == 0.01


CLIPPING_05 = """
import json, numpy as np, torch
from helpers.rnn import ReLURNNRegressor
from helpers.tasks import make_adding_task
from helpers.training import train
x, y = make_adding_task(1000, 20, np.random.default_rng(0))
out = {}
for kind in ("norm", "value"):
    for t in (0.1, 0.3, 1.0, 3.0, 10.0):
        model = ReLURNNRegressor(2, hidden=32, radius=2.2, rng=np.random.default_rng(0))
        log = train(model, x, y, steps=300, lr=0.01, loss="mse", batch_size=100, progress=False,
                    generator=torch.Generator().manual_seed(0), **{f"clip_{kind}": t})
        size = log.total_grad_norm if kind == "norm" else log.max_grad_entry
        clipped = np.flatnonzero(size > t)
        out[f"{kind} {t}"] = [log.diverged, clipped.size / log.n_steps, float(np.mean(clipped < 20)),
                             float(np.median(log.loss[-50:]))]
print(json.dumps(out))
"""


@lru_cache(maxsize=None)
def _05_clipping_summary(setting: tuple = ()) -> dict:
    r"""{"norm 10.0": [diverged, share clipped, share of the clipped in steps 0-19, late loss], ...} as 05 trains them."""
    return run_as(dict(setting), CLIPPING_05)


def _check_05_clipping_claims(runs: dict) -> None:
    from helpers.tasks import ADDING_BASELINE_MSE

    assert not any(diverged for diverged, *_ in runs.values())
    _, share, early, late = runs["norm 10.0"]
    assert 0 < share < 0.1 and early > 0.5 and late < ADDING_BASELINE_MSE
    for t in ("0.1", "0.3", "1.0"):
        _, share, _, late = runs[f"norm {t}"]
        assert share == 1 and late > ADDING_BASELINE_MSE
    assert within(runs["norm 0.1"][3], 0.43)
    assert all(runs[f"value {t}"][3] < ADDING_BASELINE_MSE for t in ("0.1", "1.0", "3.0"))
    assert runs["value 0.3"][3] > ADDING_BASELINE_MSE


def test_05_clipping_claims_hold_on_other_processors_whose_numbers_differ_in_the_second_digit():
    r"""05: "A run that clips only some steps stays close to exploding, and its exact numbers (the share of steps
    clipped, the median size before clipping, the final loss) differ in the second digit from one computer to
    another"; the claims of the test above hold under torch's plain and AVX2 kernels and MKL's AVX2 kernels too
    (the first two differ on any x86 processor with AVX2)."""
    runs = [_05_clipping_summary(tuple(CPU_SETTINGS[name].items())) for name in ("torch-default", "torch-avx2",
                                                                                  "mkl-avx2")]
    for found in runs:
        _check_05_clipping_claims(found)
    plain, avx2 = runs[:2]
    some = [key for key, (_, share, _, _) in plain.items() if 0 < share < 1]
    assert some and any(f"{plain[k][3]:.2g}" != f"{avx2[k][3]:.2g}" or f"{plain[k][1]:.2g}" != f"{avx2[k][1]:.2g}"
                        for k in some)


def test_05_truncation_caps_the_explosion_and_the_range_it_learns():
    r"""05: "no product of more than $k$ Jacobians is ever formed" (the gradient reaching states more than k steps
    back is exactly 0), "Truncated at 5 steps, the recurrent weights' gradient is 3.6 instead of about 2900", "it grows
    back as $k$ grows", "the first marked number is always at least 10 steps before the end", "Truncated at 5 steps
    the network ends at a loss of 0.059, at 10 steps 0.045, untruncated 0.036", "the shorter the window, the less it
    learns of a dependency longer than the window" (in float64, as the notebook trains them)."""
    from helpers.rnn import state_gradient_norms
    from helpers.training import gradient_norms

    x, y = (a[:100] for a in _adding(1000, 30))
    assert np.all(state_gradient_norms(_fresh("tanh", 3.0, truncate=5), x, y)[:25] == 0)
    recurrent = [gradient_norms(_fresh("tanh", 3.0, truncate=k), x, y, "mse")[1] for k in (3, 5, 10, 15, None)]
    assert within(recurrent[1], 3.6) and within(recurrent[-1], 2900) and np.all(np.diff(recurrent) > 0)
    x, _ = _adding(1000, 20)
    first_marked = x[:, :, 1].argmax(axis=1)
    assert np.all(19 - first_marked >= 10)
    late = [_late(_05_run("tanh", 0.9, 20, 0.1, steps=1000, truncate=k, dtype=torch.float64)[0])
            for k in (5, 10, None)]
    assert within(late[0], 0.059) and within(late[1], 0.045) and within(late[2], 0.036)
    assert late[0] > late[1] > late[2]


def test_05_weight_decay_cannot_stop_the_explosion_but_pulls_the_scale_down_over_time():
    r"""05: "Without clipping, every strength fails at step 2, as without decay", "in two steps even $\lambda = 1$
    shrinks the weights only by a factor $(1 - 0.01)^2 \approx 0.98$, while the explosion multiplies the loss by more
    than $10^{24}$ in one step", "the spectral radius of $W_h$ falls from 2.2 to 1.65 at $\lambda = 0.1$ and to 0.64 at
    $\lambda = 1$, below 1, where the gradient can no longer grow through time"."""
    from helpers.rnn import state_gradient_norms

    for decay in (0.0, 1e-2, 1e-1, 1.0):
        assert _05_run("relu", 2.2, 20, 0.01, weight_decay=decay)[0].first_nonfinite_step == 2
    assert round((1 - 0.01 * 1.0) ** 2, 2) == 0.98
    log, _ = _05_run("relu", 2.2, 20, 0.01)
    assert log.loss[1] > 1e24 * log.loss[0]
    for decay, radius in ((0.1, 1.65), (1.0, 0.64)):
        run, model = _05_run("relu", 2.2, 20, 0.01, weight_decay=decay, clip_norm=1.0)
        assert not run.diverged and within(_radius(model), radius, 0.02)
    x, y = _adding(1000, 20)
    through_time = state_gradient_norms(model, x[:100], y[:100])
    assert through_time[1] < through_time[-1]


def test_05_pascanus_cliff_a_wall_across_the_resting_line():
    r"""05: "On the line $b = x_0 - w\,\sigma(x_0)$ the state never moves from $x_0$", "where $w\,\sigma'(x_0) > 1$, that
    is for $w$ above about 4.26, this resting point is unstable, and a unit that starts a little to one side of the line
    ends near one stable state, a little to the other side near another", "At $w = 5$, $\sigma(x_{50})$ is 0.11 just
    below the line and 0.81 just above it ($b$ 0.01 from the line)", "The wall's slope is about 160 at $w = 4.5$, about
    7000 at $w = 5$ and about $4 \times 10^{5}$ at $w = 5.5$, against a median of 0.039 over the window", "the farther
    from where the wall begins, the steeper and thinner it is" (thinner: the b-width where the slope exceeds a tenth of
    its peak shrinks with w)."""
    from helpers.activations import sigmoid
    from helpers.cliff import PASCANU_CLIFF, cliff_error, final_state, wall_bias

    x0 = PASCANU_CLIFF.x0
    for w in (3.0, 5.0, 7.0):
        x, _, _ = final_state(w, x0 - w * sigmoid(x0))
        assert x == pytest.approx(x0, abs=1e-9)
    assert round(1 / (sigmoid(x0) * (1 - sigmoid(x0))), 2) == 4.26
    for w, low, high in ((5.0, 0.11, 0.81),):
        below, above = (sigmoid(final_state(w, wall_bias(w) + s)[0]) for s in (-0.01, 0.01))
        assert round(float(below), 2) == low and round(float(above), 2) == high
    assert np.isnan(wall_bias(4.2)) and np.isfinite(wall_bias(4.3))
    steepest, widths = [], []
    for w in (4.5, 5.0, 5.5):
        b = wall_bias(w) + np.linspace(-0.02, 0.02, 400001)
        _, dw, db = cliff_error(np.full_like(b, w), b)
        slope = np.hypot(dw, db)
        steepest.append(slope.max())
        widths.append(np.ptp(b[slope > slope.max() / 10]))
    assert within(steepest[0], 160) and within(steepest[1], 7000) and within(steepest[2], 4e5)
    assert widths[0] > widths[1] > widths[2]
    _, dw, db = cliff_error(*np.meshgrid(np.linspace(3, 7, 301), np.linspace(-4, 0, 301)))
    assert round(float(np.median(np.hypot(dw, db))), 3) == 0.039


def test_05_what_to_look_for_when_descending_near_the_wall():
    r"""05: "at the defaults (learning rate 1, start $w = 5.25$, $b = -3$) both runs bounce across the wall as they
    descend, step for step the same", "At step 18 they land on the wall's face, where the gradient's norm is 45",
    "Without clipping, that one update throws the unit to $w = 28$, $b = 36.5$, far out of the window, onto a plain
    where the gradient is below $10^{-27}$: it never moves again, and its error stays at 0.09", "Clipped at 0.3, that
    step is 0.3 long: the run stays by the wall and slides along it into the valley, where over its last 10 steps its
    error stays below 0.01, far below the thrown run's 0.09", "Raise the threshold to 3 and the clipped run is thrown
    out too", "Set the learning rate to 0.5 and the unclipped run is not thrown at all", "At 0.1 the run reaches the
    wall too and then bounces across it at almost every step, its error jumping between about 0.3 and 0.01" (bounce,
    reach: the side of the wall changes more than once; almost every step: 80% of the last 20)."""
    from helpers.cliff import cliff_error, wall_bias

    lf = live.cliff_descent(mode="agg")
    assert (lf.values["lr"], lf.values["w0"], lf.values["b0"], lf.values["threshold"]) == (1.0, 5.25, -3.0, 0.3)
    free, clipped = (np.column_stack(line(lf, gid)) for gid in ("path_free", "path_clipped"))
    np.testing.assert_array_equal(free[:19], clipped[:19])
    side = np.sign(free[:19, 1] - wall_bias(free[:19, 0]))
    assert np.count_nonzero(np.diff(side)) > 1
    _, dw, db = cliff_error(*free[18])
    assert within(float(np.hypot(dw, db)), 45)
    assert np.round(free[19], 1).tolist() == [28.0, 36.5] and np.all(free[19:] == free[19])
    _, dw, db = cliff_error(*free[-1])
    assert float(np.hypot(dw, db)) < 1e-27 and round(float(line_y(lf, "loss_free", ax=1)[-1]), 2) == 0.09
    steps = np.hypot(*np.diff(clipped, axis=0).T)
    assert abs(steps[18] - 0.3) < 1e-12 and np.all(steps <= 0.3 + 1e-12)
    assert np.all(line_y(lf, "loss_clipped", ax=1)[-10:] < 0.01)
    assert clipped[:, 0].min() > 3 and clipped[:, 1].max() < 0  # never out of the window
    thrown = np.column_stack(line(set_controls(lf, threshold=3.0), "path_clipped"))
    assert thrown[:, 0].max() > 7 or thrown[:, 1].max() > 0  # out of the window, 3 <= w <= 7, -4 <= b <= 0
    for lr in (0.5, 0.1):
        path = np.column_stack(line(set_controls(lf, threshold=0.3, lr=lr), "path_free"))
        assert np.abs(path).max() < 7.5  # never thrown
        assert np.count_nonzero(np.diff(np.sign(path[:, 1] - wall_bias(path[:, 0])))) > 1
    side = np.sign(path[-21:, 1] - wall_bias(path[-21:, 0]))
    assert np.mean(np.diff(side) != 0) >= 0.8
    last = line_y(lf, "loss_free", ax=1)[-20:]
    assert 0.25 < last.max() < 0.35 and 0.005 < last.min() < 0.02


def test_07_a_learning_rate_too_large_comes_with_the_largest_safe_learning_rate():
    r"""07: "*Learning rate too large*: lower the learning rate; the report's reason says below which value no step
    would move a layer by more than a tenth of its size"."""
    from helpers.health import gradient_health

    x, y = _adding(1000, 20)
    report = gradient_health(_fresh("tanh", 0.9), x, y, lr=0.3)
    assert report.verdict == "learning rate too large"
    safe = float(re.search(r"below lr (\S+) no step would move a layer by more than 0.1 of its size", report.reason)[1])
    slower = gradient_health(_fresh("tanh", 0.9), x, y, lr=safe * 0.99)
    assert max(row.update_ratio for row in slower.rows) <= 0.1 and slower.verdict != "learning rate too large"
