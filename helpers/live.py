"""The course's live figures, one function each: a notebook cell reads like a sentence.

Each function builds its figure once and returns a `LiveFigure`; moving a control
recomputes with `helpers` compute functions and updates the artists in place.
Every value a control can take is valid: inf, NaN and underflow are shown on the
figure in words, never raised.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm
from matplotlib.ticker import FixedLocator, MaxNLocator, PercentFormatter

from helpers.activations import CAN_BE_INACTIVE, SATURATING, get_activation, inactive, saturated, saturation_fraction
from helpers.chain import chain_bound_curve, chain_forward_backward, factor_products
from helpers.cliff import (CLIFF_LR, CLIFF_START, CLIFF_STEPS, CLIFF_THRESHOLD, CLIFF_WINDOW, Descent, cliff_error,
                           descend)
from helpers.data import insurance_batch
from helpers.gated import cell_path_product, init_lstm, lstm_backward, lstm_forward, per_timestep_grad_norms
from helpers.gradcheck import norm
from helpers.health import EXPLODING_RATIO, VANISHING_RATIO
from helpers.lab import DEFAULT_BATCH, DEFAULT_STEPS, DEFAULT_WIDTH, numpy_train
from helpers.network import NetConfig, forward_layers, init_params, numpy_layer_gradients, predicted_act_norms
from helpers.plots import (DANGER, LOG_CEIL, MEASURED, PALETTE, SECOND, SMALLEST_TEXT, THEORY, describe_problem,
                           fit_count_xlim, fit_linear_ylim, fit_log_ylim, ink, label, log_safe, outside_legend,
                           set_status, status_text)
from helpers.rnn import RECURRENT_INITS, init_rnn, output_loss, pascanu_bound, rnn_bptt, rnn_forward, scalar_bptt
from helpers.sequence import INPUT_SCALE
from helpers.tasks import make_tense_task
from helpers.widgets import (FIXED, LiveFigure, activation_dropdown, choice_dropdown, choice_slider, count_slider,
                             depth_slider, float_slider, init_dropdown, live_figure, switch,
                             weight_scale_slider)

MAX_STEPS = 50  # the longest chain / deepest network a slider reaches
PALETTE_GREY = PALETTE["grey"]


def _log_line(ax, color, gid, marker="o", linestyle="-", lbl=None):
    """An empty data line; `gid` names it for tests ("measured", "bound", ...)."""
    (line,) = ax.plot([], [], marker=marker, markersize=3.5, linestyle=linestyle, color=color, label=lbl,
                      gid=gid)
    return line


# --- 00: a first slider --------------------------------------------------------------

def repeated_product(mode: str | None = None) -> LiveFigure:
    """w multiplied by itself k times, k = 0..50, on a log axis: the whole course in one line."""
    k = np.arange(MAX_STEPS + 1)

    def build(ax):
        label(ax, "k (number of factors)", "$w^k$", "Multiply one number by itself k times", log_y=True)
        ax.axhline(1.0, color=THEORY, linewidth=0.8, linestyle=":")
        return _log_line(ax, MEASURED, "measured"), status_text(ax)

    def update(state, w):
        line, status = state
        values = factor_products(w, MAX_STEPS)
        values = np.concatenate([[1.0], values])
        line.set_data(k, log_safe(np.abs(values)))
        line.axes.set_xlim(0, MAX_STEPS)
        fit_log_ylim(line.axes, np.abs(values))
        set_status(status, f"after 50 factors: {abs(values[-1]):.3g}")

    controls = {"w": float_slider(0.9, 0.0, 2.0, 0.01, "factor w")}
    return live_figure(build, update, controls, caption="w^k for k = 0..50.", mode=mode)


# --- 01: a product of local derivatives ----------------------------------------------

def chain_product(mode: str | None = None) -> LiveFigure:
    """The gradient reaching the first layer as a product of n equal local derivatives d."""

    def build(ax):
        label(ax, "number of factors multiplied so far", "product of local derivatives",
              "The first layer's gradient is a product", log_y=True, integer_x=True)
        ax.axhline(1.0, color=THEORY, linewidth=0.8, linestyle=":")
        ax.axhline(0.25, color=SECOND, linewidth=0.8, linestyle="--", label="max of sigmoid' = 1/4")
        outside_legend(ax)
        return _log_line(ax, MEASURED, "measured"), status_text(ax)

    def update(state, n_factors, d):
        line, status = state
        values = factor_products(d, n_factors)
        line.set_data(np.arange(1, n_factors + 1), log_safe(np.abs(values)))
        fit_count_xlim(line.axes, 1, n_factors, MAX_STEPS)
        fit_log_ylim(line.axes, np.abs(values), [0.25, 1.0])
        problem = describe_problem(np.abs(values), "factor", np.arange(1, n_factors + 1))
        set_status(status, problem or f"product of {n_factors} factors = {values[-1]:.3g}", alarm=bool(problem))

    controls = {"n_factors": count_slider(10, 1, MAX_STEPS, "number of factors"),
                "d": float_slider(0.25, 0.0, 2.0, 0.01, "each local derivative")}
    return live_figure(build, update, controls, caption="Product of n equal local derivatives.", mode=mode)


# --- 02: saturation ------------------------------------------------------------------

Z_RANGE = 12.0  # pre-activations beyond this are counted in the outermost bins


def saturation(mode: str | None = None, n_units: int = 4000, fan_in: int = 64) -> LiveFigure:
    """Histogram of a layer's pre-activations z = W x and of f'(z), with saturated regions shaded.

    Saturated (sigmoid, tanh: f' below 10% of its maximum) and inactive (relu's
    z <= 0, f' exactly 0) are counted and shaded apart (helpers.activations):
    about half of a relu layer is always inactive, and that is how relu works.
    x ~ N(0, spread^2) with `fan_in` inputs and W ~ N(0, scale^2 / fan_in), so z has
    standard deviation about scale * spread. The random draws are fixed once; a
    slider only rescales them, so the picture changes smoothly.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_units, fan_in))
    w = rng.standard_normal(fan_in) / np.sqrt(fan_in)
    z_unit = x @ w
    z_unit /= z_unit.std()  # exactly std 1, so the sliders set std(z) = scale * spread, as the notebook says
    z_edges = np.linspace(-Z_RANGE, Z_RANGE, 97)
    d_edges = np.linspace(0.0, 1.0, 41)  # f'(z) / max f'

    def build(axes):
        ax_z, ax_d = axes
        label(ax_z, "pre-activation z", "fraction of units", "Where the inputs to the activation land")
        label(ax_d, "f'(z) / max f'", "fraction of units", "Derivative each unit passes back")
        z_hist = ax_z.stairs(np.zeros(z_edges.size - 1), z_edges, fill=True, color=MEASURED, alpha=0.8)
        d_hist = ax_d.stairs(np.zeros(d_edges.size - 1), d_edges, fill=True, color=SECOND, alpha=0.8)
        shade = [ax_z.axvspan(-Z_RANGE, -Z_RANGE, color=DANGER, alpha=0.12, lw=0),
                 ax_z.axvspan(Z_RANGE, Z_RANGE, color=DANGER, alpha=0.12, lw=0)]
        status = status_text(ax_z)  # the first text of the panel: the reading, then the spans' names
        # Each span says what it is, upright in its middle (x in data, y in axes coordinates).
        names = [ax_z.text(0.0, 0.45, "", transform=ax_z.get_xaxis_transform(), rotation=90, ha="center",
                           va="center", fontsize=SMALLEST_TEXT) for _ in shade]
        ax_z.set_xlim(-Z_RANGE, Z_RANGE)
        ax_d.set_xlim(0, 1)
        for ax in axes:  # ticks like 0.05, never 0.025: the frozen layout has room for 4 characters
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
        return z_hist, d_hist, (shade, names), status, status_text(ax_d)

    def update(state, scale, spread, activation):
        z_hist, d_hist, (shade, names), status, title = state
        act = get_activation(activation)
        z = z_unit * (scale * spread)
        slope = act.df(z) / act.max_slope
        z_counts, _ = np.histogram(np.clip(z, -Z_RANGE, Z_RANGE), z_edges)
        d_counts, _ = np.histogram(np.clip(slope, 0.0, 1.0), d_edges)
        z_hist.set_data(z_counts / z.size, z_edges)
        d_hist.set_data(d_counts / z.size, d_edges)
        fit_linear_ylim(z_hist.axes, z_counts.max() / z.size * 1.1)
        fit_linear_ylim(d_hist.axes, d_counts.max() / z.size * 1.1)
        _shade_saturated(shade, names, act)
        flat = float(np.mean(saturated(z, act.name)))
        if act.name in CAN_BE_INACTIVE:
            # Not an alarm: half a relu layer passing back 0 is normal, and no weight scale changes it.
            dead = float(np.mean(inactive(z, act.name)))
            message = f"{100 * flat:.0f}% saturated\n{100 * dead:.0f}% inactive (pass back exactly 0)"
        else:
            message = f"{100 * flat:.0f}% of units saturated"
        set_status(status, message, alarm=flat > 0.5)
        set_status(title, f"mean f'(z) = {np.mean(act.df(z)):.3g} (max {act.max_slope:g})")

    controls = {"scale": weight_scale_slider(1.0, 0.1, 10.0),
                "spread": weight_scale_slider(1.0, 0.1, 10.0, description="input spread"),
                "activation": activation_dropdown("sigmoid")}
    return live_figure(build, update, controls, figsize=(9.0, 3.4), ncols=2,
                       caption="Pre-activation and derivative histograms.", mode=mode)


