"""Plot helpers: log scales that survive inf, NaN and 0, and problems said in words."""
import numpy as np
import pytest

from helpers.plots import describe_problem, fit_log_ylim, log_safe, new_figure


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
