"""The scalar chain against torch autograd, closed forms and its bound."""
import math
import warnings

import numpy as np
import pytest
import torch

from helpers.activations import ACTIVATION_NAMES, get_activation
from helpers.chain import (
    ChainResult,
    chain_bound,
    chain_bound_curve,
    chain_forward_backward,
    factor_products,
)


def torch_chain(n, w, name, x0, b):
    """The same chain in torch: activations and d a_n / d a_k for every k."""
    f = get_activation(name).torch_f
    a = [torch.tensor(x0, dtype=torch.float64, requires_grad=True)]
    for _ in range(n):
        a.append(f(w * a[-1] + b))
    grads = torch.autograd.grad(a[-1], a[:-1])  # d a_n / d a_k, k < n
    values = np.array([t.item() for t in a])
    return values, np.array([g.item() for g in grads] + [1.0])


CASES = [(n, w, name, x0, b)
         for name in ACTIVATION_NAMES
         for n, w, x0, b in [(1, 0.7, 1.0, 0.0), (5, 2.5, -0.3, 0.1), (12, -1.3, 0.8, -0.2), (30, 4.0, 1.0, 0.0)]]


@pytest.mark.parametrize("n, w, name, x0, b", CASES)
def test_chain_matches_torch_autograd(n, w, name, x0, b):
    result = chain_forward_backward(n, w, name, x0=x0, bias=b)
    a_torch, grad_torch = torch_chain(n, w, name, x0, b)
    assert isinstance(result, ChainResult)
    assert result.z.shape == (n,) and result.factors.shape == (n,)
    assert result.a.shape == (n + 1,) and result.grad_wrt.shape == (n + 1,)
    np.testing.assert_allclose(result.a, a_torch, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(result.grad_wrt, grad_torch, rtol=1e-9, atol=1e-300)
    assert result.gradient == result.grad_wrt[0]


@pytest.mark.parametrize("n, w, name, x0, b", CASES)
def test_gradient_is_the_product_of_local_factors(n, w, name, x0, b):
    r = chain_forward_backward(n, w, name, x0=x0, bias=b)
    act = get_activation(name)
    np.testing.assert_allclose(r.z, w * r.a[:-1] + b, rtol=1e-15)
    np.testing.assert_allclose(r.factors, w * act.df(r.z), rtol=1e-15)
    assert r.grad_wrt[n] == 1.0
    for k in range(n):
        assert r.grad_wrt[k] == pytest.approx(math.prod(r.factors[k:]), rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_gradient_never_exceeds_the_bound(name):
    rng = np.random.default_rng(2)
    for _ in range(40):
        n = int(rng.integers(1, 40))
        w = float(rng.normal(0, 4))
        r = chain_forward_backward(n, w, name, x0=float(rng.normal()), bias=float(rng.normal()))
        curve = chain_bound_curve(n, w, name)
        assert abs(r.gradient) <= chain_bound(n, w, name) * (1 + 1e-12)
        assert np.all(np.abs(r.grad_wrt) <= curve * (1 + 1e-12))


def test_bound_closed_forms():
    assert chain_bound(10, 4.0, "sigmoid") == 1.0  # 4 * 1/4 = 1 per unit
    assert chain_bound(3, 2.0, "tanh") == 8.0
    assert chain_bound(3, -2.0, "relu") == 8.0  # |w|
    np.testing.assert_array_equal(chain_bound_curve(3, 2.0, "linear"), [8.0, 4.0, 2.0, 1.0])
    np.testing.assert_array_equal(chain_bound_curve(2, 0.0, "tanh"), [0.0, 0.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert chain_bound(200, 1e6, "relu") == math.inf
        assert chain_bound(200, 1e-6, "relu") == 0.0


@pytest.mark.parametrize("w", [0.5, 2.0, -1.5, 1.0, -1.0])
def test_linear_chain_gradient_is_exactly_w_to_the_n(w):
    for n in (1, 7, 30):  # 1.5^30 = 3^30 / 2^30 is still exact in float64
        r = chain_forward_backward(n, w, "linear", x0=1.0, bias=0.0)
        assert r.gradient == w**n
        assert r.a[-1] == w**n
        assert r.grad_wrt.tolist() == [w ** (n - k) for k in range(n + 1)]


def test_sigmoid_chain_vanishes_at_weight_one():
    # Every factor is at most 1/4 when w = 1: 20 units give at most 4^-20.
    r = chain_forward_backward(20, 1.0, "sigmoid")
    assert 0 < r.gradient <= 0.25**20


def test_factor_products():
    np.testing.assert_array_equal(factor_products(-2.0, 5), [-2.0, 4.0, -8.0, 16.0, -32.0])
    np.testing.assert_array_equal(factor_products(0.0, 3), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(factor_products(1, 4), [1.0, 1.0, 1.0, 1.0])
    p = factor_products(0.9, 50)
    assert p.shape == (50,)
    np.testing.assert_allclose(p, 0.9 ** np.arange(1, 51), rtol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = factor_products(1e10, 40)
        small = factor_products(1e-10, 40)
    assert big[-1] == math.inf and np.all(np.isfinite(big[:30]))
    assert small[-1] == 0.0 and small[0] == 1e-10


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
@pytest.mark.parametrize("w", [0.0, 20.0, -20.0, 1e300, -1e300])
def test_extreme_weights_are_silent(name, w):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = chain_forward_backward(50, w, name, x0=1.0, bias=0.0)
        chain_bound_curve(50, w, name)
    assert r.grad_wrt.shape == (51,)
    assert r.grad_wrt[-1] == 1.0
    if w == 0.0:
        assert r.gradient == 0.0


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "3", None])
def test_bad_unit_count(bad):
    with pytest.raises(ValueError, match=r"n_units must be an integer >= 1, got"):
        chain_forward_backward(bad, 1.0, "sigmoid")
    with pytest.raises(ValueError, match=r"n_units must be an integer >= 1"):
        chain_bound(bad, 1.0, "tanh")
    with pytest.raises(ValueError, match=r"n_factors must be an integer >= 1"):
        factor_products(0.5, bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", None, 10**400])
def test_bad_real_arguments(bad):
    with pytest.raises(ValueError, match=r"weight must be a finite number, got"):
        chain_forward_backward(3, bad, "sigmoid")
    with pytest.raises(ValueError, match=r"x0 must be a finite number"):
        chain_forward_backward(3, 1.0, "sigmoid", x0=bad)
    with pytest.raises(ValueError, match=r"bias must be a finite number"):
        chain_forward_backward(3, 1.0, "sigmoid", bias=bad)
    with pytest.raises(ValueError, match=r"factor must be a finite number"):
        factor_products(bad, 3)


def test_the_activation_is_always_named():
    """No function of the package picks an activation for you."""
    with pytest.raises(TypeError, match="activation"):
        chain_forward_backward(3, 1.0)


def test_unknown_activation_in_chain():
    with pytest.raises(ValueError, match="choose one of: sigmoid, tanh, relu, leaky_relu, linear"):
        chain_forward_backward(3, 1.0, "gelu")
