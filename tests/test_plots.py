"""Plot helpers: log scales that survive inf, NaN and 0, and problems said in words."""
import numpy as np
import pytest

from helpers.plots import describe_problem, fit_count_xlim, fit_linear_ylim, fit_log_ylim, label, log_safe, new_figure


def test_log_safe_hides_what_a_log_axis_cannot_draw():
    v = log_safe([1.0, 0.0, -2.0, np.inf, np.nan, 1e-320, 3.0])
    assert v[0] == 1.0 and v[-1] == 3.0
    assert np.isnan(v[1:6]).all()


@pytest.mark.parametrize("values,expected", [
    ([1.0, np.nan, 2.0], "became NaN at layer 1"),
    ([1.0, 2.0, np.inf], "overflowed to inf at layer 2"),
    ([1.0, 0.0, 0.0], "is exactly 0 at layer 1"),
    ([1.0, 2.0, 3.0], ""),
])
def test_describe_problem_names_the_first_bad_entry(values, expected):
    assert describe_problem(values) == expected


def test_describe_problem_uses_given_labels():
    assert describe_problem([1.0, np.inf], "layer", [1, 2]) == "overflowed to inf at layer 2"


def test_describe_problem_backward_names_where_the_trouble_began():
    # A gradient flowing back from step 3: it overflows at step 2, and the steps before
    # only inherit the inf (step 0 as NaN, inf - inf): step 2 is the one to name.
    flowed = [np.nan, np.inf, np.inf, 1e200]
    assert describe_problem(flowed, "step", backward=True) == "overflowed to inf at step 2"
    assert describe_problem(flowed, "step") == "became NaN at step 0"  # forward reading: the first entry
    assert describe_problem([0.0, 0.0, 1e-310, 1.0], "step", backward=True) == "is exactly 0 at step 1"
    assert describe_problem([np.nan, np.nan, 1.0], "step", [5, 6, 7], backward=True) == "became NaN at step 6"
    assert describe_problem([1e-3, 1.0, 1e3], "step", backward=True) == ""


def test_fit_log_ylim_covers_every_drawable_value():
    fig, (ax,) = new_figure()
    ax.set_yscale("log")
    fit_log_ylim(ax, [1e-8, np.nan, 1e3], [0.0, 5.0])
    lo, hi = ax.get_ylim()
    assert lo <= 1e-8 and hi >= 1e3


def test_fit_log_ylim_uses_whole_decades_and_keeps_them_for_small_changes():
    fig, (ax,) = new_figure()
    ax.set_yscale("log")
    fit_log_ylim(ax, [0.02, 40.0])  # padded 3x: 0.0067 .. 120, then a decade of margin
    assert ax.get_ylim() == (1e-4, 1e4)
    fit_log_ylim(ax, [0.03, 500.0])  # still inside: same ticks
    assert ax.get_ylim() == (1e-4, 1e4)
    fit_log_ylim(ax, [0.03, 5e3])  # outgrows the top: 0.01 .. 1.5e4 is 7 decades; 2 of margin above, 1 below
    assert ax.get_ylim() == (1e-3, 1e7)
    fit_log_ylim(ax, [1e-40, 1.0])  # 42 decades: 16 of margin below, where it grew, 8 above
    assert ax.get_ylim() == (1e-57, 1e9)
    fit_log_ylim(ax, [1e-30, 1.0])  # 32 decades of 66 shown: about half, kept
    assert ax.get_ylim() == (1e-57, 1e9)
    fit_log_ylim(ax, [0.5, 1.0])  # uses 2 decades of 66: shrinks, with no margin for so few
    assert ax.get_ylim() == (0.1, 10.0)


@pytest.mark.parametrize("ylim", [(1e65, 1e291), (1e-291, 1e-65), (1e-300, 1e300)])
def test_log_axes_near_the_float_range_get_finite_ticks(ylim):
    """matplotlib's LogLocator returns inf here, and formatting its label raises."""
    fig, (ax,) = new_figure()
    label(ax, "x", "y", log_y=True)
    ticks = ax.yaxis.get_major_locator().tick_values(*ylim)
    assert np.all(np.isfinite(ticks)) and ticks.min() > 0 and ticks.size >= 3
    ax.set_ylim(*ylim)
    fig.canvas.draw()