SATURATED_SHADE = ("saturated: f' < 10%", DANGER)  # an alarm: the unit barely learns
INACTIVE_SHADE = ("inactive: f' = 0", PALETTE_GREY)  # by design: relu's other half


def _shade_saturated(shade, names, act, tol: float = 0.1) -> None:
    """Move the two shaded spans (and their `names`, text artists) to where the
    activation is saturated, or for relu inactive; none for leaky_relu and linear."""
    grid = np.linspace(-Z_RANGE, Z_RANGE, 2401)
    text, color = INACTIVE_SHADE if act.name in CAN_BE_INACTIVE else SATURATED_SHADE
    flat = saturated(grid, act.name, tol) | inactive(grid, act.name)
    # z = 0 is on the left: relu's flat side is z <= 0, and a right span from 0 would shade z > 0 too.
    left = grid[flat & (grid <= 0)]
    right = grid[flat & (grid > 0)]
    spans = ((-Z_RANGE, left.max()) if left.size else (-Z_RANGE, -Z_RANGE),
             (right.min(), Z_RANGE) if right.size else (Z_RANGE, Z_RANGE))
    for patch, name, (a, b) in zip(shade, names, spans):
        patch.set_x(a)
        patch.set_width(b - a)
        patch.set_facecolor(color)
        patch.set_label(text)
        name.set_x((a + b) / 2)
        name.set_text(text)
        name.set_color(ink(DANGER if color == DANGER else THEORY))  # grey text would be too faint
        name.set_visible(b - a > 1.0)  # a narrower span has no room for its name


def sigmoid_chain(mode: str | None = None) -> LiveFigure:
    """|d a_n / d a_k| through a chain of n units against the bound (|w| max f')^(n-k)."""

    def build(ax):
        label(ax, "unit k (the gradient flows right to left)", "|d a_n / d a_k|",
              "Gradient through a chain of units", log_y=True, integer_x=True)
        measured = _log_line(ax, MEASURED, "measured", lbl="measured (backprop)")
        bound = _log_line(ax, THEORY, "bound", marker="", linestyle="--", lbl="bound $(|w| \\max f')^{n-k}$")
        outside_legend(ax)
        return measured, bound, status_text(ax)

    def update(state, n_units, w, activation):
        measured, bound, status = state
        grad = np.abs(chain_forward_backward(n_units, w, activation).grad_wrt)
        limit = chain_bound_curve(n_units, w, activation)
        k = np.arange(n_units + 1)
        measured.set_data(k, log_safe(grad))
        bound.set_data(k, log_safe(limit))
        fit_count_xlim(measured.axes, 0, n_units, MAX_STEPS)
        fit_log_ylim(measured.axes, grad, limit)
        problem = describe_problem(grad, "unit")
        set_status(status, problem or f"|d a_n / d a_0| = {grad[0]:.3g}", alarm=bool(problem))

    controls = {"n_units": count_slider(10, 1, MAX_STEPS, "units n"),
                "w": weight_scale_slider(1.0, 0.1, 10.0, description="weight w"),
                "activation": activation_dropdown("sigmoid")}
    return live_figure(build, update, controls, caption="Chain gradient against its bound.", mode=mode)


# --- 03: per-layer gradient norms in a deep network ----------------------------------

def layer_gradients(mode: str | None = None, width: int = 32) -> LiveFigure:
    """Per-layer gradient norms of a deep network on the insurance batch, with the theory curve."""
    x, y = insurance_batch()

    def build(ax):
        label(ax, "layer (input side on the left)", "gradient norm", "Gradient reaching each layer",
              log_y=True, integer_x=True)
        w_line = _log_line(ax, MEASURED, "weight_grads", lbl=r"$\|\partial L / \partial W_l\|$ measured")
        h_line = _log_line(ax, SECOND, "act_grads", marker="s", lbl=r"$\|\partial L / \partial h_l\|$ measured")
        theory = _log_line(ax, THEORY, "theory", marker="", linestyle="--", lbl=r"$\|\partial L / \partial h_l\|$ mean-field theory")
        outside_legend(ax)
        return w_line, h_line, theory, status_text(ax)

    def update(state, depth, scale, activation, init):
        w_line, h_line, theory, status = state
        config = NetConfig(depth=depth, width=width, activation=activation, init=init, weight_scale=scale)
        params = init_params(config, np.random.default_rng(0))
        grads = numpy_layer_gradients(params, x, y, activation)
        predicted = predicted_act_norms(params, grads, activation)
        layers = np.arange(1, depth + 2)
        w_line.set_data(layers, log_safe(grads.weight_norms))
        h_line.set_data(layers[:-1], log_safe(grads.act_norms))
        theory.set_data(layers[:-1], log_safe(predicted))
        fit_count_xlim(w_line.axes, 1, depth + 1, MAX_STEPS + 1)
        fit_log_ylim(w_line.axes, grads.weight_norms, grads.act_norms)
        problem = describe_problem(grads.weight_norms, "layer", layers)
        with np.errstate(all="ignore"):  # 0/0 or inf/inf only happen when `problem` says so
            ratio = grads.weight_norms[0] / grads.weight_norms[-1]
        set_status(status, problem or f"first layer / last layer = {ratio:.2g}", alarm=bool(problem))

    controls = {"depth": depth_slider(10, 1, MAX_STEPS),
                "scale": weight_scale_slider(1.0, 0.1, 10.0),
                "activation": activation_dropdown("sigmoid"),
                "init": init_dropdown()}
    return live_figure(build, update, controls, figsize=(8.0, 3.6),
                       caption="Per-layer gradient norms with the mean-field prediction.", mode=mode)



