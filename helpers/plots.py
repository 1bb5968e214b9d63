"""Drawing on a given Axes: one palette, labelled axes, log scales that survive inf, NaN and 0.

Every function here takes an `Axes` (or artists) and returns artists; nothing here
computes gradients or builds widgets.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import Collection
from matplotlib.colors import same_color, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import LogLocator, MaxNLocator, NullLocator

from helpers.activations import get_activation, inactive, saturated
from helpers.progress import in_kernel
from helpers.validation import check_choice

# Okabe & Ito's colour-blind-safe palette, in the order the course uses it.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
    "grey": "#999999",
}
MEASURED = PALETTE["blue"]
THEORY = PALETTE["black"]
SECOND = PALETTE["orange"]
DANGER = PALETTE["vermillion"]

# --- figure style: text sized for the screen it is read on; light or dark -------------

FIGURE_SCALES = ("notebook", "projector")
FIGURE_THEMES = ("light", "dark")
# The base font size (pt) of each scale. The smallest text a figure has is "small", 0.833 of
# it: in JupyterLab 9.2 pt, 12.7 px at 100 dpi (9.5 pt on the screen); on the projector
# 11.7 pt, 16.2 px, in figures PROJECTOR_WIDTH wide shown at one pixel per screen pixel.
FONT_SIZE = {"notebook": 11.0, "projector": 14.0}
SMALLEST_TEXT = "small"
PROJECTOR_WIDTH = 12.0  # inches at 100 dpi: 1200 px, a 1280 px screen less the page's margins
PROJECTOR_MOST_HEIGHT = 5.0  # so that a 720 px screen still shows the controls above a figure
PROJECTOR_LINES = 1.6  # lines and markers on the projector: thicker by this factor
DARK_BACKGROUND = "#1E1E1E"
DARK_PANEL = "#333333"  # a status box's own background on a dark figure
DARK_TEXT = "#E8E8E8"
_DARK_RC = {"figure.facecolor": DARK_BACKGROUND, "axes.facecolor": DARK_BACKGROUND,
            "savefig.facecolor": DARK_BACKGROUND, "axes.edgecolor": "#AAAAAA", "axes.labelcolor": DARK_TEXT,
            "text.color": DARK_TEXT, "xtick.color": "#AAAAAA", "ytick.color": "#AAAAAA",
            "xtick.labelcolor": DARK_TEXT, "ytick.labelcolor": DARK_TEXT, "grid.color": "#FFFFFF",
            "legend.edgecolor": "#777777"}
# The course's defaults: "inherit" tick label colours follow xtick.color as in plain matplotlib.
_LIGHT_RC = {**{key: matplotlib.rcParamsDefault[key] for key in _DARK_RC}, "figure.facecolor": "white",
             "savefig.facecolor": "auto"}

# Environment variables a kernel reads when it imports this module (helpers.present sets them).
SCALE_VARIABLE = "COURSE_FIGURE_SCALE"
THEME_VARIABLE = "COURSE_FIGURE_THEME"


@dataclass(frozen=True)
class FigureStyle:
    """How figures are drawn: `scale` "notebook" or "projector", `theme` "light" or "dark"."""

    scale: str = "notebook"
    theme: str = "light"


_style = FigureStyle()


def figure_style() -> FigureStyle:
    """The style figures made from now on get."""
    return _style


def set_figure_style(scale: str | None = None, theme: str | None = None) -> FigureStyle:
    """Draw the figures made from now on at `scale` and in `theme` (None: leave as it is).

    "projector": every figure PROJECTOR_WIDTH inches wide at 100 dpi, text at least
    16 px, for projecting the notebook from JupyterLab (python course.py present sets
    it for its own kernels). "dark": a dark background of the figure's own, for a dark
    room or JupyterLab's dark theme. Live figures made before keep their style.
    """
    global _style
    before = _style
    _style = FigureStyle(check_choice(scale or _style.scale, "scale", FIGURE_SCALES),
                         check_choice(theme or _style.theme, "theme", FIGURE_THEMES))
    rc = {"font.size": FONT_SIZE[_style.scale], "legend.fontsize": SMALLEST_TEXT,
          **(_DARK_RC if _style.theme == "dark" else _LIGHT_RC)}
    matplotlib.rcParams.update(rc)
    if FigureStyle() != before or FigureStyle() != _style:  # the default leaves IPython's own alone
        _show_pyplot_figures_styled(_style != FigureStyle())
    return _style


def styled_size(figsize) -> tuple[float, float]:
    """A figure's size (inches) in the current scale: unchanged in "notebook"; in
    "projector" PROJECTOR_WIDTH wide, as tall as its shape says up to PROJECTOR_MOST_HEIGHT."""
    width, height = (float(v) for v in figsize)
    if _style.scale == "notebook":
        return width, height
    return PROJECTOR_WIDTH, min(height * PROJECTOR_WIDTH / width, PROJECTOR_MOST_HEIGHT)


def ink(color):
    """`color` as the current theme draws it: on dark, the palette's black turns light grey and
    its blue turns sky blue (the blue is too dim on a dark background); other colours stay.
    An RGBA colour keeps its alpha."""
    if _style.theme != "dark" or color is None or (isinstance(color, str) and color.lower() == "none"):
        return color
    rgba = to_rgba(color)
    for light, dark in ((THEORY, DARK_TEXT), (MEASURED, PALETTE["sky"])):
        if same_color(rgba[:3], to_rgba(light)[:3]):
            return dark if isinstance(color, str) else to_rgba(dark, rgba[3])
    return color


def apply_style(fig: Figure) -> Figure:
    """Give what `fig` draws the current style, once (a figure styled already is left as it is).

    The background, axes, ticks and label sizes follow rcParams already; this reaches what
    the course sets itself. "projector": lines and markers PROJECTOR_LINES times thicker,
    to be seen from the back of a room. "dark": the palette's black and blue recoloured
    (see `ink`) in lines, markers, shaded spans and texts, and white status boxes dark.
    """
    if getattr(fig, "_course_style", None) == _style:
        return fig
    fig._course_style = _style
    thicker = PROJECTOR_LINES if _style.scale == "projector" else 1.0
    for artist in fig.findobj():
        if isinstance(artist, Line2D):
            artist.set_linewidth(artist.get_linewidth() * thicker)
            artist.set_markersize(artist.get_markersize() * thicker)
            artist.set_color(ink(artist.get_color()))
            artist.set_markerfacecolor(ink(artist.get_markerfacecolor()))
            artist.set_markeredgecolor(ink(artist.get_markeredgecolor()))
        elif isinstance(artist, Text):
            artist.set_color(ink(artist.get_color()))
            box = artist.get_bbox_patch()
            if _style.theme == "dark" and box is not None and same_color(box.get_facecolor()[:3], (1.0, 1.0, 1.0)):
                box.set_facecolor(DARK_PANEL)
        elif isinstance(artist, Patch) and artist.axes is not None and artist is not artist.axes.patch:
            artist.set_facecolor(ink(artist.get_facecolor()))
            artist.set_edgecolor(ink(artist.get_edgecolor()))
        elif isinstance(artist, Collection):
            artist.set_facecolor([ink(c) for c in artist.get_facecolor()])
            artist.set_edgecolor([ink(c) for c in artist.get_edgecolor()])
    return fig


def smallest_text_px(fig: Figure) -> float:
    """The font size, in the figure's pixels, of the smallest text `fig` shows (ticks,
    labels, titles, legends, status boxes, annotations); inf if it shows none."""
    fig.draw_without_rendering()  # lays out the tick labels
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=math.inf) * fig.dpi / 72


def _show_pyplot_figures_styled(styled: bool) -> None:
    """In a kernel, show the notebook's own figures (plt.subplots ... plt.show()) in the
    current scale and theme too, or as IPython shows them when `styled` is False."""
    if not in_kernel():
        return
    from IPython import get_ipython
    from IPython.core.pylabtools import select_figure_formats
    from matplotlib import pyplot

    # pyplot loads its backend with the first figure, and the inline backend, once loaded, puts
    # IPython's own PNG formatter back over the one set here: load it first.
    pyplot.switch_backend(matplotlib.get_backend())

    shell = get_ipython()
    formatter = shell.display_formatter.formatters["image/png"]
    if styled:
        formatter.for_type(Figure, _styled_png)
    else:
        select_figure_formats(shell, {"png"})


def _styled_png(fig: Figure) -> bytes:
    """A pyplot figure as the notebook shows it, resized and recoloured for the current style."""
    from IPython.core.pylabtools import print_figure

    fig.set_size_inches(styled_size(fig.get_size_inches()))
    apply_style(fig)
    # The whole figure, not its tight box: in the projector every figure is as wide as the page.
    return print_figure(fig, "png", bbox_inches=None if _style.scale == "projector" else "tight")


set_figure_style(os.environ.get(SCALE_VARIABLE) or "notebook", os.environ.get(THEME_VARIABLE) or "light")


# Limits of what a float64 log-scale plot can show without matplotlib complaining.
LOG_FLOOR = 1e-300
LOG_CEIL = 1e300


def new_figure(figsize: tuple = (7.0, 3.4), ncols: int = 1) -> tuple[Figure, list]:
    """A figure not registered with pyplot (so nothing is shown twice), `figsize` as the
    current scale draws it (styled_size), and its axes list."""
    fig = Figure(figsize=styled_size(figsize), dpi=100, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


class FiniteLogLocator(LogLocator):
    """A LogLocator that leaves out ticks beyond float range.

    For a view reaching near 1e±300, LogLocator also places ticks a few strides past
    it, where 10**k is inf or 0; formatting their labels raises.
    """

    def tick_values(self, vmin, vmax):
        with np.errstate(over="ignore", under="ignore"):
            ticks = super().tick_values(vmin, vmax)
        return ticks[np.isfinite(ticks) & (ticks > 0)]


def label(ax: Axes, xlabel: str, ylabel: str, title: str | None = None, log_y: bool = False,
          integer_x: bool = False) -> Axes:
    """Label both axes (always), choose the y scale, and keep x ticks whole for counts."""
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize="medium")
    if log_y:
        ax.set_yscale("log")
        # A few labelled decades and no minor ticks: readable when the range spans
        # hundreds of decades, and each tick is an artist redrawn on every slider move.
        ax.yaxis.set_major_locator(FiniteLogLocator(base=10, numticks=7))
        ax.yaxis.set_minor_locator(NullLocator())
    ax.grid(True, which="major", alpha=0.3)
    # Grid and ticks under every data artist, as they are when a live figure repaints
    # only its data over a cached background.
    ax.set_axisbelow(True)
    return ax


def log_safe(values) -> np.ndarray:
    """Copy of `values` (any shape) with entries a log axis cannot show set to NaN.

    Zero, negative, inf and NaN become NaN so the line simply breaks there; the
    caller reports them with `describe_problem`.
    """
    v = np.array(values, dtype=float, copy=True)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(v) | (v <= LOG_FLOOR) | (v >= LOG_CEIL)
    v[bad] = np.nan
    return v


def describe_problem(values, index_name: str = "layer", indices=None, backward: bool = False) -> str:
    """One sentence about the first entry of `values` (n,) a log plot cannot show, or ''.

    `indices` (n,) gives the label of each entry (default 0..n-1). backward=True says
    the values were computed from the last entry to the first, as a gradient flows
    back through time: "first" then counts from the end, and the sentence names the
    entry where a value itself overflowed, not an earlier one that inherited the inf.
    """
    v = np.asarray(values, dtype=float)
    idx = np.arange(v.size) if indices is None else np.asarray(indices)
    if backward:
        v, idx = v[::-1], idx[::-1]
        bad = ~np.isfinite(v)
        if bad.any():
            # Where an inf meets a sign change or a 0 one step later it turns into NaN
            # (inf - inf, 0 * inf): the first non-finite entry, not the first NaN, is
            # where it went wrong.
            first = np.argmax(bad)
            what = "became NaN" if np.isnan(v[first]) else "overflowed to inf"
            return f"{what} at {index_name} {idx[first]}"
    checks = (
        (np.isnan(v), "became NaN"),
        (np.isinf(v), "overflowed to inf"),
        (v >= LOG_CEIL, "is too large to draw"),
        (v == 0, "is exactly 0"),  # an underflow, or an exact zero factor: the value cannot tell which
        ((v > 0) & (v <= LOG_FLOOR), "is too small to draw"),
    )
    for mask, what in checks:
        if mask.any():
            first = idx[np.argmax(mask)]
            return f"{what} at {index_name} {first}"
    return ""


def fit_log_ylim(ax: Axes, *series, pad: float = 3.0) -> None:
    """Give `ax` a log y-range of whole decades showing every drawable value in `series`.

    Values are padded by `pad`x. The range is kept while the data stay inside it and
    use at least half of it, so neighbouring slider values keep the same ticks and a
    live figure can redraw only its data (see `widgets.LiveFigure`).
    """
    drawable = [s[np.isfinite(s)] for s in (log_safe(s) for s in series)]
    drawable = [s for s in drawable if s.size]
    if not drawable:
        lo, hi = 1e-3, 1e3
    else:
        lo = max(min(float(s.min()) for s in drawable) / pad, LOG_FLOOR)
        hi = min(max(float(s.max()) for s in drawable) * pad, LOG_CEIL)
    lo, hi = np.floor(np.log10(lo)), np.ceil(np.log10(hi))  # in decades from here on
    span = hi - lo
    floor, ceil = np.log10(LOG_FLOOR), np.log10(LOG_CEIL)
    cur_lo, cur_hi = np.log10(np.clip(ax.get_ylim(), LOG_FLOOR, LOG_CEIL))
    fitted = not ax.get_autoscaley_on()  # the first fit turns autoscaling off
    if fitted and cur_lo <= lo and hi <= cur_hi and cur_hi - cur_lo <= 2 * span + 2:
        return
    # A margin of a fifth of the span (whole decades; none for a few decades, which a
    # loss curve needs to stay readable) on each side, and of two fifths on a side the
    # data just outgrew: a drag that keeps stretching the data (a deeper network, a
    # longer sequence) then re-draws the ticks every several steps, not every step.
    margin = np.floor(0.2 * span)
    grow = np.floor(0.4 * span)
    lo -= grow if fitted and lo < cur_lo else margin
    hi += grow if fitted and hi > cur_hi else margin
    ax.set_ylim(10.0 ** max(lo, floor), 10.0 ** min(hi, ceil))


def fit_linear_ylim(ax: Axes, top: float, step: float = 0.05) -> None:
    """Give `ax` the y-range [0, t] with t a multiple of `step` at or above `top`.

    Like `fit_log_ylim`, the range is kept while `top` stays inside it and above half of it.
    """
    cur_top = ax.get_ylim()[1]
    if top <= cur_top <= 2 * max(top, step):
        return
    ax.set_ylim(0, step * max(1.0, np.ceil(top / step)))


def _count_end(n: float) -> int:
    """`n` rounded up to a multiple of 2 (of 5 past 20, of 25 past 100): a count axis's right end."""
    step = 2 if n <= 20 else 5 if n <= 100 else 25
    return step * math.ceil(n / step)


