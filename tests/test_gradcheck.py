"""rel_error and numerical_gradient against closed forms and torch autograd."""
import math
import warnings

import numpy as np
import pytest
import torch

from helpers.gradcheck import numerical_gradient, rel_error


def test_rel_error_closed_forms():
    assert rel_error(np.ones(5), np.ones(5)) == 0.0
    # ||a - b|| = sqrt(2), ||a|| + ||b|| = 2
    assert rel_error([1.0, 0.0], [0.0, 1.0]) == pytest.approx(math.sqrt(2) / 2)
    assert rel_error([3.0, 4.0], [0.0, 0.0]) == 1.0  # one side zero: maximal
    assert rel_error(2.0, 1.0) == pytest.approx(1 / 3)
    assert rel_error(0.0, 0.0) == 0.0  # eps keeps 0 / 0 away
    assert rel_error(1e-20, 0.0) == pytest.approx(1e-20 / 1e-12)


def test_rel_error_is_symmetric_and_norm_based():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    expected = np.sqrt(((a - b) ** 2).sum()) / (np.sqrt((a**2).sum()) + np.sqrt((b**2).sum()))
    assert rel_error(a, b) == pytest.approx(expected, rel=1e-13)
    assert rel_error(a, b) == rel_error(b, a)
    # One entry far off relative to itself but tiny overall: small error.
    c = a.copy()
    c[0, 0] += 1e-9
    assert rel_error(a, c) < 1e-9


def test_rel_error_accepts_tensors_and_scalars():
    t = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    assert rel_error(t, np.array([1.0, 2.0])) == 0.0
    assert rel_error(t * 2, t) == pytest.approx(1 / 3)
    assert isinstance(rel_error(torch.tensor(1.0), 1.0), float)


def test_rel_error_nan_and_extremes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(rel_error([1.0, math.nan], [1.0, 2.0]))
        assert math.isnan(rel_error(1.0, math.nan))
        # Squares of 1e200 overflow, but the error is still computed.
        assert rel_error([1e200, 1e200], [1e200, 1e200]) == 0.0
        assert rel_error([1e200, 0.0], [0.0, 1e200]) == pytest.approx(math.sqrt(2) / 2)
        # Below eps the denominator is eps: differences of tiny values count as tiny.
        assert rel_error([1e-200], [2e-200]) == pytest.approx(1e-200 / 1e-12)
        assert rel_error([1e-200], [2e-200], eps=1e-300) == pytest.approx(1 / 3)


def test_rel_error_bad_arguments():
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        rel_error(1.0, 1.0, eps=0.0)


def test_numerical_gradient_closed_forms():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4))
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sum(v**3), x), 3 * x**2, rtol=1e-7)
    A = rng.normal(size=(5, 5))
    v = rng.normal(size=5)
    # grad of v^T A v is (A + A^T) v; the quadratic makes central
    # differences exact up to rounding.
    np.testing.assert_allclose(numerical_gradient(lambda u: u @ A @ u, v), (A + A.T) @ v, rtol=1e-7, atol=1e-8)


def test_numerical_gradient_matches_torch():
    rng = np.random.default_rng(2)
    x = rng.normal(size=7)

    def f_torch(t):
        return torch.sum(torch.tanh(t) * torch.sin(2 * t)) + torch.logsumexp(t, 0)

    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(f_torch(t), t)
    numeric = numerical_gradient(lambda u: f_torch(torch.from_numpy(u)).item(), x)
    assert rel_error(numeric, g) < 1e-8


def test_numerical_gradient_restores_x():
    x = np.array([[0.1, -0.2], [0.3, 1e-7]])
    before = x.copy()
    seen = []
    numerical_gradient(lambda v: seen.append(v.copy()) or float(v.sum()), x)
    assert np.array_equal(x, before)
    assert len(seen) == 2 * x.size  # two evaluations per entry, each nudged
    assert not any(np.array_equal(s, before) for s in seen)

    def explode(v):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        numerical_gradient(explode, x)
    assert np.array_equal(x, before)  # restored even when f fails


def test_numerical_gradient_bad_arguments():
    with pytest.raises(ValueError, match="x must be a float64 numpy array.*float32"):
        numerical_gradient(np.sum, np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="x must be a float64 numpy array.*list"):
        numerical_gradient(np.sum, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"h must be a finite number > 0, got -1e-06"):
        numerical_gradient(np.sum, np.zeros(3), h=-1e-6)


