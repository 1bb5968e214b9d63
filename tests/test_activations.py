"""Activations against torch autograd, finite differences and closed forms."""
import warnings

import numpy as np
import pytest
import torch

from helpers.activations import (
    ACTIVATION_NAMES,
    LEAKY_SLOPE,
    Activation,
    get_activation,
    inactive,
    inactive_fraction,
    saturated,
    saturation_fraction,
    sigmoid,
    sigmoid_prime,
    tanh_prime,
)

# Random points plus the kink at 0 and a few saturated values.
Z = np.concatenate([np.random.default_rng(0).normal(0, 4, 200), [0.0, -30.0, 30.0, -1e-3, 1e-3]])


def torch_value_and_grad(act: Activation, z: np.ndarray):
    t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    out = act.torch_f(t)
    (grad,) = torch.autograd.grad(out.sum(), t)
    return out.detach().numpy(), grad.numpy()


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_f_and_derivative_match_torch_autograd(name):
    act = get_activation(name)
    f_torch, df_torch = torch_value_and_grad(act, Z)
    np.testing.assert_allclose(act.f(Z), f_torch, rtol=1e-12, atol=1e-300)
    # torch's backward uses s * (1 - s) and 1 - t^2, which carry an absolute
    # error of about 1e-16 (not a relative one) once saturated: hence atol.
    np.testing.assert_allclose(act.df(Z), df_torch, rtol=1e-12, atol=1e-15)


