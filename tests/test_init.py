"""Initialisations against the property that defines each one: variances in closed
form, signal second moments kept (or halved) through 30 layers, orthogonality of
long products, the identity; reproducibility and the network's use of them."""
import math

import numpy as np
import pytest

from helpers.init import (
    INITS,
    he_normal,
    he_std,
    identity,
    naive_normal,
    orthogonal,
    xavier_normal,
    xavier_std,
)
from helpers.network import NetConfig, init_params
from helpers.recurrent import scaled_orthogonal

WIDTH, LAYERS = 512, 30


def relu(z):
    return np.maximum(z, 0.0)


def second_moments(init, activation, seed=0, batch=64, input_scale=1.0, **kwargs):
    """(LAYERS + 1,) mean of h_l^2 through LAYERS square layers of WIDTH units."""
    rng = np.random.default_rng(seed)
    h = input_scale * rng.standard_normal((batch, WIDTH))
    moments = [np.mean(h**2)]
    for _ in range(LAYERS):
        h = activation(h @ init(WIDTH, WIDTH, rng, **kwargs).T)
        moments.append(np.mean(h**2))
    return np.array(moments)


def per_layer_ratio(moments):
    """Geometric mean of the layer-to-layer ratios of the second moment."""
    return (moments[-1] / moments[0]) ** (1.0 / (len(moments) - 1))


@pytest.mark.parametrize("init, variance", [
    (lambda o, i, rng: naive_normal(o, i, rng, scale=0.3), lambda o, i: 0.09),
    (xavier_normal, lambda o, i: 2.0 / (o + i)),
    (he_normal, lambda o, i: 2.0 / i),
    (lambda o, i, rng: he_normal(o, i, rng, gain=3.0), lambda o, i: 9 * 2.0 / i),
])
@pytest.mark.parametrize("fan_out, fan_in", [(300, 100), (100, 400)])
def test_gaussian_variances_match_their_closed_forms(init, variance, fan_out, fan_in):
    w = init(fan_out, fan_in, np.random.default_rng(1))
    assert w.shape == (fan_out, fan_in) and w.dtype == np.float64
    # 30,000+ draws: the sample variance is within ~1% (2% is > 2 standard errors).
    assert w.var() == pytest.approx(variance(fan_out, fan_in), rel=0.03)
    assert abs(w.mean()) < 0.02 * math.sqrt(variance(fan_out, fan_in))


def test_std_functions_are_the_ones_the_draws_use():
    assert xavier_std(300, 100, gain=2.0) == 2.0 * math.sqrt(2.0 / 400)
    assert he_std(300, 100) == math.sqrt(2.0 / 100)
    a = he_normal(7, 5, np.random.default_rng(3), gain=1.5)
    b = np.random.default_rng(3).standard_normal((7, 5)) * he_std(7, 5, 1.5)
    assert np.array_equal(a, b)


def test_he_keeps_the_relu_second_moment_through_30_layers():
    moments = second_moments(he_normal, relu)
    # Each layer multiplies the second moment by 2/n * n * 1/2 = 1 on average;
    # the ~10% per-layer noise of a width-512 draw makes a random walk in log
    # space, so over 30 layers the spread is a factor ~2 (allow 3).
    assert moments.max() / moments.min() < 3.0, moments
    assert per_layer_ratio(moments) == pytest.approx(1.0, rel=0.1)


def test_variance_one_over_n_halves_the_relu_second_moment_per_layer():
    moments = second_moments(naive_normal, relu, scale=1 / math.sqrt(WIDTH))
    assert per_layer_ratio(moments) == pytest.approx(0.5, rel=0.1)
    # Halving 30 times: about 1e-9 of the input's second moment, far beyond noise.
    assert moments[-1] / moments[0] < 1e-7
    ratios = moments[1:] / moments[:-1]
    assert np.all((ratios > 0.3) & (ratios < 0.75)), ratios  # no layer escapes the trend


def test_xavier_keeps_the_variance_of_linear_signals():
    moments = second_moments(xavier_normal, lambda z: z)
    # Square layers: Var(W) = 2 / (n + n) = 1/n, exactly the variance-keeping value.
    assert moments.max() / moments.min() < 1.5, moments
    assert per_layer_ratio(moments) == pytest.approx(1.0, rel=0.02)


