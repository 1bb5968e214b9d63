"""Live figures without a browser: move every control to its ends and check what is drawn."""
import io
import subprocess
import sys
import warnings
from pathlib import Path

import ipywidgets as W
import matplotlib
import numpy as np
import pytest
from PIL import Image

from helpers import live
from helpers.chain import chain_bound_curve
from helpers.data import insurance_batch
from helpers.network import NetConfig, init_params, to_torch, torch_layer_gradients
from helpers.plots import log_safe
from helpers.rnn import RNNRegressor, init_rnn, rnn_forward
from helpers.tasks import make_adding_task
from helpers.training import train
from helpers.widgets import LiveFigure, figure_png, float_slider, live_figure, set_live_mode

def small_clipping_runs():
    """A tiny exploding RNN trained without and with clipping: (unclipped log, {(kind, t): log})."""
    x, y = make_adding_task(64, 8, np.random.default_rng(0))

    def run(**clip):
        model = RNNRegressor(2, hidden=8, radius=2.5, rng=np.random.default_rng(0))
        return train(model, x, y, steps=25, lr=0.5, loss="mse", progress=False, **clip)

    runs = {(kind, t): run(**{f"clip_{kind}": t}) for kind in ("norm", "value") for t in (0.1, 1.0)}
    return run(), runs


SMALL_RNN_PARAMS = 8 * 2 + 8 * 8 + 8 + 8 + 8 + 1  # RNNRegressor(2, hidden=8): weights and biases


def clipping_rescue(mode):
    return live.clipping_rescue(*small_clipping_runs(), lr=0.5, n_params=SMALL_RNN_PARAMS, baseline=1 / 6,
                                mode=mode)


FIGURES = [live.repeated_product, live.chain_product, live.saturation, live.sigmoid_chain,
           live.layer_gradients, live.scalar_recurrence, live.bptt_gradients, clipping_rescue,
           live.cliff_descent, live.forget_path, live.gated_gradients, live.remedies_lab,
           live.first_word_influence, live.activation_statistics]


def control_values(control) -> list:
    """Minimum, default and maximum of a slider, every option of a dropdown, both states of a switch."""
    if isinstance(control, W.Checkbox):
        return [not control.value, control.value]
    if isinstance(control, (W.Dropdown, W.SelectionSlider)):
        return list(control.options)
    if isinstance(control, W.FloatLogSlider):
        return [control.base ** control.min, control.value, control.base ** control.max]
    return [control.min, control.value, control.max]


def line_y(lf: LiveFigure, gid: str = "measured", ax: int = 0) -> np.ndarray:
    (line,) = [line for line in lf.fig.axes[ax].lines if line.get_gid() == gid]
    return np.asarray(line.get_ydata(), dtype=float)


def status(lf: LiveFigure, ax: int = 0) -> str:
    texts = [t.get_text() for t in lf.fig.axes[ax].texts if t.get_visible()]
    return " ".join(texts)


@pytest.mark.parametrize("make", FIGURES, ids=lambda f: f.__name__)
def test_every_control_at_its_ends_updates_without_error_or_warning(make):
    lf = make(mode="agg")
    for name, control in lf.controls.items():
        default = control.value
        pictures = {figure_png(lf.fig)}
        for value in control_values(control):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                control.value = value
            assert lf.last_error is None, f"{name}={value}: {lf.last_error}"
            pictures.add(figure_png(lf.fig))
        # Two options may legitimately draw alike (relu and leaky_relu on positive inputs),
        # but a control whose every value draws the same picture is wired to nothing.
        needed = 2 if isinstance(control, (W.Dropdown, W.SelectionSlider, W.Checkbox)) else 3
        assert len(pictures) >= needed, name
        control.value = default


def test_repeated_product_draws_powers_of_w():
    lf = live.repeated_product(mode="agg")
    for w in (0.0, 0.5, 1.0, 2.0):
        lf.controls["w"].value = w
        expected = log_safe(np.power(w, np.arange(51.0)))
        np.testing.assert_allclose(line_y(lf), expected, rtol=1e-12)
    assert "0" in status(lf) or "1.13e+15" in status(lf)


def test_chain_product_follows_both_sliders_and_names_underflow():
    lf = live.chain_product(mode="agg")
    lf.controls["n_factors"].value = 1
    assert line_y(lf).size == 1
    lf.controls["n_factors"].value = 50
    lf.controls["d"].value = 2.0
    np.testing.assert_allclose(line_y(lf)[-1], 2.0 ** 50)
    lf.controls["d"].value = 0.0
    assert np.isnan(line_y(lf)).all()  # zeros cannot sit on a log axis ...
    assert "exactly 0 at factor 1" in status(lf)  # ... so the figure says it in words