def fit_count_xlim(ax: Axes, first: int, last: int, most: int) -> None:
    """Give `ax` an x-range showing whole-number positions first..last (last <= most).

    The right end is `last` rounded up to a multiple of 2 (of 5 past 20, of 25 past
    100). When `last` outgrows the range, the new end leaves room for a third more
    (never past where `most` would end); a range is kept while `last` fills about 60%
    of it. A drag along a depth or length slider then changes the ticks every several
    values, not every other one.
    """
    cur_first, cur_top = (v + 0.5 for v in ax.get_xlim())
    cur_top -= 1.0
    fitted = not ax.get_autoscalex_on()  # the first fit turns autoscaling off
    if fitted and cur_first == first and last <= cur_top <= 1.7 * last + 2:
        return
    top = _count_end(last)
    if fitted and last > cur_top:
        top = min(_count_end(4 * last / 3), max(top, _count_end(most)))
    ax.set_xlim(first - 0.5, top + 0.5)


def status_text(ax: Axes, corner: str = "upper left") -> Text:
    """An empty text artist in an upper corner ("upper left" or "upper right") for a reading or a warning."""
    if corner not in ("upper left", "upper right"):
        raise ValueError(f"corner must be 'upper left' or 'upper right', got {corner!r}")
    right = corner == "upper right"
    return ax.text(0.98 if right else 0.02, 0.96, "", transform=ax.transAxes, va="top",
                   ha="right" if right else "left", fontsize="medium",
                   bbox=dict(boxstyle="round", facecolor="white", alpha=0.9))