def test_saturated_derivatives_keep_relative_precision():
    # 1 / (4 cosh^2(z/2)) and 1 / cosh^2(z) are exact alternative forms with
    # no cancellation (for |z| below where cosh overflows).
    z = np.array([-600.0, -300.0, -40.0, -12.5, 17.0, 35.0, 300.0])
    np.testing.assert_allclose(sigmoid_prime(z), 0.25 / np.cosh(z / 2) ** 2, rtol=1e-12)
    z = z[np.abs(z) <= 300]
    np.testing.assert_allclose(tanh_prime(z), 1.0 / np.cosh(z) ** 2, rtol=1e-12)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_derivative_matches_central_differences(name):
    act = get_activation(name)
    z = Z[np.abs(Z) > 1e-2]  # keep +-h away from the relu kink
    h = 1e-6
    numeric = (act.f(z + h) - act.f(z - h)) / (2 * h)
    np.testing.assert_allclose(act.df(z), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_max_slope_is_the_supremum_of_the_derivative(name):
    act = get_activation(name)
    grid = np.linspace(-20, 20, 40001)  # contains 0 and points just above it
    slopes = np.abs(act.df(grid))
    assert slopes.max() <= act.max_slope
    assert slopes.max() == pytest.approx(act.max_slope, rel=1e-6)


# Both signs of 1e-12..1e-3 and 0 itself: where e / (1 + e)^2 rounds to an ulp above 1/4
# (about one point in ten of this grid without the clip).
NEAR_ZERO = np.concatenate([-np.logspace(-12, -3, 2001), [0.0], np.logspace(-12, -3, 2001)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_and_tanh_slopes_never_exceed_their_maxima(dtype):
    z = NEAR_ZERO.astype(dtype)
    assert sigmoid_prime(z).max() == 0.25 and tanh_prime(z).max() == 1.0
    assert sigmoid_prime(z).dtype == np.float64
    assert sigmoid_prime(dtype(0.0)) == 0.25 and tanh_prime(dtype(0.0)) == 1.0
    for x in (1e-9, 3e-9, dtype(1e-9), dtype(3e-9)):  # scalars, including the two that rounded up
        assert sigmoid_prime(x) <= 0.25 and tanh_prime(x) <= 1.0
    # The clip is where the exact value sits: 1/4 - z^2/16 and 1 - z^2 round to the maximum.
    np.testing.assert_allclose(sigmoid_prime(z), 0.25 / np.cosh(z.astype(np.float64) / 2) ** 2, rtol=1e-15)
    np.testing.assert_allclose(tanh_prime(z), 1.0 / np.cosh(z.astype(np.float64)) ** 2, rtol=1e-15)
    act = get_activation("sigmoid")
    assert act.f_and_df(z.astype(np.float64))[1].max() == 0.25  # the forward pass's copy too
    assert np.isnan(sigmoid_prime(np.nan)) and np.isnan(tanh_prime(np.nan))


def test_closed_forms_of_sigmoid_and_tanh():
    assert sigmoid_prime(0.0) == 0.25  # the maximum, hence the 1/4 per layer
    assert tanh_prime(0.0) == 1.0
    grid = np.linspace(-10, 10, 2001)
    assert np.all(tanh_prime(grid) <= 1.0)
    s = 1.0 / (1.0 + np.exp(-grid))  # the textbook formula is fine here
    np.testing.assert_allclose(sigmoid(grid), s, rtol=1e-14)
    np.testing.assert_allclose(sigmoid_prime(grid), s * (1 - s), rtol=1e-10)
    np.testing.assert_allclose(tanh_prime(grid), 1 - np.tanh(grid) ** 2, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(sigmoid(-grid), 1 - sigmoid(grid), atol=1e-15)


def test_leaky_relu_slope_and_kink_convention():
    act = get_activation("leaky_relu")
    assert act.df(np.array([-3.0, 0.0, 2.0])).tolist() == [LEAKY_SLOPE, LEAKY_SLOPE, 1.0]
    assert act.f(-3.0) == pytest.approx(-3.0 * LEAKY_SLOPE)
    assert get_activation("relu").df(0.0) == 0.0


def test_sigmoid_extremes_are_exact_and_silent():
    z = np.array([-np.inf, -1000.0, 1000.0, np.inf])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sigmoid(z).tolist() == [0.0, 0.0, 1.0, 1.0]
        assert sigmoid_prime(z).tolist() == [0.0, 0.0, 0.0, 0.0]
        # Far in the tail the result is tiny but not rounded to 0.
        assert sigmoid(-700.0) == pytest.approx(np.exp(-700.0), rel=1e-12)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_value_and_slope_together_equal_f_and_df_bit_for_bit(name):
    act = get_activation(name)
    z = np.concatenate([np.linspace(-40, 40, 802), [-np.inf, -1e308, -800.0, 0.0, 800.0, 1e308, np.inf, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, slope = act.f_and_df(z.reshape(3, -1))
    np.testing.assert_array_equal(value.ravel(), act.f(z))
    np.testing.assert_array_equal(slope.ravel(), act.df(z))


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_extremes_and_nan_never_warn(name):
    act = get_activation(name)
    z = np.array([-np.inf, -1e308, -1000.0, 0.0, 1000.0, 1e308, np.inf, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f, df = act.f(z), act.df(z)
    assert np.isnan(f[-1]) and np.isnan(df[-1])  # NaN propagates
    assert not np.isnan(f[:-1]).any()
    assert not np.isnan(df[:-1]).any()
    assert np.all(np.abs(df[:-1]) <= act.max_slope)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_shapes_and_scalars(name):
    act = get_activation(name)
    z = np.zeros((3, 4, 5))
    assert act.f(z).shape == z.shape and act.df(z).shape == z.shape
    assert np.ndim(act.f(0.5)) == 0 and np.ndim(act.df(0.5)) == 0
    assert act.f([1.0, 2.0]).dtype == np.float64


def test_get_activation_names_and_instances():
    assert ACTIVATION_NAMES == ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
    for name in ACTIVATION_NAMES:
        assert get_activation(name).name == name
    act = get_activation("tanh")
    assert get_activation(act) is act
    assert get_activation("ReLU").name == "relu"
    assert get_activation("sigmoid").max_slope == 0.25


@pytest.mark.parametrize("bad", ["foo", "", None, 3])
def test_unknown_activation_lists_the_allowed_names(bad):
    with pytest.raises(ValueError) as info:
        get_activation(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert all(name in message for name in ACTIVATION_NAMES)


def test_saturated_closed_cases():
    z = np.array([-10.0, -1.0, 0.0, 1.0, 10.0])
    assert saturated(z, "sigmoid").tolist() == [True, False, False, False, True]
    # Straight pieces never flatten out: relu's z <= 0 side is inactive, not saturated.
    for name in ("relu", "leaky_relu", "linear"):
        assert not saturated(z, name).any()
    assert saturated(np.array([3.0]), "tanh", tol=0.1)[0]  # tanh'(3) ~ 0.0099
    assert not saturated(np.array([3.0]), "tanh", tol=0.005)[0]


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_saturation_fraction_counts_independently(name):
    z = np.random.default_rng(1).normal(0, 5, (50, 20))
    act = get_activation(name)
    # Independent count with torch's derivative instead of ours; only sigmoid and tanh flatten out.
    _, df = torch_value_and_grad(act, z.ravel())
    expected = np.count_nonzero(np.abs(df) < 0.1 * act.max_slope) / z.size if name in ("sigmoid", "tanh") else 0.0
    assert saturation_fraction(z, name) == pytest.approx(expected)
    assert isinstance(saturation_fraction(z, name), float)


def test_saturation_bad_arguments():
    with pytest.raises(ValueError, match=r"tol must be a finite number >= 0, got -0\.1"):
        saturated(np.zeros(3), "tanh", tol=-0.1)
    with pytest.raises(ValueError, match="tol must be"):
        saturated(np.zeros(3), "tanh", tol=float("nan"))
    with pytest.raises(ValueError, match="empty"):
        saturation_fraction(np.array([]), "tanh")
    with pytest.raises(ValueError, match="choose one of"):
        saturated(np.zeros(3), "softmax")


def test_inactive_is_relus_flat_side_and_nothing_else():
    z = np.array([-1e300, -10.0, -1e-12, 0.0, 1e-12, 10.0, np.nan])
    assert inactive(z, "relu").tolist() == [True, True, True, True, False, False, False]  # relu'(0) = 0, as torch
    for name in ("sigmoid", "tanh", "leaky_relu", "linear"):
        assert not inactive(z, name).any(), name
    # A sigmoid far in its tail has a slope of exactly 0 in float64: saturated, not inactive.
    assert sigmoid_prime(-1000.0) == 0.0
    assert saturated(-1000.0, "sigmoid") and not inactive(-1000.0, "sigmoid")
    assert np.ndim(inactive(-1.0, "relu")) == 0 and np.ndim(saturated(-1.0, "relu")) == 0


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_a_unit_is_never_both_saturated_and_inactive(name):
    z = np.random.default_rng(2).normal(0, 20, 5000)
    both = saturated(z, name) & inactive(z, name)
    assert not both.any()


def test_inactive_fraction_counts_torchs_exact_zeros():
    z = np.random.default_rng(3).normal(0, 1, (40, 25))
    _, df = torch_value_and_grad(get_activation("relu"), z.ravel())
    assert inactive_fraction(z, "relu") == pytest.approx(np.count_nonzero(df == 0) / z.size)
    assert 0.4 < inactive_fraction(z, "relu") < 0.6 and inactive_fraction(z, "leaky_relu") == 0.0
    with pytest.raises(ValueError, match="empty"):
        inactive_fraction(np.array([]), "relu")
    with pytest.raises(ValueError, match="choose one of"):
        inactive(np.zeros(3), "softmax")