def test_saturation_histograms_are_distributions_and_saturation_grows_with_scale():
    lf = live.saturation(mode="agg")
    percents = []
    for scale in (0.1, 1.0, 10.0):
        lf.controls["scale"].value = scale
        lf.controls["spread"].value = 10.0
        for ax in (0, 1):
            heights = lf.fig.axes[ax].patches[0].get_data().values
            assert heights.sum() == pytest.approx(1.0)
        percents.append(int(status(lf).split("%")[0]))
    assert percents[0] < percents[1] < percents[2]
    assert percents[2] >= 95  # z spread 100: almost every sigmoid unit is flat
    lf.controls["activation"].value = "linear"
    assert status(lf).startswith("0%")  # a linear unit never saturates


def test_saturation_figure_calls_relus_flat_side_inactive_not_saturated():
    lf = live.saturation(mode="agg")
    shades = lf.fig.axes[0].patches[1:]  # the histogram, then the two shaded spans
    assert {p.get_label() for p in shades} == {"saturated: f' < 10%"}
    lf.controls["activation"].value = "relu"
    readings = []
    for scale in (0.1, 1.0, 10.0):  # rescaling z never changes its sign
        lf.controls["scale"].value = scale
        text = status(lf)
        assert text.startswith("0% saturated") and "of units saturated" not in text
        readings.append(int(text.split("% inactive (pass back exactly 0)")[0].split()[-1]))
    assert readings[0] == readings[1] == readings[2] and 40 <= readings[0] <= 60
    assert {p.get_label() for p in shades} == {"inactive: f' = 0"}
    left, right = shades
    assert (left.get_x(), left.get_x() + left.get_width()) == pytest.approx((-live.Z_RANGE, 0.0))
    assert right.get_width() == 0.0  # z > 0 passes back a full 1: nothing shaded there
    names = [t.get_text() for t in lf.fig.axes[0].texts if t.get_visible()]
    assert "inactive: f' = 0" in names and not any(name.startswith("saturated") for name in names)
    lf.controls["activation"].value = "leaky_relu"  # never inactive, never saturated
    assert status(lf) == "0% of units saturated" and all(p.get_width() == 0.0 for p in shades)


def test_sigmoid_chain_measured_stays_below_bound_and_linear_meets_it():
    lf = live.sigmoid_chain(mode="agg")
    for n in (1, 10, 50):
        for w in (0.1, 1.0, 10.0):
            lf.controls["n_units"].value = n
            lf.controls["w"].value = w
            measured, bound = line_y(lf, "measured"), line_y(lf, "bound")
            drawable = np.isfinite(measured) & np.isfinite(bound)
            assert np.all(measured[drawable] <= bound[drawable] * (1 + 1e-12))
    lf.controls["activation"].value = "linear"
    lf.controls["w"].value = 1.2
    np.testing.assert_allclose(line_y(lf), log_safe(chain_bound_curve(50, 1.2, "linear")), rtol=1e-12)


@pytest.mark.parametrize("depth,scale,activation,init", [
    (1, 0.1, "sigmoid", "xavier"), (10, 1.0, "sigmoid", "xavier"), (50, 10.0, "relu", "normal"),
    (50, 3.0, "tanh", "xavier"), (50, 0.1, "leaky_relu", "normal"),
])
def test_layer_gradients_plot_matches_autograd(depth, scale, activation, init):
    lf = live.layer_gradients(mode="agg")
    lf.controls["depth"].value = depth
    lf.controls["scale"].value = scale
    lf.controls["activation"].value = activation
    lf.controls["init"].value = init
    x, y = insurance_batch()
    config = NetConfig(depth=depth, width=32, activation=activation, init=init, weight_scale=scale)
    expected = torch_layer_gradients(to_torch(init_params(config, np.random.default_rng(0)), activation), x, y).weight_norms
    np.testing.assert_allclose(line_y(lf, "weight_grads"), log_safe(expected), rtol=1e-7)
    assert line_y(lf, "act_grads").size == depth  # one dL/dh point per hidden layer


def test_image_mode_refreshes_png_and_bundle_keeps_a_static_copy():
    lf = live.chain_product(mode="image")
    assert isinstance(lf.view, W.Image)
    assert not any(c.continuous_update for c in lf.controls.values())  # redraw on release only
    first = lf.view.value
    lf.controls["d"].value = 1.5
    assert lf.view.value != first and lf.view.value[:4] == b"\x89PNG"
    bundle = lf._repr_mimebundle_()
    assert {"image/png", "text/plain", "application/vnd.jupyter.widget-view+json"} <= set(bundle)
    assert bundle["text/plain"].startswith("Live figure controlled by: n_factors, d")


def test_an_update_that_raises_is_shown_not_raised():
    def update(line, v):
        if v > 0.5:
            raise ArithmeticError("value too large for this demo")
        line.set_ydata([v, v])

    lf = live_figure(lambda ax: ax.plot([0, 1], [0, 0])[0], update,
                     {"v": float_slider(0.1, 0.0, 1.0, 0.1, "v")}, mode="agg")
    lf.controls["v"].value = 0.9
    assert isinstance(lf.last_error, ArithmeticError)
    assert "value too large" in lf.message.value
    lf.controls["v"].value = 0.2
    assert lf.last_error is None and lf.message.value == ""