def set_status(text: Text, message: str, alarm: bool = False) -> None:
    """Show `message` (in the warning colour when `alarm`), or hide the artist if it is empty."""
    color = ink(DANGER if alarm else THEORY)
    text.set_text(message)
    text.set_color(color)
    text.get_bbox_patch().set_edgecolor(color)
    text.set_visible(bool(message))


def activation_panel(ax: Axes, name: str, z_max: float = 8.0, tol: float = 0.1) -> Axes:
    """Draw f and f' of activation `name` on z in [-z_max, z_max], shading where it is
    saturated (sigmoid, tanh: f' < tol * max f') or inactive (relu's z <= 0: f' = 0)."""
    act = get_activation(name)
    z = np.linspace(-z_max, z_max, 801)
    ax.plot(z, act.f(z), color=MEASURED, label=f"{name}(z)")
    ax.plot(z, act.df(z), color=SECOND, linestyle="--", label=f"{name}'(z)")
    # Two different things, shaded apart: a saturated unit barely learns, an inactive
    # relu unit passes back exactly 0 by design. Only what occurs gets a legend entry.
    for mask, color, text in ((saturated(z, act.name, tol), DANGER, f"saturated: f' < {100 * tol:g}% of max"),
                              (inactive(z, act.name), PALETTE["grey"], "inactive: f' = 0")):
        if mask.any():
            ax.fill_between(z, 0, 1, where=mask, transform=ax.get_xaxis_transform(), color=color, alpha=0.12,
                            lw=0, label=text)
    label(ax, "z", "value", name)
    ax.legend(loc="upper left", fontsize=SMALLEST_TEXT)
    return ax