# --- 04: backpropagation through time ------------------------------------------------

MAX_T = 200  # the longest sequence a slider reaches
# The largest recurrent scale a slider reaches. In a linear RNN the gradient at step 0
# grows like rho^(2T) (rho^T from the output, rho^T on the way back): at T = MAX_T it
# first exceeds float64's 1.8e308 near rho = 6, so this range holds a real overflow.
MAX_RADIUS = 10.0
RNN_INPUTS = 4


def scalar_recurrence(mode: str | None = None) -> LiveFigure:
    """|dh_T/dh_k| = |w|^(T-k) in a one-unit linear RNN, against the lecture's w = 0.5 and w = 1.5."""

    def build(ax):
        label(ax, "time step k (the gradient flows right to left, from T back to 0)", "|dh_T / dh_k|",
              "One recurrent unit: the same weight at every step",
              log_y=True, integer_x=True)
        refs = [_log_line(ax, color, f"w={w}", marker="", linestyle=style, lbl=f"w = {w}")
                for w, color, style in ((0.5, SECOND, ":"), (1.5, DANGER, "-."))]
        measured = _log_line(ax, MEASURED, "measured", lbl="your w")
        outside_legend(ax)
        return measured, refs, status_text(ax)

    def update(state, w, T):
        measured, refs, status = state
        k = np.arange(T + 1)
        grad = scalar_bptt(w, T, "linear")
        measured.set_data(k, log_safe(grad))
        for line, w_ref in zip(refs, (0.5, 1.5)):
            line.set_data(k, log_safe(scalar_bptt(w_ref, T, "linear")))
        fit_count_xlim(measured.axes, 0, T, MAX_T)
        fit_log_ylim(measured.axes, grad, *(line.get_ydata() for line in refs))
        problem = describe_problem(grad, "step")
        set_status(status, problem or f"|dh_T / dh_0| = {grad[0]:.3g}", alarm=bool(problem))

    controls = {"w": float_slider(0.5, 0.0, 2.0, 0.01, "recurrent weight w"),
                "T": count_slider(20, 1, MAX_T, "sequence length T")}
    return live_figure(build, update, controls, caption="|dh_T/dh_k| for one recurrent unit.", mode=mode)


def bptt_gradients(mode: str | None = None, T: int = 50, radius: float = 1.0, activation: str = "tanh",
                   hidden: int = 32) -> LiveFigure:
    """||dL/dh_t|| over the steps of a vanilla RNN, with the bound of Pascanu et al. (2013) overlaid.

    The loss (squared error of a linear readout of h_T) is read at the last step;
    the inputs are fixed random vectors.
    The bound: ||dL/dh_t|| <= ||dL/dh_T|| (s * max|f'|)^(T - t), s the largest
    singular value of W_h (for the orthogonal choice, s is the radius itself).
    """
    xs = np.random.default_rng(0).standard_normal((1, MAX_T, RNN_INPUTS))

    def build(ax):
        label(ax, "time step t", "||dL / dh_t||", "Gradient reaching each step of the sequence", log_y=True, integer_x=True)
        measured = _log_line(ax, MEASURED, "measured", lbl="measured (BPTT)")
        bound = _log_line(ax, THEORY, "bound", marker="", linestyle="--", lbl="bound $(s \\max|f'|)^{T-t}$")
        outside_legend(ax)
        return measured, bound, status_text(ax)

    def update(state, T, radius, activation, recurrent):
        measured, bound, status = state
        params = init_rnn(hidden, RNN_INPUTS, 1, np.random.default_rng(0), recurrent=recurrent, radius=radius)
        cache = rnn_forward(params, xs[:, :T], activation)
        # Squared error against 0: its gradient grows with the output instead of
        # saturating (a softmax loss on an exploding state passes back exactly 0).
        norms = rnn_bptt(params, cache, output_loss(cache.out, np.zeros(1), "mse").dout).norms()
        with np.errstate(all="ignore"):
            limit = norms[T] * pascanu_bound(params.W_h, activation, T)
        t = np.arange(T + 1)
        measured.set_data(t, log_safe(norms))
        bound.set_data(t, log_safe(limit))
        fit_count_xlim(measured.axes, 0, T, MAX_T)
        fit_log_ylim(measured.axes, norms, limit)
        # The gradient is computed from step T back to 0: name the step where it went
        # wrong, not step 0, which only inherits an inf or a 0 from the steps after it.
        problem = describe_problem(norms, "step", backward=True)
        with np.errstate(all="ignore"):
            ratio = norms[0] / norms[T]
        set_status(status, f"gradient {problem}" if problem else f"first step / last step = {ratio:.2g}",
                   alarm=bool(problem))

    controls = {"T": count_slider(T, 2, MAX_T, "sequence length T"),
                "radius": weight_scale_slider(radius, 0.1, MAX_RADIUS, description="recurrent scale ρ"),
                "activation": activation_dropdown(activation, ("tanh", "sigmoid", "relu", "linear")),
                "recurrent": choice_dropdown("orthogonal", RECURRENT_INITS, "recurrent matrix")}
    return live_figure(build, update, controls, caption="Per-step gradient norms with the Pascanu bound.",
                       mode=mode)


# How much the first word of a tense-task sentence still counts (notebook 04, before training).
INFLUENCE_GAPS = np.arange(0, 101, 5)  # the gaps of notebook 04's ratio cell: one batch row each
INFLUENCE_MARK = 45  # the gap whose ratio the figure reads out: notebook 04 trains up to it
INFLUENCE_REFERENCES = (1.0, INPUT_SCALE["tense"])  # init_rnn's default and the tense task's 6.7


def _first_word_batch() -> tuple[np.ndarray, np.ndarray]:
    """Notebook 04's sentence (gap 100, rng 3) cut to each gap of INFLUENCE_GAPS, as one batch.

    Returns xs (G, T, V) and labels (G,), G = len(INFLUENCE_GAPS), T = max gap + 2:
    row i is the time marker, the first INFLUENCE_GAPS[i] fillers and "I", after
    all-zero steps. With zero bias, h_0 = 0 and f(0) = 0 (tanh, linear; not sigmoid)
    the state stays exactly 0 through those steps, so each row computes what its
    sentence alone would, and one batched pass replaces one pass per gap.
    """
    T = int(INFLUENCE_GAPS[-1]) + 2
    sentence = make_tense_task(1, gap=T - 2, rng=np.random.default_rng(3))
    words = sentence.one_hot()[0]  # (T, V): marker, T - 2 fillers, "I"
    xs = np.zeros((INFLUENCE_GAPS.size, T, sentence.vocab_size))
    for row, gap in enumerate(INFLUENCE_GAPS):
        xs[row, T - gap - 2:] = np.concatenate([words[:1 + gap], words[-1:]])
    return xs, np.repeat(sentence.labels, INFLUENCE_GAPS.size)