def test_a_value_sent_back_with_rounding_error_is_not_a_move():
    """The browser's slider sent back 1.0000000000000009 for 1.0 after Run All (measured)."""
    calls = []
    lf = live_figure(lambda ax: None, lambda state, b: calls.append(b),
                     {"b": float_slider(1.0, -3.0, 8.0, 0.25, "bias")}, mode="agg")
    lf.controls["b"].value = 1.0000000000000009
    assert calls == [1.0]  # the first draw only
    lf.controls["b"].value = 1.25
    assert calls == [1.0, 1.25]


RACE = """
import threading
from helpers import live
lf = live.gated_gradients(mode="ipympl")
canvas = lf.fig.canvas
canvas.send_binary = canvas.send_json = lambda *args: None  # no browser here
errors, stop = [], threading.Event()

def browser():  # the canvas asking for frames, as JupyterLab may on a kernel subshell thread
    while not stop.is_set():
        try:
            canvas._handle_custom_msg({"type": "draw"}, [])
        except Exception as err:
            errors.append(repr(err))

thread = threading.Thread(target=browser)
thread.start()
for i in range(60):  # meanwhile the class drags a slider
    lf.controls["T"].value = 10 + (i * 7) % 150
    if lf.last_error is not None:
        errors.append(repr(lf.last_error))
stop.set()
thread.join()
print("errors:", errors)
"""


def test_a_live_figure_drawn_from_two_threads_at_once_does_not_break():
    """Without the drawing lock this corrupted the heap (malloc abort) or failed in FreeType."""
    done = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    assert "errors: []" in done.stdout, done.stdout[-2000:]


def test_ipympl_canvas_leaves_pyplot_backend_alone():
    backend = matplotlib.get_backend()
    lf = live.chain_product(mode="ipympl")
    assert type(lf.view).__name__ == "Canvas"
    assert matplotlib.get_backend() == backend


def test_first_move_on_an_ipympl_canvas_is_a_blit():
    """The background is rendered while the cell runs, not on the class's first move."""
    lf = live.remedies_lab(mode="ipympl")
    assert lf.full_draws == 1
    lf.controls["weight_decay"].value = 1e-4
    assert (lf.full_draws, lf.partial_draws) == (1, 0)


def test_ipympl_canvas_gets_a_whole_frame_when_the_browser_is_ready():
    lf = live.chain_product(mode="ipympl")
    canvas, frames = lf.fig.canvas, []
    canvas.send_binary = frames.append  # what would go to the browser
    canvas._handle_custom_msg({"type": "initialized"}, [])  # as the front end sends it
    assert len(frames) == 1 and frames[0].startswith(b"\x89PNG")
    assert canvas._current_image_mode == "full"


def test_unknown_live_mode_is_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="auto, ipympl, image, agg"):
        set_live_mode("svg")


def test_scalar_recurrence_draws_powers_of_w_backwards_in_time():
    lf = live.scalar_recurrence(mode="agg")
    for w, T in ((0.5, 20), (1.5, 200), (0.0, 1), (2.0, 200)):
        lf.controls["w"].value, lf.controls["T"].value = w, T
        np.testing.assert_allclose(line_y(lf), log_safe(w ** (T - np.arange(T + 1.0))), rtol=1e-12)


def test_bptt_gradients_stay_under_the_bound_and_meet_it_for_a_linear_orthogonal_rnn():
    lf = live.bptt_gradients(mode="agg")
    for activation in ("tanh", "sigmoid", "relu"):
        for radius in (0.1, 1.0, 3.0):
            lf.controls["activation"].value, lf.controls["radius"].value = activation, radius
            measured, bound = line_y(lf), line_y(lf, "bound")
            ok = np.isfinite(measured) & np.isfinite(bound)
            assert np.all(measured[ok] <= bound[ok] * (1 + 1e-9)), (activation, radius)
    lf.controls["activation"].value, lf.controls["radius"].value = "linear", 1.5
    lf.controls["T"].value = 30
    # Linear and orthogonal: every step multiplies the gradient's norm by exactly rho.
    np.testing.assert_allclose(line_y(lf), line_y(lf, "bound"), rtol=1e-9)
    np.testing.assert_allclose(line_y(lf)[0] / line_y(lf)[-1], 1.5 ** 30, rtol=1e-9)


