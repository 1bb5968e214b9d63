"""The one-unit cliff of Pascanu et al. (2013): the error's gradient against autograd and finite
differences, where the wall is, and what Algorithm 1 clipping does to gradient descent on it."""
import warnings

import numpy as np
import pytest
import torch

from helpers.cliff import (CLIFF_LR, CLIFF_START, CLIFF_STEPS, CLIFF_THRESHOLD, CLIFF_WINDOW, PASCANU_CLIFF, Cliff,
                           Descent, cliff_error, descend, final_state, wall_bias)
from helpers.gradcheck import rel_error


def torch_error(w: float, b: float, cliff: Cliff = PASCANU_CLIFF) -> tuple[float, float, float]:
    """(E, dE/dw, dE/db) by autograd through the T steps, float64."""
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    b_t = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(cliff.x0, dtype=torch.float64)
    for _ in range(cliff.T):
        x = w_t * torch.sigmoid(x) + b_t
    error = (torch.sigmoid(x) - cliff.target) ** 2
    error.backward()
    return error.item(), w_t.grad.item(), b_t.grad.item()


def central_differences(w, b, h: float, cliff: Cliff = PASCANU_CLIFF) -> tuple[np.ndarray, np.ndarray]:
    """(dE/dw, dE/db) by central differences with step h."""
    d_w = (cliff_error(w + h, b, cliff)[0] - cliff_error(w - h, b, cliff)[0]) / (2 * h)
    d_b = (cliff_error(w, b + h, cliff)[0] - cliff_error(w, b - h, cliff)[0]) / (2 * h)
    return d_w, d_b


def in_window(path: np.ndarray) -> np.ndarray:
    """(rows,) True where (w, b) lies in CLIFF_WINDOW."""
    w_lo, w_hi, b_lo, b_hi = CLIFF_WINDOW
    return (path[:, 0] >= w_lo) & (path[:, 0] <= w_hi) & (path[:, 1] >= b_lo) & (path[:, 1] <= b_hi)


@pytest.mark.parametrize("w, b", [(1.0, 0.0), (3.0, -1.0), (CLIFF_START[0], CLIFF_START[1]), (7.0, 0.0),
                                  (3.0, -4.0), (-2.0, 1.0)])
def test_error_and_gradient_match_autograd_on_the_plains(w, b):
    error, d_w, d_b = cliff_error(w, b)
    ref = torch_error(w, b)
    assert rel_error(error, ref[0]) < 1e-13
    assert rel_error(np.array([d_w, d_b]), np.array(ref[1:])) < 1e-12


@pytest.mark.parametrize("w", [4.6, 5.0, 6.0, 7.0])
@pytest.mark.parametrize("offset", [1e-3, 1e-5, 1e-8, 0.0, -1e-5])
def test_error_and_gradient_match_autograd_on_and_near_the_wall(w, offset):
    b = float(wall_bias(w)) + offset
    error, d_w, d_b = cliff_error(w, b)
    ref = torch_error(w, b)
    # On the wall x_0 sits on the map's unstable fixed point: a rounding difference in
    # sigmoid grows like (w sigmoid'(x0))^T, about 3e6 at w = 6, in both computations.
    assert rel_error(error, ref[0]) < 1e-6
    assert rel_error(np.array([d_w, d_b]), np.array(ref[1:])) < 1e-6


def test_gradient_matches_central_differences_over_the_window():
    w_lo, w_hi, b_lo, b_hi = CLIFF_WINDOW
    w, b = np.meshgrid(np.linspace(w_lo, w_hi, 9), np.linspace(b_lo, b_hi, 9))
    _, d_w, d_b = cliff_error(w, b)
    fd_w, fd_b = central_differences(w, b, 1e-6)
    assert rel_error(d_w, fd_w) < 1e-7 and rel_error(d_b, fd_b) < 1e-7


@pytest.mark.parametrize("w", [4.6, 5.0, 5.5])
@pytest.mark.parametrize("offset", [1e-3, 1e-5, 0.0, -1e-5])
def test_gradient_matches_central_differences_across_the_wall(w, offset):
    b = float(wall_bias(w)) + offset
    _, d_w, d_b = cliff_error(w, b)
    # The wall is 1e-5 wide or less: the step must be far smaller.
    fd_w, fd_b = central_differences(w, b, 1e-9)
    assert rel_error(np.array([d_w, d_b]), np.array([fd_w, fd_b])) < 1e-5


def test_grids_of_any_shape_broadcast():
    w = np.linspace(3.0, 7.0, 5)[:, None]  # (5, 1)
    b = np.linspace(-4.0, 0.0, 4)  # (4,)
    parts = cliff_error(w, b)
    assert all(p.shape == (5, 4) and p.dtype == np.float64 for p in parts)
    for i, j in ((0, 0), (2, 3), (4, 1)):
        assert [p[i, j] for p in parts] == [p.item() for p in cliff_error(w[i, 0], b[j])]
    assert all(p.shape == () for p in cliff_error(5.0, -3.0))
    assert all(p.shape == (2, 3) for p in final_state(np.full((2, 3), 5.0), -3.0))