def test_xavier_keeps_the_variance_of_tanh_signals_near_zero():
    # Near 0 tanh has slope 1, so Xavier keeps the variance there; tanh's
    # curvature only erodes it slowly (q -> q - 2q^2 per layer: 1/q grows by 2,
    # so q_30 ~ q_0 / (1 + 60 q_0) = 0.625 q_0 for q_0 = 0.01).
    xavier = second_moments(xavier_normal, np.tanh, input_scale=0.1)
    assert 0.5 < xavier[-1] / xavier[0] < 1.0
    assert xavier[-1] / xavier[0] == pytest.approx(1 / (1 + 60 * xavier[0]), rel=0.15)
    # The naive N(0, 1) init blows the same signal up to saturation instead.
    naive = second_moments(naive_normal, np.tanh, input_scale=0.1)
    assert naive[-1] / naive[0] > 50


@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_product_of_20_orthogonal_matrices_keeps_every_singular_value(gain):
    rng = np.random.default_rng(2)
    product = np.eye(64)
    for _ in range(20):
        product = orthogonal(64, 64, rng, gain=gain) @ product
    singular_values = np.linalg.svd(product, compute_uv=False)
    np.testing.assert_allclose(singular_values, gain**20, rtol=1e-10)
    # A Gaussian matrix of the same scale spreads them by orders of magnitude.
    gaussian = np.eye(64)
    for _ in range(20):
        gaussian = naive_normal(64, 64, rng, scale=1 / 8) @ gaussian
    sv = np.linalg.svd(gaussian, compute_uv=False)
    assert sv.max() / sv.min() > 1e6


@pytest.mark.parametrize("fan_out, fan_in", [(50, 20), (20, 50), (1, 7)])
def test_rectangular_orthogonal_has_orthonormal_columns_or_rows(fan_out, fan_in):
    w = orthogonal(fan_out, fan_in, np.random.default_rng(4), gain=2.0)
    assert w.shape == (fan_out, fan_in)
    gram = w.T @ w if fan_out >= fan_in else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(fan_out, fan_in)), atol=1e-12)


def test_square_orthogonal_is_the_recurrent_module_draw():
    # Same generator state, same matrix: one Haar construction in the course.
    a = orthogonal(16, 16, np.random.default_rng(9), gain=1.3)
    b = scaled_orthogonal(16, 1.3, np.random.default_rng(9))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-15)


def test_identity_is_the_identity_and_square_only():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert np.array_equal(identity(5, 5, rng), np.eye(5))
    assert np.array_equal(identity(3, 3, rng, gain=0.5), 0.5 * np.eye(3))
    assert rng.bit_generator.state == state  # draws nothing
    with pytest.raises(ValueError, match=r"identity needs a square matrix .* got fan_out=4, fan_in=3"):
        identity(4, 3, rng)


@pytest.mark.parametrize("name", sorted(INITS))
def test_seeded_reproducibility(name):
    init = INITS[name]
    a = init(6, 6, np.random.default_rng(11))
    b = init(6, 6, np.random.default_rng(11))
    assert np.array_equal(a, b) and a.dtype == np.float64 and a.shape == (6, 6)
    if name != "identity":
        assert not np.array_equal(a, init(6, 6, np.random.default_rng(12)))


@pytest.mark.parametrize("config_init, function", [("normal", naive_normal), ("xavier", xavier_normal),
                                                   ("he", he_normal)])
def test_network_init_draws_what_the_init_functions_draw(config_init, function):
    config = NetConfig(depth=3, width=9, n_in=4, n_out=2, init=config_init, weight_scale=1.7)
    params = init_params(config, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    sizes = config.layer_sizes()
    for (w, _), fan_in, fan_out in zip(params, sizes[:-1], sizes[1:]):
        assert np.array_equal(w, function(fan_out, fan_in, rng, gain=1.7))


@pytest.mark.parametrize("call, message", [
    (lambda: he_normal(0, 3, np.random.default_rng(0)), r"fan_out must be an integer >= 1, got 0"),
    (lambda: xavier_normal(3, 2.5, np.random.default_rng(0)), r"fan_in must be an integer >= 1, got 2.5"),
    (lambda: orthogonal(3, 3, 0), r"rng must be a np.random.Generator"),
    (lambda: naive_normal(3, 3, np.random.default_rng(0), gain=-1), r"gain must be a finite number >= 0, got -1"),
    (lambda: naive_normal(3, 3, np.random.default_rng(0), scale=math.nan),
     r"scale must be a finite number >= 0, got nan"),
    (lambda: he_std(3, True), r"fan_in must be an integer >= 1, got True"),
])
def test_bad_arguments_say_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()