def expected_log10_norms(rho: float, T: int) -> np.ndarray:
    """log10 ||dL/dh_t||, t = 0..T, for the figure's linear orthogonal RNN, without a backward pass.

    dL/dh_T = dout @ W_y with dout = 2 out (squared error against 0, batch 1); every step
    back multiplies the norm by exactly rho (rho times an orthogonal matrix). In log
    space nothing overflows, however large the norm.
    """
    params = init_rnn(32, live.RNN_INPUTS, 1, np.random.default_rng(0), recurrent="orthogonal", radius=rho)
    xs = np.random.default_rng(0).standard_normal((1, live.MAX_T, live.RNN_INPUTS))[:, :T]
    out = rnn_forward(params, xs, "linear").out[0, 0]  # about rho^T: a float64 for every slider setting
    last = np.log10(2 * abs(out)) + np.log10(np.linalg.norm(params.W_y))
    return last + (T - np.arange(T + 1)) * np.log10(rho)


def test_bptt_gradients_draw_huge_finite_norms_and_name_the_step_of_a_real_overflow():
    lf = live.bptt_gradients(mode="agg")
    lf.controls["activation"].value, lf.controls["T"].value = "linear", 200
    lf.controls["radius"].value = 3.0
    expected = expected_log10_norms(lf.controls["radius"].value, 200)
    measured = line_y(lf)
    # About 8e189 at step 0: its squares are beyond float64, the norm is not.
    assert 189 < expected[0] < 190 and np.all(np.isfinite(measured))
    np.testing.assert_allclose(np.log10(measured), expected, rtol=0, atol=1e-12)
    assert "overflow" not in status(lf) and "first step / last step = 2.7e+95" in status(lf)

    # At the slider's end the true norm passes float64's largest value on the way back.
    lf.controls["radius"].value = live.MAX_RADIUS
    expected = expected_log10_norms(lf.controls["radius"].value, 200)
    beyond = np.flatnonzero(expected > np.log10(np.finfo(np.float64).max))
    assert beyond.size and beyond[-1] < 200
    text = status(lf)
    assert text.startswith("gradient overflowed to inf at step "), text
    step = int(text.rsplit(" ", 1)[1])
    # Named where it happened, not at step 0: an entry of dh_t overflows only once the
    # norm has, and at most one step later (the largest of the 32 entries is at least
    # the norm / sqrt(32), and each step back multiplies the norm by rho = 10 > sqrt(32)).
    assert step in (beyond[-1], beyond[-1] - 1)
    measured = line_y(lf)
    assert np.all(np.isnan(measured[:step + 1]))  # inf there, NaN before it: nothing drawn
    drawn = np.flatnonzero(expected < 299)
    np.testing.assert_allclose(np.log10(measured[drawn]), expected[drawn], rtol=0, atol=1e-12)


def test_clipping_rescue_shows_the_chosen_run_its_threshold_and_the_numbers_behind_it():
    free, runs = small_clipping_runs()
    lf = live.clipping_rescue(free, runs, lr=0.5, n_params=SMALL_RNN_PARAMS, baseline=1 / 6, mode="agg")
    for (kind, threshold), log in runs.items():
        lf.controls["kind"].value, lf.controls["threshold"].value = kind, threshold
        np.testing.assert_array_equal(line_y(lf, "loss_clipped"), log_safe(log.loss))
        size = log.total_grad_norm if kind == "norm" else log.max_grad_entry
        np.testing.assert_array_equal(line_y(lf, "grad_clipped", ax=1), log_safe(size))
        assert line_y(lf, "threshold", ax=1)[0] == threshold
        text = status(lf)
        assert f"clipped {np.sum(size > threshold)} of {size.size} steps ({100 * np.mean(size > threshold):.0f}%)" in text
        longest = 0.5 * threshold * (1 if kind == "norm" else np.sqrt(SMALL_RNN_PARAMS))
        assert f"= {longest:.2g}\n" in text
    np.testing.assert_array_equal(line_y(lf, "loss_free"), log_safe(free.loss))
    assert line_y(lf, "baseline")[0] == pytest.approx(1 / 6)
    assert lf.fig.axes[0].get_ylim() == live.CLIPPING_LOSS_RANGE  # 0.09, 0.13 and 2.3 stay far apart


def cliff_line(lf: LiveFigure, gid: str, ax: int) -> np.ndarray:
    """(points, 2) the x and y data of the line named `gid` in panel `ax`."""
    (line,) = [line for line in lf.fig.axes[ax].lines if line.get_gid() == gid]
    return np.column_stack([np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)])