def test_the_wall_is_where_the_final_state_jumps_between_the_two_attractors():
    assert np.all(np.isnan(wall_bias([0.0, 3.0, 4.2])))  # no bistability: no wall
    for w in (5.0, 6.0, 7.0):
        b = float(wall_bias(w))
        below, above = (1.0 / (1.0 + np.exp(-final_state(w, b + d)[0])) for d in (-0.01, 0.01))
        assert below < 0.12 and above > 0.8
        x_T, _, _ = final_state(w, b)
        assert x_T == pytest.approx(PASCANU_CLIFF.x0, abs=1e-6)  # x0 is the fixed point there


def test_the_wall_is_thousands_to_billions_of_times_steeper_than_the_plains():
    w_lo, w_hi, b_lo, b_hi = CLIFF_WINDOW
    w, b = np.meshgrid(np.linspace(w_lo, w_hi, 101), np.linspace(b_lo, b_hi, 101))
    _, d_w, d_b = cliff_error(w, b)
    typical = np.median(np.hypot(d_w, d_b))
    assert 0.01 < typical < 0.1
    steepest = []
    for x in (5.0, 6.0, 7.0):  # across the wall, finely enough to land on it
        b_line = float(wall_bias(x)) + np.linspace(-1e-4, 1e-4, 20001)
        _, d_w, d_b = cliff_error(x, b_line)
        steepest.append(np.hypot(d_w, d_b).max())
    assert steepest[0] > 1e3 * typical and steepest[2] > 1e9 * typical
    assert steepest[0] < steepest[1] < steepest[2]  # like (w sigmoid'(x0))^T