def test_check_close_prints_a_verdict(capsys):
    from helpers.gradcheck import check_close

    assert check_close("same", np.ones(3), np.ones(3), expected_below=1e-12) is True
    assert check_close("off", [1.0], [2.0], expected_below=0.1) is False  # error 1/3
    out = capsys.readouterr().out
    assert "same: relative error" in out and "OK" in out
    assert "off: relative error 3.3e-01" in out and "TOO LARGE" in out


def test_norm_of_huge_and_tiny_entries_is_finite_and_exact():
    from helpers.gradcheck import norm

    # Powers of two times 3 and 4: the norm 5 * 2^k is exact, and the squares would
    # overflow (2^1200) or underflow (2^-1200) in float64.
    for k in (600, -600, 0):
        a = np.ldexp([3.0, 4.0], k)
        assert norm(a) == np.ldexp(5.0, k)
    assert norm(np.full((4, 25), 1e200)) == pytest.approx(1e201, rel=1e-15)
    assert norm([1e200, 1e-200]) == 1e200
    assert norm(np.array([5e-324, 5e-324, 5e-324, 5e-324])) == 1e-323  # 2 * the smallest subnormal
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # silent, as the course's other results
        assert norm(np.full(3, 1e300)) == pytest.approx(math.sqrt(3) * 1e300, rel=1e-15)
        assert norm([1.5e308, 1.5e308]) == math.inf  # the norm itself beyond float64
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 7))
    assert norm(a) == pytest.approx(np.linalg.norm(a), rel=1e-15)
    assert norm(a * 1e250) == pytest.approx(np.linalg.norm(a) * 1e250, rel=1e-14)
    assert isinstance(norm(a), float) and norm(3.0) == 3.0 and norm(-3.0) == 3.0


def test_norm_is_inf_nan_or_zero_only_when_the_entries_say_so():
    from helpers.gradcheck import norm

    assert norm([1.0, np.inf, 2.0]) == math.inf
    assert norm([-np.inf, 1e300]) == math.inf
    assert math.isnan(norm([1.0, np.nan])) and math.isnan(norm([np.inf, np.nan]))
    assert norm(np.zeros((3, 4))) == 0.0 and norm(np.zeros(0)) == 0.0
    assert norm([0.0, -0.0, 1e-320]) == 1e-320  # a vanishing gradient is not read as 0


def test_norm_over_axes():
    from helpers.gradcheck import norm

    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 4, 5))
    np.testing.assert_allclose(norm(a, axis=(0, 2)), np.sqrt(np.sum(a**2, axis=(0, 2))), rtol=1e-15)
    np.testing.assert_allclose(norm(a, axis=-1), np.sqrt(np.sum(a**2, axis=-1)), rtol=1e-15)
    assert norm(a, axis=(0, 1, 2)).shape == () and norm(a, axis=(0, 1, 2)) == pytest.approx(norm(a), rel=1e-15)
    # Each slice on its own: huge, tiny, inf, NaN and zero slices side by side.
    b = np.stack([np.full(4, 1e200), np.full(4, 1e-200), [1.0, np.inf, 0, 0], [np.nan, 1, 2, 3], np.zeros(4)])
    got = norm(b, axis=1)
    np.testing.assert_allclose(got[:2], [2e200, 2e-200], rtol=1e-15)
    assert got[2] == math.inf and math.isnan(got[3]) and got[4] == 0.0
    np.testing.assert_allclose(norm(b[:2].T, axis=0), [2e200, 2e-200], rtol=1e-15)
    for bad in (3, -4, (0, 0), (0, 3), 1.0, "0", True, [0, 1]):
        with pytest.raises(ValueError, match=r"axis must be None, an integer or a tuple .* from -3 to 2"):
            norm(a, axis=bad)


def test_norm_reads_float32_arrays_and_tensors_in_float64():
    from helpers.gradcheck import norm

    a32 = np.array([3e30, 4e30], dtype=np.float32)  # squares beyond float32's 3.4e38
    assert norm(a32) == pytest.approx(5e30, rel=1e-7)
    assert norm(a32) == float(np.linalg.norm(a32.astype(np.float64)))
    t32 = torch.tensor([3e30, 4e30], dtype=torch.float32, requires_grad=True)
    assert norm(t32) == norm(a32)
    t64 = torch.tensor([3e200, 4e200], dtype=torch.float64)  # torch's own norm gives inf here
    assert torch.linalg.vector_norm(t64).item() == math.inf
    assert norm(t64) == pytest.approx(5e200, rel=1e-15)
    np.testing.assert_allclose(norm(np.ones((2, 3), dtype=np.float32), axis=1), [math.sqrt(3)] * 2, rtol=1e-15)