# One look per run: colour, line style and marker together, so runs differ without colour too.
_SERIES = [dict(color=MEASURED, linestyle="-", marker="o"),
           dict(color=SECOND, linestyle="--", marker="s"),
           dict(color=PALETTE["green"], linestyle="-.", marker="^"),
           dict(color=PALETTE["purple"], linestyle=":", marker="D"),
           dict(color=PALETTE["sky"], linestyle="-", marker="v"),
           dict(color=PALETTE["black"], linestyle="--", marker="x")]


def loss_curves(ax: Axes, logs: dict, title: str = "Training loss") -> Axes:
    """One loss curve per run: `logs` maps a label to a TrainLog (loss (steps,))."""
    for look, (name, log) in zip(_SERIES, logs.items()):
        # Step k is the loss before update k; a marker every tenth of the run keeps the line readable.
        ax.plot(np.arange(log.loss.size), log.loss, markersize=4, markevery=max(1, log.loss.size // 10), label=name,
                **look)
    label(ax, "step", "loss", title)
    ax.legend(fontsize=SMALLEST_TEXT)
    return ax


def layer_change(ax: Axes, logs: dict, title: str = "How far each layer's weights moved") -> Axes:
    """Mean relative weight change per step, ||dW|| / ||W||, against layer index, one line per run."""
    for look, (name, log) in zip(_SERIES, logs.items()):
        with np.errstate(all="ignore"):
            change = np.nanmean(log.rel_weight_change, axis=0)
        layers = np.arange(1, change.size + 1)
        ax.plot(layers, log_safe(change), markersize=3.5, label=name, **look)
    label(ax, "layer (input side on the left)", r"mean $\|\Delta W\| / \|W\|$ per step", title, log_y=True)
    ax.legend(fontsize=SMALLEST_TEXT)
    return ax


def health_plot(ax: Axes, report, title: str | None = None) -> Axes:
    """Per-layer gradient norms of a helpers.health.HealthReport on a log scale, input side left.

    The ticks name the layers as the report's table does (1..L for an nn.Sequential). The line is drawn in the warning colour unless the verdict is "healthy"; a
    norm a log axis cannot show (0, inf, NaN) breaks the line and is named in
    the corner.
    """
    norms = np.array([row.grad_norm for row in report.rows], dtype=float)
    names = [row.name for row in report.rows]
    x = np.arange(1, norms.size + 1)
    color = MEASURED if report.verdict == "healthy" else DANGER
    ax.plot(x, log_safe(norms), marker="o", markersize=4, color=color, label=r"$\|\partial L / \partial W\|$")
    ax.set_xticks(x)
    # Long or many names would overlap: tilt them, and show every name only while they fit.
    ax.set_xticklabels(names if norms.size <= 30 else [""] * norms.size, rotation=45 if norms.size > 6 else 0,
                       ha="right" if norms.size > 6 else "center", fontsize=SMALLEST_TEXT)
    label(ax, "layer (input side on the left)", "gradient norm", title or f"verdict: {report.verdict}", log_y=True)
    fit_log_ylim(ax, norms)
    problem = describe_problem(norms, "layer", names)
    if problem:
        set_status(status_text(ax), f"gradient norm {problem}", alarm=True)
    return ax


def outside_legend(ax: Axes) -> None:
    """A legend to the right of the axes: live data can go anywhere inside, and "best"
    placement would be recomputed on every redraw."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=SMALLEST_TEXT, borderaxespad=0.0)
