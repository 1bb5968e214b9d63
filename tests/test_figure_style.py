"""Figures readable where they are shown: text size per scale, series told apart without
colour, contrast in both themes, and static images that say their settings."""
import io
import json
import re
from pathlib import Path

import ipywidgets as W
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.lines import Line2D
from matplotlib.text import Text
from PIL import Image

from helpers import plots
from helpers.data import insurance_batch
from helpers.health import gradient_health
from helpers.network import NetConfig, init_params, to_torch
from helpers.plots import (DARK_BACKGROUND, PROJECTOR_WIDTH, apply_style, figure_style, health_plot, ink, layer_change,
                           loss_curves, new_figure, set_figure_style, smallest_text_px)
from helpers.training import TrainLog
from helpers.widgets import settings_text
from tests.test_widgets import FIGURES, control_values

# 9 pt on a screen is 12 CSS px; the projector's figures are shown at one pixel per pixel.
SMALLEST_PX = {"notebook": 12.0, "projector": 16.0}


@pytest.fixture
def style():
    """Set a figure style for one test, and put the course's default back afterwards."""
    yield set_figure_style
    set_figure_style("notebook", "light")


def every_setting(lf):
    """Move each control of live figure `lf` through its ends (and options), one at a time."""
    for control in lf.controls.values():
        default = control.value
        for value in control_values(control):
            control.value = value
            yield
        control.value = default


@pytest.mark.parametrize("scale", ["notebook", "projector"])
@pytest.mark.parametrize("make", FIGURES, ids=lambda f: f.__name__)
def test_no_live_figure_text_is_smaller_than_its_scale_allows(make, scale, style):
    style(scale)
    lf = make(mode="agg")
    smallest = min(smallest_text_px(lf.fig) for _ in every_setting(lf))
    assert smallest >= SMALLEST_PX[scale], f"{smallest:.1f} px"
    if scale == "projector":
        assert lf.fig.get_size_inches()[0] * lf.fig.dpi == PROJECTOR_WIDTH * 100


def _logs(n: int = 2) -> dict:
    """`n` made-up training logs of 5 steps and 2 layers, for drawing."""
    steps = np.arange(1.0, 6.0)
    return {f"run {k}": TrainLog(loss=steps + k, grad_norms=np.ones((5, 2)),
                                 rel_weight_change=np.ones((5, 2)) * (k + 1), layer_names=["1", "2"],
                                 total_grad_norm=steps, max_grad_entry=steps)
            for k in range(n)}


def _health_report():
    x, y = insurance_batch(64)
    config = NetConfig(depth=3, width=8, activation="sigmoid", init="xavier")
    return gradient_health(to_torch(init_params(config, np.random.default_rng(0)), "sigmoid"), x, y)


@pytest.mark.parametrize("scale", ["notebook", "projector"])
def test_the_course_static_plots_keep_their_text_large_enough(scale, style):
    style(scale)
    fig, (a, b, c, d) = new_figure((11, 3.4), 4)
    plots.activation_panel(a, "sigmoid")
    loss_curves(b, _logs())
    layer_change(c, _logs())
    health_plot(d, _health_report())
    assert smallest_text_px(fig) >= SMALLEST_PX[scale]


def _look(line: Line2D) -> tuple:
    marker = line.get_marker()
    return line.get_linestyle(), "" if marker in (None, "", " ", "None", "none") else marker


def _lines_alike(ax) -> list:
    """Pairs of lines of `ax` that only their colour tells apart."""
    lines = [line for line in ax.lines if line.get_visible()]
    return [(a.get_label(), b.get_label()) for i, a in enumerate(lines) for b in lines[i + 1:]
            if _look(a) == _look(b) and not np.array_equal(to_rgba(a.get_color()), to_rgba(b.get_color()))]


@pytest.mark.parametrize("make", FIGURES, ids=lambda f: f.__name__)
def test_lines_of_a_live_figure_differ_by_line_style_or_marker_not_only_colour(make):
    lf = make(mode="agg")
    for ax in lf.fig.axes:
        assert not _lines_alike(ax), ax.get_title()


def test_runs_in_the_course_static_plots_differ_by_line_style_or_marker():
    fig, (a, b) = new_figure((11, 3.4), 2)
    loss_curves(a, _logs(6))
    layer_change(b, _logs(6))
    assert not _lines_alike(a) and not _lines_alike(b)


def _luminance(color) -> float:
    """WCAG relative luminance of a colour."""
    rgb = np.array(to_rgba(color)[:3])
    linear = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(linear @ [0.2126, 0.7152, 0.0722])