def test_fit_log_ylim_changes_the_ticks_rarely_along_a_vanishing_drag():
    """Decades lost at a steady rate (as with depth): a new range every several steps."""
    fig, (ax,) = new_figure()
    ax.set_yscale("log")
    ranges = []
    for depth in range(1, 51):
        fit_log_ylim(ax, 0.25 ** np.arange(depth))
        ranges.append(ax.get_ylim())
    assert all(ax_lo <= 0.25 ** (depth - 1) for depth, (ax_lo, _) in zip(range(1, 51), ranges))
    changes = sum(a != b for a, b in zip(ranges, ranges[1:]))
    assert changes <= 7


def test_fit_linear_ylim_rounds_up_and_shrinks_only_when_half_empty():
    fig, (ax,) = new_figure()
    fit_linear_ylim(ax, 0.12)
    assert ax.get_ylim() == pytest.approx((0.0, 0.15))
    fit_linear_ylim(ax, 0.09)
    assert ax.get_ylim() == pytest.approx((0.0, 0.15))
    fit_linear_ylim(ax, 0.03)
    assert ax.get_ylim() == pytest.approx((0.0, 0.05))


def test_fit_count_xlim_rounds_the_right_end_up_and_keeps_it_while_dragging():
    fig, (ax,) = new_figure()
    fit_count_xlim(ax, 1, 11, 51)  # the first fit is tight
    assert ax.get_xlim() == (0.5, 12.5)
    for last in (12, 10, 8):  # inside, and still filling most of it
        fit_count_xlim(ax, 1, last, 51)
        assert ax.get_xlim() == (0.5, 12.5)
    fit_count_xlim(ax, 1, 13, 51)  # outgrown: room for a third more
    assert ax.get_xlim() == (0.5, 18.5)
    fit_count_xlim(ax, 1, 23, 51)
    assert ax.get_xlim() == (0.5, 35.5)
    fit_count_xlim(ax, 1, 51, 51)  # never past where the largest value would end
    assert ax.get_xlim() == (0.5, 55.5)
    fit_count_xlim(ax, 1, 3, 51)  # mostly empty: shrinks to fit
    assert ax.get_xlim() == (0.5, 4.5)
    fit_count_xlim(ax, 0, 199, 200)
    assert ax.get_xlim() == (-0.5, 200.5)


def test_fit_count_xlim_changes_the_ticks_rarely_along_a_drag():
    fig, (ax,) = new_figure()
    tops = []
    for last in [*range(2, 52), *range(51, 1, -1)]:  # a depth slider dragged up and back down
        fit_count_xlim(ax, 1, last, 51)
        top = ax.get_xlim()[1] - 0.5
        assert last <= top <= 1.7 * last + 2
        tops.append(top)
    assert sum(a != b for a, b in zip(tops, tops[1:])) <= 12


def _shaded(ax) -> dict:
    """label -> [(min z, max z) of each region] that activation_panel shaded, rounded to 0.1."""
    return {band.get_label(): [(round(p.vertices[:, 0].min(), 1), round(p.vertices[:, 0].max(), 1))
                               for p in band.get_paths()] for band in ax.collections}


def test_activation_panel_shades_saturated_and_inactive_apart():
    from helpers.plots import activation_panel

    fig, (ax,) = new_figure()
    activation_panel(ax, "relu")
    assert _shaded(ax) == {"inactive: f' = 0": [(-8.0, 0.0)]}  # relu's flat side, not "saturated"
    assert [t.get_text() for t in ax.get_legend().get_texts()][2:] == ["inactive: f' = 0"]
    fig, (ax,) = new_figure()
    activation_panel(ax, "sigmoid")
    # sigmoid'(z) < 0.025 where |z| > 3.64: both tails, and not the middle.
    assert _shaded(ax) == {"saturated: f' < 10% of max": [(-8.0, -3.6), (3.6, 8.0)]}
    for name in ("leaky_relu", "linear"):  # straight lines: nothing to shade
        fig, (ax,) = new_figure()
        activation_panel(ax, name)
        assert _shaded(ax) == {}