def test_large_weights_stay_finite_and_extreme_ones_are_silent():
    w = np.array([1e3, 1e5, 1e6])
    parts = cliff_error(w, wall_bias(w))  # on the wall: the worst case
    assert all(np.all(np.isfinite(p)) for p in parts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        extreme = cliff_error([1e7, 1e300, np.inf, np.nan], [float(wall_bias(1e7)), 1e300, 0.0, 0.0])
    assert not np.all(np.isfinite(extreme[1]))


def test_the_default_descent_is_thrown_off_the_wall_and_the_clipped_one_goes_on():
    free = descend(*CLIFF_START, CLIFF_LR, CLIFF_STEPS)
    clipped = descend(*CLIFF_START, CLIFF_LR, CLIFF_STEPS, threshold=CLIFF_THRESHOLD)
    throw = int(np.argmax(free.step_lengths))
    assert throw == 18 and free.grad_norm[throw] == pytest.approx(45.35, abs=0.01)
    assert free.step_lengths[throw] > 40 and not in_window(free.path)[throw + 1:].any()
    assert free.loss[-1] == pytest.approx(0.09, abs=1e-4)  # the high plain: sigmoid(x_T) is about 1
    np.testing.assert_array_equal(clipped.path[:throw + 1], free.path[:throw + 1])  # nothing clipped before
    assert clipped.clipped[throw] and in_window(clipped.path).all()
    assert clipped.step_lengths.max() <= CLIFF_LR * CLIFF_THRESHOLD * (1 + 1e-12)
    assert clipped.loss[-1] < 1e-3 and clipped.clipped.sum() == 11


def test_clipping_shortens_a_step_to_lr_times_threshold_along_the_gradient():
    lr, threshold = 0.7, 0.2
    run = descend(4.8, -2.8, lr, 60, threshold=threshold)
    assert isinstance(run, Descent) and run.path.shape == (61, 2) and run.loss.shape == (61,)
    assert run.grad_norm.shape == run.clipped.shape == (60,) and run.clipped.dtype == bool
    error, d_w, d_b = cliff_error(run.path[:-1, 0], run.path[:-1, 1])
    np.testing.assert_allclose(run.loss[:-1], error, rtol=1e-12)
    np.testing.assert_allclose(run.grad_norm, np.hypot(d_w, d_b), rtol=1e-12)
    np.testing.assert_array_equal(run.clipped, run.grad_norm >= threshold)
    assert 0 < run.clipped.sum() < 60
    step = -np.diff(run.path, axis=0) / lr  # the gradient each update used
    grad = np.stack([d_w, d_b], axis=1)
    c = run.clipped
    np.testing.assert_allclose(step[~c], grad[~c], rtol=1e-9, atol=1e-15)  # small ones untouched
    np.testing.assert_allclose(np.hypot(*step[c].T), threshold, rtol=1e-9)  # large ones at the threshold,
    direction = grad[c] / np.hypot(*grad[c].T)[:, None]
    np.testing.assert_allclose(step[c] / threshold, direction, rtol=1e-9, atol=1e-12)  # in the same direction
    assert run.step_lengths.max() <= lr * threshold * (1 + 1e-12)


def test_a_threshold_above_every_gradient_changes_nothing():
    free = descend(5.0, -2.5, 0.5, 40)
    high = descend(5.0, -2.5, 0.5, 40, threshold=1e300)
    np.testing.assert_array_equal(free.path, high.path)
    assert not high.clipped.any() and not free.clipped.any() and free.threshold is None


def test_zero_steps_is_just_the_start():
    run = descend(5.0, -2.5, 0.5, 0, threshold=1.0)
    np.testing.assert_array_equal(run.path, [[5.0, -2.5]])
    assert run.loss[0] == cliff_error(5.0, -2.5)[0] and run.grad_norm.size == run.step_lengths.size == 0


def test_a_descent_that_overflows_carries_on_with_inf_and_nan_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = descend(7.0, float(wall_bias(7.0)), 1e300, 3)  # ||g|| ~ 4e9 on the wall
    assert not np.all(np.isfinite(run.path[1:]))
    assert np.isfinite(descend(7.0, float(wall_bias(7.0)), 1e300, 3, threshold=1.0).path).all()


def test_the_unit_is_an_argument():
    short = Cliff(T=10, x0=0.5, target=0.7)
    w, b = np.linspace(3.0, 7.0, 5), np.linspace(-4.0, 0.0, 5)
    assert not np.allclose(cliff_error(w, b, short)[0], cliff_error(w, b)[0])
    ref = torch_error(5.0, -2.0, short)
    np.testing.assert_allclose(cliff_error(5.0, -2.0, short), ref, rtol=1e-12)
    fd_w, fd_b = central_differences(w, b, 1e-6, short)
    assert rel_error(cliff_error(w, b, short)[1], fd_w) < 1e-7 and rel_error(cliff_error(w, b, short)[2], fd_b) < 1e-7
    assert descend(5.0, -2.0, 0.1, 2, cliff=short).loss[0] == ref[0]
    assert wall_bias(5.0, Cliff(T=50, x0=0.0, target=0.7)) == pytest.approx(-2.5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=0.0), r"lr must be a finite number > 0, got 0.0"),
    (dict(lr=np.nan), r"lr must be a finite number > 0, got nan"),
    (dict(lr="0.1"), r"lr must be a finite number > 0, got '0.1'"),
    (dict(threshold=-1.0), r"threshold must be None or a finite number > 0, got -1.0"),
    (dict(threshold=0.0), r"threshold must be None or a finite number > 0, got 0.0"),
    (dict(threshold="off"), r"threshold must be None or a finite number > 0, got 'off'"),
    (dict(steps=2.5), r"steps must be an integer >= 0, got 2.5"),
    (dict(steps=-1), r"steps must be an integer >= 0, got -1"),
    (dict(w0=np.nan), r"w0 must be a finite number, got nan"),
    (dict(b0=np.inf), r"b0 must be a finite number, got inf"),
    (dict(b0=None), r"b0 must be a finite number, got None"),
    (dict(cliff=(50, 0.5, 0.7)), r"cliff must be a Cliff \(e.g. PASCANU_CLIFF\), got tuple"),
])
def test_bad_descent_arguments_say_what_is_allowed(kwargs, message):
    args = dict(w0=5.0, b0=-2.5, lr=0.1, steps=3) | kwargs
    with pytest.raises(ValueError, match=message):
        descend(**args)


@pytest.mark.parametrize("call, message", [
    (lambda: cliff_error("five", 1.0), r"w must be a number or an array of numbers, got 'five'"),
    (lambda: cliff_error(1.0, [1.0, "x"]), r"b must be a number or an array of numbers"),
    (lambda: cliff_error(np.zeros(3), np.zeros(4)), r"w and b must have shapes that broadcast together, got \(3,\) and \(4,\)"),
    (lambda: final_state(1.0, 1.0, cliff="pascanu"), r"cliff must be a Cliff"),
    (lambda: wall_bias(None), r"w must be a number or an array of numbers, got None"),
    (lambda: Cliff(T=0, x0=0.5, target=0.7), r"T must be an integer from 1 to 1000, got 0"),
    (lambda: Cliff(T=50.0, x0=0.5, target=0.7), r"T must be an integer from 1 to 1000, got 50.0"),
    (lambda: Cliff(T=50, x0=np.nan, target=0.7), r"x0 must be a finite number, got nan"),
    (lambda: Cliff(T=50, x0=0.5, target=1.0), r"target must be a finite number strictly between 0 and 1, got 1.0"),
    (lambda: Cliff(T=50, x0=0.5, target="x"), r"target must be a finite number, got 'x'"),
])
def test_bad_arguments_elsewhere_say_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()
