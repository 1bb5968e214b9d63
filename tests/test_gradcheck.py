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