def _first_word_ratios(params, xs, labels, activation):
    """((G,) ||dL/dx_first|| / ||dL/dx_last|| per row of _first_word_batch, the forward cache).

    dL/dx_t = (dL/dh_t * f'(z_t)) @ W_x, as input_gradient_norms computes it, but per
    sentence instead of summed over the batch, and only at each row's first word and at "I".
    A ratio is NaN (0/0) where the loss passes back exactly 0: an exploding linear RNN's
    outputs grow so large that the softmax is certain.
    """
    cache = rnn_forward(params, xs, activation)
    grads = rnn_bptt(params, cache, output_loss(cache.out, labels, "ce").dout)
    df = get_activation(activation).df
    rows = np.arange(xs.shape[0])
    first = xs.shape[1] - INFLUENCE_GAPS - 2  # the step index of each row's time marker
    with np.errstate(all="ignore"):
        dx_first = (grads.dh[rows, first + 1] * df(cache.zs[rows, first])) @ params.W_x  # (G, V)
        dx_last = (grads.dh[:, -1] * df(cache.zs[:, -1])) @ params.W_x
        ratios = norm(dx_first, axis=1) / norm(dx_last, axis=1)  # (G,); the one overflow-safe norm
    return ratios, cache


def first_word_influence(mode: str | None = None, hidden: int = 32) -> LiveFigure:
    """How much the first word still counts, ||dL/dx_first|| / ||dL/dx_last||, against the gap,
    for an untrained RNN on one tense-task sentence; and the slopes f'(z) along that sentence.

    Sentence, weights and gaps are those of notebook 04's ratio cell
    (init_rnn(hidden, V, 2, default_rng(0), radius, input_scale)). W_x's entries have
    standard deviation input_scale / sqrt(V): with one-hot words, how hard each word
    pushes every unit. Dotted: the same network at input scales 1 and 6.7.
    """
    xs, labels = _first_word_batch()
    d_edges = np.linspace(0.0, 1.0, 21)  # f'(z) / max f'
    references = {}  # (radius, activation) -> the two reference curves: an input-scale drag reuses them

    def build(axes):
        ax_r, ax_d = axes
        label(ax_r, "filler words between the first word and 'I'", "||dL/dx_first|| / ||dL/dx_last||",
              "How much the first word still counts", log_y=True, integer_x=True)
        label(ax_d, "f'(z) / max f'", "fraction of units",
              f"Slopes along the sentence (gap {INFLUENCE_GAPS[-1]})")
        refs = [_log_line(ax_r, colour, f"scale={scale:g}", marker="", linestyle=style, lbl=f"input scale {scale:g}")
                for scale, colour, style in zip(INFLUENCE_REFERENCES, (PALETTE_GREY, SECOND), (":", "-."))]
        measured = _log_line(ax_r, MEASURED, "measured", lbl="your settings")
        ax_r.axvline(INFLUENCE_MARK, color=THEORY, linewidth=0.8, linestyle="--")
        ax_r.set_xlim(0, INFLUENCE_GAPS[-1])
        outside_legend(ax_r)
        # No frame: when this panel alone re-renders, what it clears is its legend's box,
        # and the frame's line reaches a pixel past that box, towards the other panel.
        ax_r.get_legend().set_frame_on(False)
        hist = ax_d.stairs(np.zeros(d_edges.size - 1), d_edges, fill=True, color=SECOND, alpha=0.8)
        ax_d.axvspan(0.0, 0.1, color=DANGER, alpha=0.12, lw=0)  # saturated: f' below 10% of its maximum
        ax_d.set_xlim(0, 1)
        ax_d.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
        return measured, refs, hist, status_text(ax_r), status_text(ax_d)

    def ratios_at(input_scale, radius, activation):
        params = init_rnn(hidden, xs.shape[2], 2, np.random.default_rng(0), radius=radius, input_scale=input_scale)
        return _first_word_ratios(params, xs, labels, activation)

    def update(state, input_scale, radius, activation):
        measured, refs, hist, status, slopes_status = state
        ratios, cache = ratios_at(input_scale, radius, activation)
        if (radius, activation) not in references:
            references.clear()
            references[radius, activation] = [ratios_at(s, radius, activation)[0] for s in INFLUENCE_REFERENCES]
        measured.set_data(INFLUENCE_GAPS, log_safe(ratios))
        for line, curve in zip(refs, references[radius, activation]):
            line.set_data(INFLUENCE_GAPS, log_safe(curve))
        fit_log_ylim(measured.axes, ratios, *references[radius, activation])
        problem = describe_problem(ratios, "gap", INFLUENCE_GAPS)
        if problem.startswith("became NaN"):  # 0/0, and why
            problem = "0/0" + problem.removeprefix("became NaN") + ": the loss passes back exactly 0"
        mark = ratios[np.flatnonzero(INFLUENCE_GAPS == INFLUENCE_MARK)[0]]
        set_status(status, problem or f"gap {INFLUENCE_MARK}: first word / last word = {mark:.1g}",
                   alarm=bool(problem))
        # The slopes along the longest sentence: the last row, which has no zero steps in front.
        act = get_activation(activation)
        zs = cache.zs[-1]  # (T, hidden)
        slope = act.df(zs) / act.max_slope
        counts, _ = np.histogram(np.clip(slope, 0.0, 1.0), d_edges)
        hist.set_data(counts / slope.size, d_edges)
        fit_linear_ylim(hist.axes, counts.max() / slope.size * 1.1)
        saturated = saturation_fraction(zs, activation)
        # rms f' times the radius is about what each step back keeps (notebook 03's sqrt(chi)).
        rms = np.sqrt(np.mean(np.square(act.df(zs))))
        set_status(slopes_status, f"{100 * saturated:.0f}% saturated (f' < 0.1); rms f' = {rms:.2f}",
                   alarm=saturated > 0.5)

    controls = {"input_scale": float_slider(INPUT_SCALE["tense"], 0.5, 10.0, 0.1, "input scale", fmt=".1f"),
                "radius": weight_scale_slider(1.0, 0.1, 3.0, description="recurrent scale ρ"),
                "activation": activation_dropdown("tanh", ("tanh", "linear"))}
    return live_figure(build, update, controls, figsize=(10.5, 3.6), ncols=2,
                       caption="First-word influence against the gap, and the slopes along the sentence.", mode=mode)


# --- 05: exploding gradients, clipping, the cliff -------------------------------------

