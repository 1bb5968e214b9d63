"""Gradient clipping against torch.nn.utils and against the algorithm's promises:
the clipped norm is the threshold, the direction is unchanged, small gradients
are untouched, and inf/NaN come out as torch's."""
import math
import warnings

import numpy as np
import pytest
import torch

from helpers.clipping import clip_by_global_norm, clip_by_value, global_norm

SHAPES = [(3, 4), (5,), (2, 2, 2)]


def make_grads(norm, seed=0):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(s) for s in SHAPES]
    total = np.linalg.norm(np.concatenate([g.ravel() for g in grads]))
    return [g * (norm / total) for g in grads]


def flat(arrays):
    return np.concatenate([np.asarray(a).ravel() for a in arrays])


def torch_clipped(grads, how, value):
    """Run torch's clip_grad_norm_ or clip_grad_value_ on copies; (grads, total norm or None)."""
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = torch.tensor(g, dtype=torch.float64)
    total = None
    if how == "norm":
        total = float(torch.nn.utils.clip_grad_norm_(params, value))
    else:
        torch.nn.utils.clip_grad_value_(params, value)
    return [p.grad.numpy() for p in params], total


@pytest.mark.parametrize("norm, threshold", [(10.0, 1.0), (3.0, 2.5), (1e6, 5.0)])
def test_clipping_a_large_gradient(norm, threshold):
    grads = make_grads(norm)
    originals = [g.copy() for g in grads]
    result = clip_by_global_norm(grads, threshold)
    clipped, before = result.grads, result.norm_before
    assert before == pytest.approx(norm, rel=1e-12)
    assert np.linalg.norm(flat(clipped)) == pytest.approx(threshold, rel=1e-12)
    cosine = flat(clipped) @ flat(grads) / (np.linalg.norm(flat(clipped)) * np.linalg.norm(flat(grads)))
    assert cosine == pytest.approx(1.0, abs=1e-12)
    assert [c.shape for c in clipped] == SHAPES
    assert all(np.array_equal(g, o) for g, o in zip(grads, originals))  # inputs untouched
    # torch adds 1e-6 to the norm; with the same eps the results agree to rounding.
    reference, torch_norm = torch_clipped(grads, "norm", threshold)
    assert torch_norm == pytest.approx(before, rel=1e-12)
    with_eps = clip_by_global_norm(grads, threshold, eps=1e-6).grads
    np.testing.assert_allclose(flat(with_eps), flat(reference), rtol=1e-12)
    np.testing.assert_allclose(flat(clipped), flat(reference), rtol=2e-6 / norm + 1e-12)


@pytest.mark.parametrize("threshold", [5.0, 2.0000001])
def test_gradients_below_the_threshold_are_untouched(threshold):
    grads = make_grads(2.0, seed=1)
    result = clip_by_global_norm(grads, threshold)
    clipped, before = result.grads, result.norm_before
    assert before == pytest.approx(2.0, rel=1e-12)
    assert all(np.array_equal(c, g) for c, g in zip(clipped, grads))
    reference, _ = torch_clipped(grads, "norm", threshold)
    if threshold == 5.0:  # far below: torch leaves them exactly as well
        assert all(np.array_equal(c, r) for c, r in zip(clipped, reference))


def test_a_gradient_exactly_at_the_threshold_keeps_its_length():
    grads = [np.array([3.0, 4.0])]
    result = clip_by_global_norm(grads, 5.0)
    clipped, before = result.grads, result.norm_before
    assert before == 5.0 and np.array_equal(clipped[0], grads[0])


def test_clip_by_value_equals_torch_and_can_turn_the_direction():
    grads = make_grads(10.0, seed=2) + [np.array([np.inf, -np.inf, np.nan, 0.25])]
    result = clip_by_value(grads, 0.5)
    clipped = result.grads
    assert math.isnan(result.norm_before)  # a NaN entry: the norm before is NaN, as global_norm says
    reference, _ = torch_clipped(grads, "value", 0.5)
    for c, r in zip(clipped, reference):
        np.testing.assert_array_equal(c, r)  # NaN where torch has NaN
    finite = flat(clipped[:-1])
    assert np.all(np.abs(finite) <= 0.5)
    np.testing.assert_array_equal(clipped[-1], [0.5, -0.5, np.nan, 0.25])
    # Unlike norm clipping, clipping entries changes the direction.
    g = flat(grads[:-1])
    assert finite @ g / (np.linalg.norm(finite) * np.linalg.norm(g)) < 0.999


