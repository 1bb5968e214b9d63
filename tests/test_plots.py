"""Plot helpers: log scales that survive inf, NaN and 0, and problems said in words."""
import numpy as np
import pytest

from helpers.plots import describe_problem, fit_count_xlim, fit_linear_ylim, fit_log_ylim, log_safe, new_figure


def test_log_safe_hides_what_a_log_axis_cannot_draw():
    v = log_safe([1.0, 0.0, -2.0, np.inf, np.nan, 1e-320, 3.0])
    assert v[0] == 1.0 and v[-1] == 3.0
    assert np.isnan(v[1:6]).all()


@pytest.mark.parametrize("values,expected", [
    ([1.0, np.nan, 2.0], "became NaN at layer 1"),
    ([1.0, 2.0, np.inf], "overflowed to inf at layer 2"),
    ([1.0, 0.0, 0.0], "underflowed to exactly 0 at layer 1"),
    ([1.0, 2.0, 3.0], ""),
])
def test_describe_problem_names_the_first_bad_entry(values, expected):
    assert describe_problem(values) == expected


def test_describe_problem_uses_given_labels():
    assert describe_problem([1.0, np.inf], "layer", [1, 2]) == "overflowed to inf at layer 2"


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
    fit_log_ylim(ax, [0.03, 5e3])  # leaves the range: grows
    assert ax.get_ylim() == (1e-3, 1e6)
    fit_log_ylim(ax, [1e-40, 1.0])  # 42 decades: 8 of margin on each side
    assert ax.get_ylim() == (1e-49, 1e9)
    fit_log_ylim(ax, [0.5, 1.0])  # uses 2 decades of 58: shrinks, with no margin for so few
    assert ax.get_ylim() == (0.1, 10.0)


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
    fit_count_xlim(ax, 1, 11)
    assert ax.get_xlim() == (0.5, 12.5)
    for last in (12, 13, 14, 15, 10, 16, 20):
        fit_count_xlim(ax, 1, last)
        assert ax.get_xlim()[1] - 0.5 in (10, 12, 14, 16, 20) and ax.get_xlim()[1] >= last
    fit_count_xlim(ax, 1, 23)
    assert ax.get_xlim() == (0.5, 25.5)
    fit_count_xlim(ax, 1, 3)
    assert ax.get_xlim() == (0.5, 4.5)
    fit_count_xlim(ax, 0, 199)
    assert ax.get_xlim() == (-0.5, 200.5)