def test_cliff_descent_falls_off_without_clipping_and_stays_with_it():
    from helpers.cliff import CLIFF_LR, CLIFF_START, CLIFF_STEPS, CLIFF_THRESHOLD, CLIFF_WINDOW, descend

    lf = live.cliff_descent(mode="agg")
    free = descend(*CLIFF_START, CLIFF_LR, CLIFF_STEPS)
    clipped = descend(*CLIFF_START, CLIFF_LR, CLIFF_STEPS, threshold=CLIFF_THRESHOLD)
    # Left: both paths over the whole surface, the start marked; right: the error at steps 0..100.
    assert lf.fig.axes[0].images[0].get_extent() == list(CLIFF_WINDOW)
    assert (*lf.fig.axes[0].get_xlim(), *lf.fig.axes[0].get_ylim()) == CLIFF_WINDOW
    for name, run in (("free", free), ("clipped", clipped)):
        np.testing.assert_array_equal(cliff_line(lf, f"path_{name}", 0), run.path)
        np.testing.assert_array_equal(cliff_line(lf, f"loss_{name}", 1), np.column_stack([np.arange(101), run.loss]))
    np.testing.assert_array_equal(cliff_line(lf, "start", 0), [CLIFF_START])
    styles = {name: next(l for l in lf.fig.axes[0].lines if l.get_gid() == f"path_{name}") for name in ("free", "clipped")}
    assert (styles["free"].get_linestyle(), styles["free"].get_marker()) == ("-", "o")
    assert (styles["clipped"].get_linestyle(), styles["clipped"].get_marker()) == ("--", "s")
    # Thrown out of the window by one step off the wall; the clipped run takes 0.3 at most and stays.
    assert "no clipping: left the plotted window at step 19" in status(lf)
    assert "clipped at 0.3: largest step 0.3, at step 48\n(a clipped step is lr x 0.3 = 0.3 long)" in status(lf)
    assert status(lf, ax=1) == ("E at step 100: 0.09 without clipping, 3.8e-05 with\n"
                                "clipping acted at 11 of 100 steps")
    thrown = cliff_line(lf, "path_free", 0)[19]
    assert thrown[1] > 30  # far above the window's top (b = 0): matplotlib draws the segment towards it
    lf.controls["threshold"].value = 10.0  # above the wall's 45: clipping never acts where it matters
    assert "clipped at 10: left the plotted window at step 19" in status(lf)


def test_cliff_descent_says_in_words_what_a_log_axis_or_the_window_cannot_show():
    from helpers.cliff import Descent

    lf = live.cliff_descent(mode="agg")
    for name, value in (("lr", 10.0), ("w0", 7.0), ("b0", 0.0)):
        lf.controls[name].value = value
    assert status(lf).startswith("no clipping: left the plotted window at step 100")
    lf.controls["w0"].value, lf.controls["b0"].value, lf.controls["lr"].value = 3.0, 0.0, 1.0
    assert "no clipping: E is exactly 0 at step 67" in status(lf, ax=1)  # sigmoid(x_T) = 0.7 to the last bit
    overflowed = Descent(path=np.array([[5.0, -3.0], [np.inf, 1.0], [np.nan, np.nan]]), loss=np.array([0.4, np.nan, np.nan]),
                         grad_norm=np.array([1e308, np.nan]), clipped=np.zeros(2, bool), lr=1.0, threshold=None)
    assert live._cliff_where(overflowed) == ("(w, b) overflowed to inf at step 1", True)
    assert "no clipping: E became NaN at step 1" in live._cliff_errors(overflowed, overflowed)


def test_forget_path_is_a_product_of_gates_that_a_larger_bias_keeps_near_one():
    lf = live.forget_path(mode="agg")
    lf.controls["T"].value = 50
    first = []
    for bias in (-3.0, 0.0, 3.0, 8.0):
        lf.controls["forget_bias"].value = bias
        path = line_y(lf)
        assert path[-1] == 1.0 and np.all(np.diff(path[np.isfinite(path)]) >= 0)  # gates <= 1: never grows back
        first.append(path[0])
    assert first[0] < first[1] < first[2] < first[3]
    assert first[3] > 0.9  # sigmoid(8) ~ 0.9997 per step: fifty steps keep almost everything


def test_gated_gradients_are_relative_to_the_last_step_and_lstm_keeps_more_with_a_large_bias():
    lf = live.gated_gradients(mode="agg")
    lf.controls["T"].value, lf.controls["forget_bias"].value = 100, 6.0
    for kind in ("rnn", "lstm", "gru"):
        assert line_y(lf, kind)[-1] == pytest.approx(1.0)
    assert line_y(lf, "lstm")[0] > 1e3 * line_y(lf, "rnn")[0]


def test_remedies_lab_shows_autograd_norms_and_turns_healthy_with_remedies():
    from helpers.lab import DEFAULT_BATCH, DEFAULT_WIDTH

    lf = live.remedies_lab(mode="agg")
    assert status(lf).startswith("vanishing")  # sigmoid, depth 20: the starting point
    x, y = insurance_batch(DEFAULT_BATCH)
    config = NetConfig(depth=20, width=DEFAULT_WIDTH, activation="sigmoid", init="xavier")
    expected = torch_layer_gradients(to_torch(init_params(config, np.random.default_rng(0)), "sigmoid"), x, y).weight_norms
    np.testing.assert_allclose(line_y(lf), log_safe(expected), rtol=1e-9)
    for name, value in (("activation", "relu"), ("init", "he"), ("batch_norm", True), ("residual", True)):
        lf.controls[name].value = value
    assert status(lf).startswith("healthy")
    loss = line_y(lf, "loss", ax=1)
    assert loss[-1] < 0.1 < np.log(2) < loss[0]  # trains well past a 50/50 guess