def contrast(a, b) -> float:
    """WCAG contrast ratio of two opaque colours, 1 to 21."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _background_of(text: Text, fig) -> tuple:
    box = text.get_bbox_patch()
    if box is not None and box.get_facecolor()[3] > 0.5:
        return box.get_facecolor()
    return fig.get_facecolor()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("make", FIGURES, ids=lambda f: f.__name__)
def test_every_text_stands_out_from_its_own_background_in_both_themes(make, theme, style):
    style(theme=theme)
    lf = make(mode="agg")
    assert lf.fig.get_facecolor()[3] == 1.0  # its own background: never dark text on a dark page
    if theme == "dark":
        assert np.allclose(lf.fig.get_facecolor(), to_rgba(DARK_BACKGROUND))
    for _ in every_setting(lf):
        lf.fig.draw_without_rendering()
        for text in lf.fig.findobj(Text):
            if text.get_visible() and text.get_text().strip():
                # 3:1 is WCAG's least for large text: the smallest text here is 12.7 px or more.
                ratio = contrast(text.get_color(), _background_of(text, lf.fig))
                assert ratio >= 3.0, f"{text.get_text()!r}: {ratio:.1f}"


def test_dark_theme_turns_the_palettes_black_and_blue_light_and_keeps_the_rest(style):
    style(theme="dark")
    assert ink(plots.THEORY) == plots.DARK_TEXT
    assert ink(plots.MEASURED) == plots.PALETTE["sky"]
    assert ink(plots.DANGER) == plots.DANGER
    assert ink((0.0, 0.0, 0.0, 0.3)) == to_rgba(plots.DARK_TEXT, 0.3)
    fig, (ax,) = new_figure()
    ax.plot([1, 2], color=plots.THEORY)
    apply_style(fig)
    assert ax.lines[0].get_color() == plots.DARK_TEXT
    style(theme="light")
    assert ink(plots.THEORY) == plots.THEORY


def test_projector_scale_widens_figures_and_keeps_their_shape_within_the_screen(style):
    style("projector")
    assert plots.styled_size((7.0, 3.4)) == (PROJECTOR_WIDTH, 5.0)  # 6.0 in by its shape: capped
    assert plots.styled_size((11.0, 3.3)) == pytest.approx((PROJECTOR_WIDTH, 3.6))
    style("notebook")
    assert plots.styled_size((7.0, 3.4)) == (7.0, 3.4)


def test_a_pyplot_figure_is_shown_full_width_and_dark_in_projector_dark_style(style):
    style("projector", "dark")
    fig, (ax,) = new_figure((11, 3.6))
    fig.set_size_inches(11, 3.6)
    ax.plot([1, 2, 3], color="#000000")
    image = Image.open(io.BytesIO(plots._styled_png(fig)))
    assert image.size[0] == PROJECTOR_WIDTH * 100
    assert np.allclose(np.asarray(image.convert("RGB"))[2, 2] / 255, to_rgba(DARK_BACKGROUND)[:3], atol=0.01)
    assert ax.lines[0].get_color() == plots.DARK_TEXT


def test_bad_style_names_say_what_is_allowed(style):
    with pytest.raises(ValueError, match="projector"):
        style("beamer")
    with pytest.raises(ValueError, match="dark"):
        style(theme="night")
    assert figure_style() == plots.FigureStyle()


def test_settings_text_names_every_control_and_its_value():
    controls = {"depth": W.IntSlider(value=10, description="depth (layers)"),
                "scale": W.FloatLogSlider(value=1.0, description="weight scale"),
                "bn": W.Checkbox(value=False, description="batch norm"),
                "act": W.Dropdown(options=["sigmoid", "relu"], value="relu", description="activation")}
    assert settings_text(controls) == "depth (layers) 10 · weight scale 1 · batch norm off · activation relu"


@pytest.mark.parametrize("make", FIGURES[:3], ids=lambda f: f.__name__)
def test_the_stored_image_says_its_settings_and_the_live_figure_keeps_its_layout(make):
    lf = make(mode="agg")
    positions = [ax.get_position().bounds for ax in lf.fig.axes]
    stored = np.asarray(Image.open(io.BytesIO(lf._static_png)).convert("L"), dtype=float)
    # The settings line is the stored image's top rows: ink there, where the live figure has none.
    top = stored[:int(0.06 * stored.shape[0])]
    assert (top < 128).any()
    assert lf.fig._suptitle is None
    lf.fig.draw_without_rendering()
    assert [ax.get_position().bounds for ax in lf.fig.axes] == positions


def test_no_notebook_sets_a_font_size_below_the_smallest_the_course_draws():
    """A number or "x-small" would undo the scale: a figure in the projector would keep 8 pt text."""
    for path in sorted(Path(__file__).resolve().parent.parent.glob("notebooks/*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "code":
                found = re.findall(r"fontsize\s*=\s*(\d[\d.]*|[\"']x+-small[\"'])", source)
                assert not found, f"{path.name}: fontsize={found[0]}"


def test_projector_lines_and_markers_are_thicker_once(style):
    widths = {}
    for scale in ("notebook", "projector"):
        style(scale)
        fig, (ax,) = new_figure()
        ax.plot([1, 2], linewidth=1.0, marker="o", markersize=4.0)
        apply_style(apply_style(fig))  # twice: a figure shown twice is styled once
        widths[scale] = ax.lines[0].get_linewidth(), ax.lines[0].get_markersize()
    assert widths["notebook"] == (1.0, 4.0)
    assert widths["projector"] == pytest.approx((plots.PROJECTOR_LINES, 4.0 * plots.PROJECTOR_LINES))