def clipping_rescue(unclipped, runs: dict, lr: float, n_params: int, baseline: float | None = None,
                    mode: str | None = None) -> LiveFigure:
    """Loss and gradient norm per step of one training run, without and with clipping.

    unclipped: the TrainLog of the run without clipping; runs: {(kind, threshold):
    TrainLog} with kind "norm" or "value", trained in advance (a slider cannot wait
    for training), all with the same data, seed and learning rate `lr`, on a model
    with `n_params` weights and biases in all. baseline: a
    loss to draw as a reference line (e.g. predicting the mean). The status line gives
    the numbers that explain a threshold: the share of steps it clipped, the median
    size before clipping, and the longest step it allows.
    """
    kinds = sorted({k for k, _ in runs})
    thresholds = sorted({t for _, t in runs})
    steps = np.arange(unclipped.loss.size)  # step k is the loss before update k, as in TrainLog

    def build(axes):
        ax_loss, ax_grad = axes
        label(ax_loss, "step", "training loss", "Loss", log_y=True, integer_x=True)
        # The size each kind compares with its threshold: the norm, or the largest entry.
        label(ax_grad, "step", "norm / largest entry", "Gradient before clipping", log_y=True, integer_x=True)
        # A fixed loss range: the runs worth comparing end between 0.05 and a few units,
        # and an unclipped run's inf would otherwise stretch the axis over 40 decades.
        ax_loss.set_ylim(*CLIPPING_LOSS_RANGE)
        lines = {}
        free = ("no clipping" if not unclipped.diverged else
                f"no clipping (inf/NaN from step {unclipped.first_nonfinite_step})")
        for ax, key in ((ax_loss, "loss"), (ax_grad, "grad")):
            values = unclipped.loss if key == "loss" else unclipped.total_grad_norm
            # Markers: a run that blows up within a few steps is only a few points.
            ax.plot(steps, log_safe(values), color=PALETTE_GREY, linewidth=1.2, linestyle=":", marker="o",
                    markersize=4, label=free, gid=f"{key}_free")
            lines[key] = ax.plot([], [], color=MEASURED, linewidth=1.0, label="clipped", gid=f"{key}_clipped")[0]
            ax.set_xlim(0, steps[-1])
        if baseline is not None:
            ax_loss.axhline(baseline, color=THEORY, linestyle="--", linewidth=1.2,
                            label=f"predict the mean ({baseline:.3g})", gid="baseline")
        limit = ax_grad.axhline(1.0, color=DANGER, linestyle="-.", linewidth=1.2, label="threshold", gid="threshold")
        # One legend for both panels, below them: the same two runs are drawn in each.
        handles = ax_loss.get_legend_handles_labels()[0] + [limit]
        ax_loss.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.2), ncols=2, fontsize=SMALLEST_TEXT,
                       borderaxespad=0.0)
        # Top right: the loss falls from the top left, and late losses sit near the baseline.
        return lines, limit, status_text(ax_loss, corner="upper right")

    def update(state, kind, threshold):
        lines, limit, status = state
        log = runs[(kind, threshold)]
        size = log.total_grad_norm if kind == "norm" else log.max_grad_entry
        lines["loss"].set_data(steps, log_safe(log.loss))
        lines["grad"].set_data(steps, log_safe(size))
        limit.set_ydata([threshold, threshold])
        fit_log_ylim(lines["grad"].axes, size, [threshold])
        set_status(status, clipping_summary(log, kind, threshold, lr, n_params), alarm=log.diverged)

    controls = {"kind": choice_dropdown(kinds[0], kinds, "clip by"),
                "threshold": choice_slider(thresholds[len(thresholds) // 2], thresholds, "threshold")}
    return live_figure(build, update, controls, figsize=(10.0, 3.8), ncols=2,
                       caption="Training with and without gradient clipping.", mode=mode)


CLIPPING_LOSS_RANGE = (1e-2, 1e3)  # the loss panel's fixed range in clipping_rescue


def clipping_summary(log, kind: str, threshold: float, lr: float, n_params: int) -> str:
    """Four lines of numbers that explain what clipping at `threshold` did to a run (a TrainLog).

    kind "norm": the share of steps whose gradient norm exceeded the threshold, the
    median norm before clipping, and the longest step a clipped update can take,
    lr * threshold. kind "value": the share of steps with an entry beyond the
    threshold and the median largest entry, and the longest step,
    lr * threshold * sqrt(n_params), every one of the n_params entries at the threshold.
    """
    size = log.total_grad_norm if kind == "norm" else log.max_grad_entry
    finite = size[np.isfinite(size)]
    clipped = float(np.mean(finite > threshold)) if finite.size else float("nan")
    what = "norm" if kind == "norm" else "largest entry"
    longest = lr * threshold * (1.0 if kind == "norm" else np.sqrt(n_params))
    lines = [f"clipped {int(np.sum(finite > threshold))} of {finite.size} steps ({100 * clipped:.0f}%)",
             f"median {what} before clipping {np.median(finite) if finite.size else float('nan'):.2g}",
             f"longest step lr x threshold{'' if kind == 'norm' else ' x sqrt(n)'} = {longest:.2g}"]
    if log.diverged:
        lines.append(f"still inf/NaN from step {log.first_nonfinite_step}")
    else:
        lines.append(f"last 50 steps: median loss {np.median(log.loss[-50:]):.2g}")
    return "\n".join(lines)


CLIFF_GRID = 301  # surface samples along each axis: about one per pixel of the panel
CLIFF_ERROR_RANGE = (1e-4, 0.5)  # the colour scale: the valley's floor up to the low plain's 0.49
CLIFF_COLOURS = "viridis"
# The two runs, told apart by line style and marker as well as colour. The unclipped run's
# larger circles stay visible under the clipped run's squares where the two coincide.
CLIFF_RUNS = {"free": dict(color=DANGER, linestyle="-", marker="o", markersize=5.5, label="no clipping"),
              "clipped": dict(color=THEORY, linestyle="--", marker="s", markersize=3.5,
                              label="clipped (Algorithm 1)")}


@lru_cache(maxsize=1)
def _cliff_surface() -> np.ndarray:
    """(CLIFF_GRID, CLIFF_GRID, 4) uint8 RGBA: E(w, b) over CLIFF_WINDOW, coloured once.

    Rows are b upwards, columns w. Computed on the first call only: a slider move
    recomputes the two short descents, never the surface; and coloured in advance, the
    image costs a plain copy whenever the figure renders its background.
    """
    w_lo, w_hi, b_lo, b_hi = CLIFF_WINDOW
    w, b = np.meshgrid(np.linspace(w_lo, w_hi, CLIFF_GRID), np.linspace(b_lo, b_hi, CLIFF_GRID))
    rgba = colormaps[CLIFF_COLOURS](LogNorm(*CLIFF_ERROR_RANGE)(cliff_error(w, b)[0]), bytes=True)
    rgba.setflags(write=False)  # shared by every figure built from the cache
    return rgba


def cliff_descent(mode: str | None = None, steps: int = CLIFF_STEPS) -> LiveFigure:
    """Gradient descent on the error surface E(w, b) of Pascanu et al. (2013)'s one-unit cliff
    (their Figure 6), without clipping and with their Algorithm 1, from one start.

    Left, the surface (log colour scale) with both paths; right, the error at each step
    (step k is the error before update k). Steps that leave the plotted window are
    drawn towards where they went and named in the corner.
    """
    w_lo, w_hi, b_lo, b_hi = CLIFF_WINDOW
    k = np.arange(steps + 1)

    def build(axes):
        ax_map, ax_loss = axes
        label(ax_map, "recurrent weight w", "bias b", "Error surface E(w, b)")
        ax_map.grid(False)
        # Never changed by a move: part of the kept background (FIXED), so a move does not repaint it.
        ax_map.imshow(_cliff_surface(), origin="lower", extent=CLIFF_WINDOW, aspect="auto", interpolation="nearest",
                      zorder=1, gid=FIXED)
        colours = ScalarMappable(LogNorm(*CLIFF_ERROR_RANGE), CLIFF_COLOURS)
        ax_map.figure.colorbar(colours, ax=ax_map, label="E (log scale)", pad=0.02)
        label(ax_loss, "step", "error E", "Error at each step", log_y=True, integer_x=True)
        ax_loss.set_xlim(-1, steps + 1)
        paths, losses = {}, {}
        for name, style in CLIFF_RUNS.items():
            paths[name] = ax_map.plot([], [], linewidth=1.2, markeredgecolor="white", markeredgewidth=0.5,
                                      gid=f"path_{name}", **style)[0]
            losses[name] = ax_loss.plot([], [], linewidth=1.0, gid=f"loss_{name}", **style)[0]
        start = ax_map.plot([], [], marker="*", markersize=13, color="white", markeredgecolor=THEORY,
                            linestyle="", label="start", gid="start")[0]
        ax_map.set_xlim(w_lo, w_hi)
        ax_map.set_ylim(b_lo, b_hi)
        # One legend for both panels, below them: the same two runs are drawn in each. No
        # frame: its antialiased edge reaches past the box a re-rendered panel clears.
        ax_loss.legend(handles=[*losses.values(), start], loc="upper left", bbox_to_anchor=(0.0, -0.2), ncols=3,
                       fontsize=SMALLEST_TEXT, borderaxespad=0.0, frameon=False)
        # The map's corner text sits over the high plain, left of where thrown paths leave the window.
        return paths, losses, start, status_text(ax_map), status_text(ax_loss)

    def update(state, lr, threshold, w0, b0):
        paths, losses, start, where, errors = state
        runs = {"free": descend(w0, b0, lr, steps), "clipped": descend(w0, b0, lr, steps, threshold=threshold)}
        for name, run in runs.items():
            # Points outside the window stay: matplotlib draws the segment towards them.
            shown = np.where(np.isfinite(run.path), run.path, np.nan)
            paths[name].set_data(shown[:, 0], shown[:, 1])
            losses[name].set_data(k, log_safe(run.loss))
        start.set_data([w0], [b0])
        fit_log_ylim(losses["free"].axes, runs["free"].loss, runs["clipped"].loss)
        free, free_alarm = _cliff_where(runs["free"])
        clipped, clipped_alarm = _cliff_where(runs["clipped"])
        # The bound names both sliders, so every move of either changes the text too.
        set_status(where, f"no clipping: {free}\nclipped at {threshold:.3g}: {clipped}\n"
                          f"(a clipped step is lr x {threshold:.3g} = {lr * threshold:.3g} long)",
                   alarm=free_alarm or clipped_alarm)
        set_status(errors, _cliff_errors(runs["free"], runs["clipped"]))

    controls = {"lr": weight_scale_slider(CLIFF_LR, 0.01, 10.0, description="learning rate"),
                "threshold": weight_scale_slider(CLIFF_THRESHOLD, 0.01, 10.0, description="clipping threshold"),
                "w0": float_slider(CLIFF_START[0], w_lo, w_hi, 0.05, "start w"),
                "b0": float_slider(CLIFF_START[1], b_lo, b_hi, 0.05, "start b")}
    return live_figure(build, update, controls, figsize=(11.0, 4.6), ncols=2,
                       caption="Gradient descent on the one-unit cliff's error surface, without and with clipping.",
                       mode=mode)


def _cliff_where(run: Descent) -> tuple[str, bool]:
    """Where a run went, in a few words, and whether that is an alarm (inf, NaN, out of the window)."""
    finite = np.isfinite(run.path).all(axis=1)
    if not finite.all():
        k = int(np.argmin(finite))
        what = "became NaN" if np.isnan(run.path[k]).any() else "overflowed to inf"
        return f"(w, b) {what} at step {k}", True
    w_lo, w_hi, b_lo, b_hi = CLIFF_WINDOW
    w, b = run.path.T
    inside = (w >= w_lo) & (w <= w_hi) & (b >= b_lo) & (b <= b_hi)
    lengths = run.step_lengths
    if not inside.all():
        k = int(np.argmin(inside))
        return f"left the plotted window at step {k}", True
    if not lengths.size:
        return "no steps taken", False
    k = int(np.argmax(lengths))
    return f"largest step {lengths[k]:.2g}, at step {k}", False


def _cliff_errors(free: Descent, clipped: Descent) -> str:
    """E at the last step of both runs (or where it stopped being drawable), and how often clipping acted.

    Two lines when all is drawable: the top of the panel, where they sit, is above
    every error (E < 0.5), so they hide no point.
    """
    problems = {name: describe_problem(run.loss, "step") for name, run in (("no clipping", free), ("clipped", clipped))}
    if any(problems.values()):
        lines = [f"{name}: E {problem}" for name, problem in problems.items() if problem]
    else:
        lines = [f"E at step {free.loss.size - 1}: {free.loss[-1]:.2g} without clipping, {clipped.loss[-1]:.2g} with"]
    lines.append(f"clipping acted at {int(clipped.clipped.sum())} of {clipped.clipped.size} steps")
    return "\n".join(lines)


# --- 06: gates ------------------------------------------------------------------------

def forget_path(mode: str | None = None, hidden: int = 32) -> LiveFigure:
    """The LSTM's cell path: products of forget gates d c_T / d c_k, against the full gradient dL/dc_k.

    Inputs are fixed random vectors; the forget-gate bias shifts every forget gate
    f = sigmoid(... + bias) towards 1 (large bias) or 0 (negative bias).
    """
    xs = np.random.default_rng(0).standard_normal((1, MAX_T, RNN_INPUTS))
    readout = np.random.default_rng(1).standard_normal((1, hidden)) / np.sqrt(hidden)

    def build(ax):
        label(ax, "time step k", "relative to step T", "The LSTM's cell path", log_y=True, integer_x=True)
        product = _log_line(ax, MEASURED, "measured", lbl=r"$\prod f_t$ (mean over units)")
        grad = _log_line(ax, SECOND, "cell_grad", marker="", lbl=r"$\|\partial L/\partial c_k\| / \|\partial L/\partial c_T\|$")
        outside_legend(ax)
        return product, grad, status_text(ax)

    def update(state, forget_bias, T):
        product, grad, status = state
        params = init_lstm(hidden, RNN_INPUTS, np.random.default_rng(0), forget_bias=forget_bias)
        cache = lstm_forward(params, xs[:, :T])
        path = cell_path_product(cache.f)
        cell = lstm_backward(params, cache, readout).cell_norms()
        with np.errstate(all="ignore"):
            cell = cell / cell[T]
        k = np.arange(T + 1)
        product.set_data(k, log_safe(path))
        grad.set_data(k, log_safe(cell))
        fit_count_xlim(product.axes, 0, T, MAX_T)
        fit_log_ylim(product.axes, path, cell)
        problem = describe_problem(path, "step")
        set_status(status, problem or f"mean forget gate {np.mean(cache.f):.2f}; path to step 0: {path[0]:.2g}",
                   alarm=bool(problem))

    controls = {"forget_bias": float_slider(0.0, -3.0, 8.0, 0.25, "forget-gate bias"),
                "T": count_slider(50, 2, MAX_T, "sequence length T")}
    return live_figure(build, update, controls, caption="Forget-gate products along the LSTM cell path.",
                       mode=mode)


def gated_gradients(mode: str | None = None) -> LiveFigure:
    """||dL/dh_t|| / ||dL/dh_T|| for a vanilla RNN, an LSTM and a GRU on the same sequence."""
    styles = {"rnn": (DANGER, "-"), "lstm": (MEASURED, "--"), "gru": (PALETTE["green"], "-.")}

    def build(ax):
        label(ax, "time step t", "||dL/dh_t|| / ||dL/dh_T||", "Gradient reaching each step", log_y=True,
              integer_x=True)
        lines = {kind: _log_line(ax, colour, kind, marker="", linestyle=style, lbl=kind.upper())
                 for kind, (colour, style) in styles.items()}
        outside_legend(ax)
        return lines, status_text(ax)

    def update(state, T, forget_bias):
        lines, status = state
        first = {}
        for kind, line in lines.items():
            # The same generator state for every kind: the same inputs, targets and readout.
            norms = per_timestep_grad_norms(kind, T, rng=np.random.default_rng(0), batch=4, forget_bias=forget_bias)
            with np.errstate(all="ignore"):
                ratio = norms / norms[T]
            line.set_data(np.arange(T + 1), log_safe(ratio))
            first[kind] = ratio[0]
        fit_count_xlim(lines["rnn"].axes, 0, T, MAX_T)
        fit_log_ylim(lines["rnn"].axes, *(line.get_ydata() for line in lines.values()))
        set_status(status, "step 0 gets: " + ", ".join(f"{k.upper()} {v:.1g}" for k, v in first.items()))

    controls = {"T": count_slider(50, 2, MAX_T, "sequence length T"),
                "forget_bias": float_slider(1.0, -3.0, 8.0, 0.25, "LSTM forget-gate bias")}
    return live_figure(build, update, controls, caption="RNN, LSTM and GRU gradients over time.", mode=mode)


# --- 07: the remedies lab -------------------------------------------------------------

def remedies_lab(mode: str | None = None, lr: float = 0.1) -> LiveFigure:
    """Per-layer gradient norms at initialisation and a short training run, for one network and batch.

    Every control is a remedy (or its absence): activation, initialisation, batch
    normalisation, residual connections, gradient clipping, weight decay, depth.
    Training is numpy SGD (helpers.lab), fast enough to rerun on every move.
    """
    x, y = insurance_batch(DEFAULT_BATCH)

    def build(axes):
        ax_grad, ax_loss = axes
        label(ax_grad, "layer (input side on the left)", "||dL/dW_l|| at initialisation",
              "Gradient reaching each layer", log_y=True, integer_x=True)
        label(ax_loss, "step", "training loss", f"Training ({DEFAULT_STEPS} steps of SGD, lr {lr:g})",
              log_y=True, integer_x=True)
        grads = _log_line(ax_grad, MEASURED, "measured")
        loss = _log_line(ax_loss, SECOND, "loss")
        ax_loss.axhline(np.log(2), color=THEORY, linestyle=":", linewidth=1)  # a 50/50 guess
        ax_loss.set_xlim(-0.5, DEFAULT_STEPS - 0.5)  # step k is the loss before update k, as in TrainLog
        return grads, loss, status_text(ax_grad), status_text(ax_loss)

    def update(state, activation, init, batch_norm, residual, clip, weight_decay, depth):
        grads, loss, grad_status, loss_status = state
        config = NetConfig(depth=depth, width=DEFAULT_WIDTH, activation=activation, init=init,
                           batch_norm=batch_norm, residual=residual)
        run = numpy_train(config, x, y, rng=np.random.default_rng(0), steps=DEFAULT_STEPS, lr=lr,
                          weight_decay=weight_decay, clip_norm=None if clip == "off" else clip)
        norms = run.grad_norms[0]
        layers = np.arange(1, depth + 2)
        grads.set_data(layers, log_safe(norms))
        fit_count_xlim(grads.axes, 1, depth + 1, MAX_STEPS + 1)
        fit_log_ylim(grads.axes, norms)
        loss.set_data(np.arange(DEFAULT_STEPS), log_safe(run.loss))
        fit_log_ylim(loss.axes, run.loss, [np.log(2)], pad=1.5)
        verdict = _gradient_verdict(norms)
        set_status(grad_status, verdict, alarm=not verdict.startswith("healthy"))
        if run.diverged:
            set_status(loss_status, f"non-finite from step {run.first_nonfinite_step}", alarm=True)
        else:
            set_status(loss_status, f"loss {run.loss[0]:.3g} -> {run.loss[-1]:.3g}")

    controls = {"activation": activation_dropdown("sigmoid"), "init": init_dropdown("xavier"),
                "batch_norm": switch("batch norm"), "residual": switch("residual"),
                "clip": choice_slider("off", ["off", 0.01, 0.1, 0.3], "clip gradient norm"),
                "weight_decay": choice_slider(0.0, [0.0, 1e-4, 1e-3, 1e-2, 1e-1], "weight decay"),
                "depth": depth_slider(20, 1, MAX_STEPS)}
    return live_figure(build, update, controls, figsize=(10.0, 3.6), ncols=2,
                       caption="Remedies lab: gradient norms and a short training run.", mode=mode)


# In the lab every loss starts near ln 2 and healthy gradient norms are of order 1: a
# layer gradient a hundred times larger means the weights are far too large.
LAB_EXPLODING_NORM = 1e2


def _gradient_verdict(norms: np.ndarray) -> str:
    """'vanishing' / 'exploding' / 'healthy' from the gradient norms (depth+1,) at initialisation.

    The first-to-last ratio uses the health report's thresholds; a balanced but
    huge gradient (weights too large everywhere) is exploding too.
    """
    problem = describe_problem(norms, "layer", np.arange(1, norms.size + 1))
    if problem:
        # Zeros or values too small to draw are a gradient that vanished; inf, NaN or
        # values too large to draw, one that exploded.
        vanished = bool(np.all(np.isfinite(norms)) and norms.max() < LOG_CEIL)
        return f"{'vanishing' if vanished else 'exploding'}: gradient {problem}"
    ratio = norms[0] / norms[-1] if norms[-1] > 0 else np.inf
    if ratio < VANISHING_RATIO:
        return f"vanishing: first layer gets {ratio:.1g} x the last"
    if ratio > EXPLODING_RATIO:
        return f"exploding: first layer gets {ratio:.1g} x the last"
    if norms.max() > LAB_EXPLODING_NORM:
        return f"exploding: gradient norms up to {norms.max():.1g}"
    return f"healthy: first layer gets {ratio:.2g} x the last"


# --- 03: activation statistics per layer ---------------------------------------------

ACTIVATION_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)  # the bands and the median of activation_statistics
SHRINK_ALARM = 1e-2  # the median |h| of the last layer below this times the first's (or above its inverse)
SHARE_TOP = 1.35  # the share panel's top: 0-100% for the data, the rest for its reading and legend


def activation_quantiles(hs, qs=ACTIVATION_QUANTILES) -> np.ndarray:
    """(len(qs), depth) quantiles of |h_l| over every unit and row of each layer that is
    not exactly 0, as np.quantile's default (linear) method gives them; NaN for a layer
    whose units are all 0 (or NaN).

    hs: depth arrays h_l (batch, width). Exact zeros are left out because a relu layer
    has about half of them by design (helpers.activations.inactive counts those): the
    quantiles describe how large the signal is where there is one.
    """
    with np.errstate(all="ignore"):
        sizes = np.sort(np.abs(np.stack([h.ravel() for h in hs])), axis=1)  # (depth, n): zeros first, NaN last
        zeros = np.count_nonzero(sizes == 0, axis=1)
        valid = sizes.shape[1] - zeros - np.count_nonzero(np.isnan(sizes), axis=1)
        rows = np.arange(sizes.shape[0])
        out = np.full((len(qs), sizes.shape[0]), np.nan)
        some = valid > 0
        for i, q in enumerate(qs):
            at = zeros + q * np.maximum(valid - 1, 0)  # position in the sorted row, as np.quantile places it
            lo = np.floor(at).astype(int)
            hi = np.minimum(lo + 1, zeros + valid - 1)
            a, b = sizes[rows, np.minimum(lo, sizes.shape[1] - 1)], sizes[rows, np.maximum(hi, 0)]
            value = np.where(a == b, a, a + (at - lo) * (b - a))  # (inf - inf would be NaN)
            out[i, some] = value[some]
    return out


def _layer_boxes(layers: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of a staircase that holds `values` (n,) over [l - 0.5, l + 0.5] for each of `layers` (n,)."""
    x = (layers[:, None] + np.array([-0.5, 0.5])).ravel()
    return x, np.repeat(values, 2)


def activation_statistics(mode: str | None = None, width: int = 32) -> LiveFigure:
    """Per hidden layer of layer_gradients' network: the spread of |h_l| and the share of
    saturated (sigmoid, tanh) or inactive (relu) units, on the same insurance batch.

    Left: the median of |h_l| and its 25-75% and 5-95% bands over the batch's rows and
    the layer's units, exact zeros left out (activation_quantiles); log axis. Right: per
    layer, the share of units saturated (f' below 10% of its maximum) and inactive
    (relu's z <= 0), helpers.activations.saturated and inactive. One forward pass
    (helpers.network.forward_layers, the one numpy_layer_gradients backpropagates through).
    """
    x, _ = insurance_batch()

    def build(axes):
        ax_h, ax_s = axes
        label(ax_h, "hidden layer (input side on the left)", r"$|h_l|$ (units not exactly 0)",
              "Size of each layer's activations", log_y=True, integer_x=True)
        label(ax_s, "hidden layer (input side on the left)", "share of units", "Saturated and inactive units",
              integer_x=True)
        outer = ax_h.fill_between([], [], [], color=MEASURED, alpha=0.15, lw=0, label="5-95% of units", gid="band_90")
        inner = ax_h.fill_between([], [], [], color=MEASURED, alpha=0.35, lw=0, label="25-75%", gid="band_50")
        median = _log_line(ax_h, MEASURED, "median", lbl="median")
        outside_legend(ax_h)
        # No frame: when one panel alone re-renders, what it clears is its legend's box,
        # and the frame's line reaches a pixel past that box, towards the other panel.
        ax_h.get_legend().set_frame_on(False)
        # Room for a tick label a digit longer than the default's (10^-15 against 10^-2):
        # the layout is frozen at the default state.
        ax_h.figure.get_layout_engine().set(w_pad=10 / 72)
        flat = _log_line(ax_s, DANGER, "saturated", lbl="saturated: f' < 10%")
        dead = _log_line(ax_s, PALETTE_GREY, "inactive", marker="s", linestyle="--", lbl="inactive: f' = 0")
        ax_s.set_ylim(0.0, SHARE_TOP)  # room above 100% for the reading and the legend
        ax_s.yaxis.set_major_locator(FixedLocator([0.0, 0.25, 0.5, 0.75, 1.0]))
        ax_s.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax_s.legend(loc="upper right", fontsize=SMALLEST_TEXT)
        return median, (inner, outer), flat, dead, status_text(ax_h), status_text(ax_s)

    def update(state, depth, scale, activation, init):
        median, (inner, outer), flat, dead, size_status, share_status = state
        config = NetConfig(depth=depth, width=width, activation=activation, init=init, weight_scale=scale)
        forward = forward_layers(init_params(config, np.random.default_rng(0)), x, activation)
        q05, q25, q50, q75, q95 = activation_quantiles(forward.hs[1:])
        layers = np.arange(1, depth + 1)
        median.set_data(layers, log_safe(q50))
        for band, (lo, hi) in ((inner, (q25, q75)), (outer, (q05, q95))):
            bx, blo = _layer_boxes(layers, log_safe(lo))
            _, bhi = _layer_boxes(layers, log_safe(hi))
            drawable = np.isfinite(blo) & np.isfinite(bhi)
            band.set_data(bx, np.where(drawable, blo, 1.0), np.where(drawable, bhi, 1.0), where=drawable)
        fit_count_xlim(median.axes, 1, depth, MAX_STEPS)
        fit_count_xlim(flat.axes, 1, depth, MAX_STEPS)
        fit_log_ylim(median.axes, q05, q95)
        problem = describe_problem(q50, "layer", layers)
        if problem.startswith("became NaN"):  # no unit left to measure
            problem = "every unit is 0" + problem.removeprefix("became NaN")
        with np.errstate(all="ignore"):
            change = q50[-1] / q50[0]
        reading = (f"median |h|: {q50[0]:.2g} at layer 1\n{q50[-1]:.2g} at layer {depth}" if depth > 1
                   else f"median |h|: {q50[0]:.2g}")
        set_status(size_status, f"median |h| {problem}" if problem else reading,
                   alarm=bool(problem) or not SHRINK_ALARM <= change <= 1 / SHRINK_ALARM)
        zs = np.stack(forward.zs)  # (depth, batch, width)
        act = get_activation(activation)
        # Each is all False for the activations the other one covers: asked only where it can count.
        saturated_share = saturated(zs, act.name).mean(axis=(1, 2)) if act.name in SATURATING else np.zeros(depth)
        inactive_share = inactive(zs, act.name).mean(axis=(1, 2)) if act.name in CAN_BE_INACTIVE else np.zeros(depth)
        flat.set_data(layers, saturated_share)
        dead.set_data(layers, inactive_share)
        if act.name in CAN_BE_INACTIVE:
            message = f"{100 * inactive_share.mean():.0f}% inactive"
        elif act.name in SATURATING:
            message = f"{100 * saturated_share.mean():.0f}% saturated"
        else:  # leaky_relu, linear: both lines lie at 0, and the legend says what they are
            message = ""
        set_status(share_status, message, alarm=saturated_share.mean() > 0.5)

    controls = {"depth": depth_slider(10, 1, MAX_STEPS),
                "scale": weight_scale_slider(1.0, 0.1, 10.0),
                "activation": activation_dropdown("sigmoid"),
                "init": init_dropdown()}
    return live_figure(build, update, controls, figsize=(11.0, 3.6), ncols=2,
                       caption="Per-layer activation quantiles and the share of saturated or inactive units.",
                       mode=mode)