def test_remedies_lab_calls_a_balanced_but_huge_gradient_exploding():
    lf = live.remedies_lab(mode="agg")
    lf.controls["activation"].value, lf.controls["init"].value = "relu", "normal"
    assert status(lf).startswith("exploding")
    assert "non-finite" in status(lf, ax=1)
    lf.controls["clip"].value = 0.3
    assert "non-finite" not in status(lf, ax=1)  # clipping keeps the run finite


@pytest.mark.parametrize("make", FIGURES, ids=lambda f: f.__name__)
def test_blitted_canvas_shows_what_a_full_draw_shows(make):
    """After any move, what the canvas holds (often a blit) is what drawing everything gives."""
    lf = make(mode="agg")
    # Data painted over the background lands on top of the axes' frame, which a full
    # draw puts above it; the comparison leaves the frame out.
    for ax in lf.fig.axes:
        ax.spines[:].set_visible(False)
    lf.refresh()
    worst = 0.0
    for control in lf.controls.values():
        for value in control_values(control):
            control.value = value
            shown = np.array(lf.fig.canvas.buffer_rgba())
            lf.fig.canvas.draw()  # everything, from scratch
            full = np.asarray(lf.fig.canvas.buffer_rgba())
            worst = max(worst, np.any(shown != full, axis=-1).mean())
    assert worst == 0.0


def test_new_ticks_in_one_panel_re_render_that_panel_alone():
    lf = live.remedies_lab(mode="agg")
    for ax in lf.fig.axes:  # as in the test above: data would cover the frame
        ax.spines[:].set_visible(False)
    lf.refresh()
    loss_ylim = lf.fig.axes[1].get_ylim()
    full, partial = lf.full_draws, lf.partial_draws
    lf.controls["depth"].value = 2  # new layer range in the gradient panel only
    assert lf.fig.axes[1].get_ylim() == loss_ylim
    assert (lf.full_draws, lf.partial_draws) == (full, partial + 1)
    shown = np.array(lf.fig.canvas.buffer_rgba())
    lf.fig.canvas.draw()
    np.testing.assert_array_equal(shown, np.asarray(lf.fig.canvas.buffer_rgba()))


@pytest.mark.parametrize("make", [live.layer_gradients, live.remedies_lab, live.activation_statistics])
def test_a_depth_drag_re_renders_the_axes_on_few_moves(make):
    """Dragged from 1 to 50 layers and back, the axes re-range every several moves, not
    every other one: a re-render costs several blits, and a drag must feel instant."""
    lf = make(mode="agg")
    depth = lf.controls["depth"]
    moves = [*range(1, depth.max + 1), *range(depth.max - 1, 0, -1)]
    before = lf.full_draws + lf.partial_draws
    for value in moves:
        depth.value = value
    assert lf.full_draws + lf.partial_draws - before <= len(moves) // 4


def test_neighbouring_slider_values_are_blits_and_new_ticks_are_full_draws():
    lf = live.layer_gradients(mode="agg")
    scale = lf.controls["scale"]
    start = lf.full_draws
    for _ in range(5):  # a drag: small steps keep the axes as they are
        scale.value *= 1.05
    assert lf.full_draws - start <= 1
    lf.controls["depth"].value = 3  # new x-range: the background must be redrawn
    assert lf.full_draws - start >= 1
    assert lf.fig.axes[0].get_xlim()[1] < 6


def notebook_04_ratios(input_scale, radius, activation="tanh"):
    """Notebook 04's ratio cell, one sentence per gap: ((21,) ||dL/dx_first|| / ||dL/dx_last|| for
    gaps 0, 5, ..., 100, the share of saturated units and the rms of f' along the gap-100 sentence)."""
    from helpers.activations import get_activation, saturation_fraction
    from helpers.rnn import init_rnn, input_gradient_norms, output_loss, rnn_bptt, rnn_forward
    from helpers.tasks import make_tense_task

    sentence = make_tense_task(1, gap=100, rng=np.random.default_rng(3))
    x = sentence.one_hot()[0]
    p = init_rnn(32, sentence.vocab_size, 2, np.random.default_rng(0), radius=radius, input_scale=input_scale)
    ratios = []
    for gap in range(0, 101, 5):
        cache = rnn_forward(p, np.concatenate([x[:1], x[1:1 + gap], x[-1:]])[None], activation)
        influence = input_gradient_norms(p, cache, rnn_bptt(p, cache, output_loss(cache.out, sentence.labels, "ce").dout))
        ratios.append(influence[0] / influence[-1])
    rms = np.sqrt(np.mean(get_activation(activation).df(cache.zs) ** 2))
    return np.array(ratios), saturation_fraction(cache.zs, activation), rms


def saturated_percent(lf: LiveFigure) -> int:
    return int(status(lf, ax=1).split("%")[0])