@pytest.mark.parametrize("bad, norm_is", [(np.inf, math.inf), (-np.inf, math.inf), (np.nan, math.nan)])
def test_nonfinite_gradients_match_torch(bad, norm_is):
    grads = make_grads(3.0, seed=3)
    grads[1][2] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = clip_by_global_norm(grads, 1.0)
        clipped, before = result.grads, result.norm_before
    reference, torch_norm = torch_clipped(grads, "norm", 1.0)
    for c, r in zip(clipped, reference):
        np.testing.assert_array_equal(c, r)
    if math.isnan(norm_is):
        assert math.isnan(before) and math.isnan(torch_norm)
        assert np.all(np.isnan(flat(clipped)))  # NaN anywhere: everything NaN
    else:
        assert before == math.inf == torch_norm
        # Scale threshold / inf = 0: finite entries become 0, the inf one 0 * inf = NaN.
        assert np.isnan(clipped[1][2]) and np.sum(np.isnan(flat(clipped))) == 1
        assert np.all(flat(clipped)[~np.isnan(flat(clipped))] == 0)


def test_huge_finite_gradients_are_clipped_in_their_direction():
    # Squares of 1e200 overflow float64 (torch's norm is inf here and it zeroes
    # the gradient); the algorithm asks for a step of length threshold.
    grads = [np.array([3e200, 0.0]), np.array([-4e200])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = clip_by_global_norm(grads, 2.0)
        clipped, before = result.grads, result.norm_before
    assert before == pytest.approx(5e200, rel=1e-14)
    np.testing.assert_allclose(flat(clipped), [1.2, 0.0, -1.6], rtol=1e-14)


def test_both_kinds_of_clipping_report_the_same_fields():
    grads = make_grads(10.0, seed=4)
    by_norm, by_value = clip_by_global_norm(grads, 1.0), clip_by_value(grads, 0.1)
    assert type(by_norm) is type(by_value)
    assert by_norm.norm_before == by_value.norm_before == pytest.approx(10.0, rel=1e-12)
    assert by_norm.norm_after == pytest.approx(1.0, rel=1e-12) and by_value.norm_after < 10.0


def test_global_norm_and_empty_input():
    assert global_norm([np.array([[1.0, 2.0]]), np.array([2.0])]) == pytest.approx(3.0)
    assert global_norm([np.array([1e-200]), np.array([1e-200])]) == pytest.approx(math.sqrt(2) * 1e-200)
    empty = clip_by_global_norm([], 1.0)
    assert empty.grads == [] and empty.norm_before == 0.0 == empty.norm_after
    zero = clip_by_global_norm([np.zeros(3)], 1.0)  # nothing to divide by, nothing to clip
    assert zero.norm_before == 0.0 and np.array_equal(zero.grads[0], np.zeros(3))
    clipped = clip_by_global_norm([torch.tensor([6.0, 8.0], requires_grad=True)], 5.0).grads
    np.testing.assert_allclose(clipped[0], [3.0, 4.0], rtol=1e-7)  # torch tensors are read too


@pytest.mark.parametrize("call, message", [
    (lambda g: clip_by_global_norm(g, 0.0), r"threshold must be a finite number > 0, got 0.0"),
    (lambda g: clip_by_global_norm(g, -1.0), r"threshold must be a finite number > 0, got -1.0"),
    (lambda g: clip_by_global_norm(g, math.nan), r"threshold must be a finite number > 0, got nan"),
    (lambda g: clip_by_global_norm(g, True), r"threshold must be a finite number > 0, got True"),
    (lambda g: clip_by_global_norm(g, 1.0, eps=-1e-6), r"eps must be a finite number >= 0"),
    (lambda g: clip_by_value(g, 0), r"limit must be a finite number > 0, got 0"),
    (lambda g: clip_by_value(g, math.inf), r"limit must be a finite number > 0, got inf"),
    (lambda g: clip_by_global_norm(g[0], 1.0), r"grads must be a list or tuple of arrays, got ndarray"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(make_grads(1.0))