@pytest.mark.parametrize("input_scale,radius", [(6.7, 1.0), (1.0, 1.5)])
def test_first_word_influence_draws_the_notebook_ratios_and_saturated_share(input_scale, radius):
    lf = live.first_word_influence(mode="agg")
    lf.controls["input_scale"].value, lf.controls["radius"].value = input_scale, radius
    expected, saturated, rms = notebook_04_ratios(input_scale, radius)
    np.testing.assert_allclose(line_y(lf), expected, rtol=1e-9)  # one batch of zero-padded rows, one sentence per gap
    assert saturated_percent(lf) == round(100 * saturated)
    assert f"rms f' = {rms:.2f}" in status(lf, ax=1)
    assert f"{expected[9]:.1g}" in status(lf)  # the reading at gap 45


def test_first_word_influence_fades_faster_and_saturates_more_with_a_larger_input_scale():
    lf = live.first_word_influence(mode="agg")
    lf.controls["radius"].value = 1.0
    at_45, percents = [], []
    for input_scale in (0.5, 1.0, 3.0, 6.7, 10.0):
        lf.controls["input_scale"].value = input_scale
        at_45.append(line_y(lf)[9])
        percents.append(saturated_percent(lf))
    assert all(a > b for a, b in zip(at_45, at_45[1:]))
    assert at_45[1] > 1e6 * at_45[3]  # input scale 1 against the tense task's 6.7
    assert percents[1] == 0 and percents[2] < percents[3] < percents[4]
    lf.controls["activation"].value = "linear"  # no curvature: the input scale changes nothing
    lines = []
    for input_scale in (0.5, 6.7):
        lf.controls["input_scale"].value = input_scale
        lines.append(line_y(lf))
        assert saturated_percent(lf) == 0
    # Equal but for rounding: the softmax's gradient loses digits as the outputs grow with the scale.
    np.testing.assert_allclose(lines[0], lines[1], rtol=1e-3)


def test_the_lab_calls_a_gradient_that_underflowed_vanishing_and_one_that_overflowed_exploding():
    from helpers.live import _gradient_verdict

    assert _gradient_verdict(np.array([0.0, 1e-20, 1.0])).startswith("vanishing: gradient is exactly 0 at layer 1")
    assert _gradient_verdict(np.array([1e-310, 1.0])).startswith("vanishing")
    assert _gradient_verdict(np.array([np.inf, 1.0])).startswith("exploding")
    assert _gradient_verdict(np.array([np.nan, 1.0])).startswith("exploding")


# --- activation_statistics: the figure's numbers against torch's forward pass ----------

def torch_hidden_outputs(depth, scale, activation, init):
    """(x, [h_l (batch, width)], [z_l]) of layer_gradients' network run by torch (to_torch):
    each hidden layer's activation module's output and input."""
    import torch

    x, _ = insurance_batch()
    config = NetConfig(depth=depth, width=32, activation=activation, init=init, weight_scale=scale)
    model = to_torch(init_params(config, np.random.default_rng(0)), activation)
    hs, zs = [], []

    def keep(module, inputs, out):
        zs.append(inputs[0].detach().numpy().copy())
        hs.append(out.detach().numpy().copy())

    for module in model:
        if not isinstance(module, torch.nn.Linear):
            module.register_forward_hook(keep)
    with torch.no_grad():
        model(torch.from_numpy(x))
    return x, hs, zs


def band_heights(lf, gid: str) -> np.ndarray:
    """Every y of the band `gid`'s polygons (its lower and upper edges, where drawn)."""
    (band,) = [c for c in lf.fig.axes[0].collections if c.get_gid() == gid]
    return np.concatenate([path.vertices[:, 1] for path in band.get_paths()] or [np.zeros(0)])


@pytest.mark.parametrize("depth,scale,activation,init", [
    (10, 1.0, "sigmoid", "xavier"), (50, 1.0, "relu", "xavier"), (50, 1.0, "relu", "he"),
    (10, 5.0, "sigmoid", "normal"), (50, 3.0, "tanh", "xavier"), (20, 10.0, "leaky_relu", "normal"), (1, 0.1, "linear", "he"),
])
def test_activation_statistics_match_torchs_activations(depth, scale, activation, init):
    lf = live.activation_statistics(mode="agg")
    for name, value in dict(depth=depth, scale=scale, activation=activation, init=init).items():
        lf.controls[name].value = value
    _, hs, zs = torch_hidden_outputs(depth, scale, activation, init)
    assert len(hs) == depth
    sizes = [np.abs(h[h != 0]) for h in hs]  # exact zeros left out, as the figure says
    quantiles = np.array([np.quantile(s, [0.05, 0.25, 0.5, 0.75, 0.95]) for s in sizes]).T  # (5, depth)
    np.testing.assert_allclose(line_y(lf, "median"), log_safe(quantiles[2]), rtol=1e-9)
    for gid, (lo, hi) in (("band_50", (1, 3)), ("band_90", (0, 4))):
        heights = band_heights(lf, gid)
        for q in (lo, hi):  # every layer's edges are among the polygon's heights
            assert all(np.isclose(heights, v, rtol=1e-9).any() for v in quantiles[q]), (gid, q)
    # Saturated: f' below 10% of its largest value, from torch's own functions; inactive: relu's z <= 0.
    import torch

    z = torch.from_numpy(np.stack(zs))
    slope = {"sigmoid": lambda: torch.sigmoid(z) * (1 - torch.sigmoid(z)) / 0.25,
             "tanh": lambda: 1 - torch.tanh(z) ** 2}.get(activation)
    expected_saturated = (slope() < 0.1).double().mean(dim=(1, 2)).numpy() if slope else np.zeros(depth)
    expected_inactive = (z <= 0).double().mean(dim=(1, 2)).numpy() if activation == "relu" else np.zeros(depth)
    np.testing.assert_allclose(line_y(lf, "saturated", ax=1), expected_saturated, atol=1e-12)
    np.testing.assert_allclose(line_y(lf, "inactive", ax=1), expected_inactive, atol=1e-12)


def test_activation_quantiles_leave_out_zeros_and_say_nan_for_a_silent_layer():
    rng = np.random.default_rng(1)
    h = rng.standard_normal((8, 5))
    h[:3] = 0.0
    silent = np.zeros((8, 5))
    with_inf = h.copy()
    with_inf[5, 0] = np.inf
    found = live.activation_quantiles([h, silent, with_inf], qs=(0.0, 0.3, 0.5, 1.0))
    nonzero = np.abs(h[h != 0])
    np.testing.assert_allclose(found[:, 0], np.quantile(nonzero, [0.0, 0.3, 0.5, 1.0]), rtol=1e-12)
    assert np.isnan(found[:, 1]).all()
    assert found[-1, 2] == np.inf and np.isfinite(found[:-1, 2]).all()


def test_activation_statistics_says_what_happened_to_the_signal():
    lf = live.activation_statistics(mode="agg")
    assert status(lf) == "median |h|: 0.5 at layer 1\n0.55 at layer 10" and status(lf, 1) == "0% saturated"
    lf.controls["activation"].value = "relu"
    lf.controls["depth"].value = 50
    text = [t for t in lf.fig.axes[0].texts if t.get_visible()][0]
    assert text.get_text().endswith("1.7e-09 at layer 50") and text.get_color() == live.DANGER  # shrank 1e8-fold
    assert status(lf, 1).endswith("% inactive")
    lf.controls["activation"].value = "linear"
    assert status(lf, 1) == ""  # nothing to count: both lines lie at 0
    lf.controls["depth"].value = 1
    assert status(lf).startswith("median |h|: ") and "layer" not in status(lf)  # one layer: one number


def test_forward_layers_is_the_forward_pass_numpy_layer_gradients_backpropagates_through():
    from helpers.network import forward_layers, numpy_layer_gradients

    x, y = insurance_batch()
    params = init_params(NetConfig(depth=6, width=32, activation="tanh", init="xavier"), np.random.default_rng(0))
    forward = forward_layers(params, x, "tanh")
    grads = numpy_layer_gradients(params, x, y, "tanh")
    assert len(forward.hs) == 7 and np.array_equal(forward.hs[0], x)
    for z, expected in zip(forward.zs, grads.zs):
        np.testing.assert_array_equal(z, expected)
    _, torch_hs, _ = torch_hidden_outputs(6, 1.0, "tanh", "xavier")
    for h, expected in zip(forward.hs[1:], torch_hs):
        np.testing.assert_allclose(h, expected, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4\)"):
        forward_layers(params, x[:, :3], "tanh")
    with pytest.raises(ValueError, match="unknown activation"):
        forward_layers(params, x, "swish")


def test_frames_for_the_browser_are_matplotlibs_own_pixels_compressed_faster():
    """ipympl's canvas sends what matplotlib's get_diff_image would (a full frame, or only the
    pixels changed since the last frame), with zlib's fastest level: the decoded pixels are the same."""
    from matplotlib.backends.backend_webagg_core import FigureCanvasWebAggCore

    from helpers.widgets import _frame_png

    lf = live.repeated_product(mode="ipympl")
    canvas = lf.fig.canvas
    for force_full, w in ((True, 1.3), (False, 0.7)):
        before = canvas._last_buff.copy()  # the last frame sent
        lf.controls["w"].value = w  # repaints, and sends one frame
        frames = []
        for make in (_frame_png, FigureCanvasWebAggCore.get_diff_image):
            canvas._png_is_old, canvas._force_full, canvas._last_buff = True, force_full, before.copy()
            frames.append(np.asarray(Image.open(io.BytesIO(make(canvas)))))
        assert np.array_equal(*frames)
        transparent = frames[0][..., 3] == 0  # a diff leaves the unchanged pixels transparent
        assert transparent.any() != force_full and not transparent.all()
    assert _frame_png(canvas) is None  # nothing drawn since the last frame
