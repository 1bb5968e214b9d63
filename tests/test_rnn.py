"""The vanilla RNN: hand-written BPTT against torch autograd and finite
differences, Jacobian norms against autograd Jacobians and closed forms, the
Pascanu bound, the recurrent matrices, extremes, and the torch training models."""
import math
import time
import warnings

import numpy as np
import pytest
import torch

from helpers.gradcheck import norm, numerical_gradient, rel_error
from helpers.recurrent import largest_singular_value, scaled_gaussian, scaled_orthogonal, spectral_radius
from helpers.rnn import (
    RECURRENT_INITS,
    RNNCache,
    RNNClassifier,
    RNNGrads,
    RNNParams,
    RNNRegressor,
    ReLURNNRegressor,
    init_rnn,
    jacobian_norms,
    jacobian_singular_values,
    output_loss,
    pascanu_bound,
    rnn_bptt,
    rnn_forward,
    rnn_loss,
    rnn_params_of,
    scalar_bptt,
    state_gradient_norms,
    to_torch_rnn,
    torch_rnn_grads,
)
from helpers.tasks import make_adding_task, make_tense_task
from helpers.training import train

GRAD_FIELDS = ("dh", "dW_h", "dW_x", "db", "dW_y", "dc")


def make_problem(T, loss, hidden=5, n_in=3, batch=3, seed=0, radius=1.1, recurrent="gaussian"):
    """Random params (with non-zero biases), inputs, h0 and targets for `loss`."""
    rng = np.random.default_rng(seed)
    n_out = 4 if loss == "ce" else 2
    params = init_rnn(hidden, n_in, n_out, rng, recurrent=recurrent, radius=radius)
    params.b = 0.3 * rng.standard_normal(hidden)
    params.c = 0.3 * rng.standard_normal(n_out)
    xs = rng.standard_normal((batch, T, n_in))
    h0 = 0.5 * rng.standard_normal((batch, hidden))
    targets = rng.integers(0, n_out, batch) if loss == "ce" else rng.standard_normal((batch, n_out))
    return params, xs, h0, targets


def torch_jacobian(params, xs, h0, activation, k, which=0):
    """dh_T/dh_k (H, H) for batch row `which`, by autograd from h_k onwards."""
    f = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu, "linear": lambda t: t}[activation]
    W_h, W_x, b = (torch.from_numpy(a) for a in (params.W_h, params.W_x, params.b))
    x = torch.from_numpy(xs[which])  # (T, D)
    h = torch.from_numpy(h0[which])
    for t in range(k):  # the states before h_k are plain numbers here
        h = f(W_h @ h + W_x @ x[t] + b)

    def from_k(h_k):
        for t in range(k, x.shape[0]):
            h_k = f(W_h @ h_k + W_x @ x[t] + b)
        return h_k

    return torch.autograd.functional.jacobian(from_k, h.detach().clone()).numpy()


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear"])
@pytest.mark.parametrize("T", [1, 5, 50])
@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_bptt_equals_torch_autograd(activation, T, loss):
    params, xs, h0, targets = make_problem(T, loss, seed=T)
    cache = rnn_forward(params, xs, activation, h0)
    result = output_loss(cache.out, targets, loss)
    grads = rnn_bptt(params, cache, result.dout, activation=activation)
    ref = torch_rnn_grads(to_torch_rnn(params, activation), xs, targets, loss=loss, h0=h0)
    assert isinstance(cache, RNNCache) and isinstance(grads, RNNGrads)
    assert grads.dh.shape == (3, T + 1, 5)
    assert result.value == pytest.approx(rnn_loss(params, xs, targets, loss, activation=activation, h0=h0), rel=1e-14)
    for name in GRAD_FIELDS:
        assert rel_error(getattr(grads, name), getattr(ref, name)) < 1e-10, name
    # The gradient must reach every step: a loop that stopped early would leave zeros.
    assert np.all(np.abs(grads.dh).sum(axis=(0, 2)) > 0)


@pytest.mark.parametrize("activation, loss", [("tanh", "ce"), ("sigmoid", "mse")])
def test_bptt_equals_finite_differences(activation, loss):
    # T = 4: with sigmoid over many more steps dL/dh_0 shrinks to ~1e-7, below
    # what central differences resolve against a loss of size ~1.
    params, xs, h0, targets = make_problem(4, loss, seed=3)
    cache = rnn_forward(params, xs, activation, h0)
    grads = rnn_bptt(params, cache, output_loss(cache.out, targets, loss).dout)

    def loss_of(_):  # reads params and h0, which numerical_gradient nudges in place
        return rnn_loss(params, xs, targets, loss=loss, activation=activation, h0=h0)

    # A few entries each (views nudge the arrays themselves).
    checks = [(params.W_h[:2, :3], grads.dW_h[:2, :3]), (params.W_x[:2], grads.dW_x[:2]),
              (params.b[:3], grads.db[:3]), (h0[:2], grads.dh[:2, 0])]
    for entries, analytic in checks:
        numeric = numerical_gradient(loss_of, entries)
        # Rounding in the differences leaves ~1e-10 absolute error on entries ~1e-4.
        assert rel_error(analytic, numeric) < 1e-5


def test_forward_shapes_and_a_hand_computed_step():
    params = RNNParams(W_h=np.array([[0.5]]), W_x=np.array([[2.0]]), b=np.array([0.1]),
                       W_y=np.array([[3.0]]), c=np.array([-1.0]))
    xs = np.array([[[1.0], [-1.0]]])  # batch 1, T = 2, one input
    cache = rnn_forward(params, xs, "linear", h0=np.array([4.0]))
    # h1 = 0.5*4 + 2*1 + 0.1 = 4.1; h2 = 0.5*4.1 - 2 + 0.1 = 0.15; out = 3*0.15 - 1
    np.testing.assert_allclose(cache.hs[0, :, 0], [4.0, 4.1, 0.15], rtol=1e-15)
    np.testing.assert_allclose(cache.out, [[-0.55]], rtol=1e-14)
    assert cache.zs.shape == (1, 2, 1) and cache.T == 2
    # mse is the mean squared error, (out - y)^2 = 1, as torch's mse_loss; its
    # gradient at the readout: 2 (out - y) h2.
    result = output_loss(cache.out, np.array([0.45]), "mse")
    grads = rnn_bptt(params, cache, result.dout)
    assert result.value == pytest.approx(1.0, rel=1e-14)
    assert result.value == pytest.approx(torch.nn.functional.mse_loss(torch.tensor([-0.55]), torch.tensor([0.45])).item())
    assert grads.dW_y[0, 0] == pytest.approx(2 * -1.0 * 0.15, rel=1e-13)
    # dL/dh_0 = 2 (out - y) * W_y * 0.5 * 0.5 through two linear steps.
    assert grads.dh[0, 0, 0] == pytest.approx(2 * -1.0 * 3.0 * 0.25, rel=1e-13)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_jacobian_norms_equal_autograd_jacobians(activation):
    params, xs, h0, _ = make_problem(6, "ce", hidden=4, seed=7, radius=1.3)
    cache = rnn_forward(params, xs, activation, h0)
    norms = jacobian_norms(params, cache, which=1)
    assert norms.shape == (7,)
    expected = [np.linalg.norm(torch_jacobian(params, xs, h0, activation, k, which=1), 2) for k in range(6)]
    np.testing.assert_allclose(norms[:6], expected, rtol=1e-10)
    assert norms[6] == 1.0  # dh_T/dh_T is the identity


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "leaky_relu", "linear"])
@pytest.mark.parametrize("recurrent", RECURRENT_INITS)
@pytest.mark.parametrize("radius", [0.5, 1.0, 3.0])
def test_measured_norms_never_exceed_the_pascanu_bound(activation, recurrent, radius):
    params, xs, h0, _ = make_problem(30, "ce", hidden=8, seed=11, radius=radius, recurrent=recurrent)
    cache = rnn_forward(params, xs, activation, h0)
    norms = jacobian_norms(params, cache)
    bound = pascanu_bound(params.W_h, activation, 30)
    assert bound.shape == (31,)
    assert np.all(norms <= bound * (1 + 1e-12))


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear"])
def test_jacobian_singular_values_equal_autograd_jacobians(activation):
    params, xs, h0, _ = make_problem(6, "ce", hidden=4, seed=7, radius=1.3)
    cache = rnn_forward(params, xs, activation, h0)
    sv = jacobian_singular_values(params, cache, which=1)
    assert sv.shape == (7, 4)
    expected = [np.linalg.svd(torch_jacobian(params, xs, h0, activation, k, which=1), compute_uv=False)
                for k in range(6)]
    np.testing.assert_allclose(sv[:6], expected, rtol=1e-9, atol=1e-14)
    assert np.array_equal(sv[6], np.ones(4))  # dh_T/dh_T is the identity
    np.testing.assert_allclose(sv[:, 0], jacobian_norms(params, cache, which=1), rtol=1e-12)
    assert np.all(np.diff(sv, axis=1) <= 0)  # largest first


def test_jacobian_singular_values_survive_products_beyond_float64():
    xs = np.zeros((1, 400, 1))
    for rho, expected in ((10.0, np.inf), (0.01, 0.0)):
        params = init_rnn(3, 1, 1, np.random.default_rng(0), recurrent="orthogonal", radius=rho)
        sv = jacobian_singular_values(params, rnn_forward(params, xs, "linear"))
        np.testing.assert_allclose(sv[390], rho ** 10, rtol=1e-9)  # every singular value rho^(T-k)
        assert np.all(sv[0] == expected)
    params.W_h[0, 0] = np.nan
    sv = jacobian_singular_values(params, rnn_forward(params, np.ones((1, 4, 1)), "tanh"))
    assert np.all(np.isnan(sv[:-1])) and np.array_equal(sv[-1], np.ones(3))


@pytest.mark.parametrize("radius", [0.0, 0.5, 1.0, 2.5])
def test_identity_init_is_radius_times_I_exactly(radius):
    params = init_rnn(7, 3, 2, np.random.default_rng(4), recurrent="identity", radius=radius)
    assert np.array_equal(params.W_h, radius * np.eye(7))
    if radius == 1.0:
        assert np.array_equal(params.W_h, np.eye(7))
    # Only W_h depends on the choice: the same rng gives the same input and readout weights.
    other = init_rnn(7, 3, 2, np.random.default_rng(4), recurrent="orthogonal", radius=radius)
    assert np.array_equal(params.W_x, other.W_x) and np.array_equal(params.W_y, other.W_y)
    assert not params.b.any() and not params.c.any()
    model = RNNRegressor(3, 7, radius=radius, recurrent="identity", rng=np.random.default_rng(4))
    assert torch.equal(model.rnn.weight_hh_l0, torch.eye(7) * radius)


def test_identity_products_of_jacobians_keep_every_singular_value_at_exactly_1_or_0():
    """With W_h = I each Jacobian is diag(f'(z_t)): for linear units the product is exactly I; for ReLU
    units a diagonal of 0s and 1s, 1 where the unit was active at every step in between."""
    params = init_rnn(16, 3, 1, np.random.default_rng(0), recurrent="identity", radius=1.0)
    xs = np.random.default_rng(1).standard_normal((1, 40, 3))
    assert np.all(jacobian_singular_values(params, rnn_forward(params, xs, "linear")) == 1.0)
    cache = rnn_forward(params, xs, "relu")
    sv = jacobian_singular_values(params, cache)
    active = cache.zs[0] > 0  # (T, H)
    counts = []
    for k in range(41):
        survivors = int(np.all(active[k:], axis=0).sum())  # active at steps k+1..T
        assert np.array_equal(sv[k], np.r_[np.ones(survivors), np.zeros(16 - survivors)])
        counts.append(survivors)
    assert any(0 < c < 16 for c in counts)  # the check saw both kinds of unit


@pytest.mark.parametrize("rho", [0.5, 1.0, 1.5])
def test_linear_rnn_with_scaled_orthogonal_weights_meets_the_bound(rho):
    T = 40
    params = init_rnn(6, 2, 1, np.random.default_rng(2), recurrent="orthogonal", radius=rho)
    xs = np.random.default_rng(3).standard_normal((2, T, 2))
    norms = jacobian_norms(params, rnn_forward(params, xs, "linear"), "linear")
    # (rho Q)^(T-k) is rho^(T-k) times an orthogonal matrix.
    closed_form = rho ** np.arange(T, -1, -1.0)
    np.testing.assert_allclose(norms, closed_form, rtol=1e-10)
    np.testing.assert_allclose(pascanu_bound(params.W_h, "linear", T), closed_form, rtol=1e-10)


@pytest.mark.parametrize("w", [0.5, 1.5])
def test_the_lectures_scalar_example(w):
    T = 30
    closed_form = w ** np.arange(T, -1, -1.0)  # |dh_T/dh_k| = w^(T-k)
    np.testing.assert_allclose(scalar_bptt(w, T, "linear"), closed_form, rtol=1e-13)
    params = RNNParams(W_h=np.array([[w]]), W_x=np.array([[0.3]]), b=np.zeros(1),
                       W_y=np.ones((1, 1)), c=np.zeros(1))
    xs = np.random.default_rng(0).standard_normal((1, T, 1))
    np.testing.assert_allclose(jacobian_norms(params, rnn_forward(params, xs, "linear")), closed_form, rtol=1e-13)
    assert scalar_bptt(-w, T, "linear")[0] == pytest.approx(w**T, rel=1e-13)  # the size, whatever the sign


def test_scalar_bptt_agrees_with_a_one_unit_rnn():
    # Two code paths (the scalar chain and the matrix RNN) for h_t = tanh(w h_{t-1}).
    w, T, x0 = 1.7, 12, 0.8
    params = RNNParams(W_h=np.array([[w]]), W_x=np.zeros((1, 1)), b=np.zeros(1),
                       W_y=np.ones((1, 1)), c=np.zeros(1))
    cache = rnn_forward(params, np.zeros((1, T, 1)), "tanh", h0=np.array([x0]))
    np.testing.assert_allclose(scalar_bptt(w, T, "tanh", x0=x0), jacobian_norms(params, cache), rtol=1e-12)


def test_pascanu_bound_closed_form():
    # s = 2 and max sigmoid' = 1/4: (2 * 1/4)^(T-k).
    np.testing.assert_allclose(pascanu_bound(np.diag([2.0, -0.5]), "sigmoid", 3), [0.125, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(pascanu_bound(np.zeros((2, 2)), "tanh", 2), [0.0, 0.0, 1.0])


def test_products_beyond_float64_range_become_inf_and_zero():
    # Zero inputs and h_0 = 0 keep the forward pass at 0, so f' = 1 and
    # dh_T/dh_k = (rho Q)^(T-k) exactly, far beyond what float64 can hold.
    T = 700
    for rho, k_checked in ((3.0, 700 - 600), (0.3, 700 - 500)):
        params = init_rnn(3, 1, 1, np.random.default_rng(0), radius=rho)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            norms = jacobian_norms(params, rnn_forward(params, np.zeros((1, T, 1)), "linear"))
        assert norms[0] == (math.inf if rho > 1 else 0.0)
        assert not np.any(np.isnan(norms))
        assert norms[k_checked] == pytest.approx(rho ** (T - k_checked), rel=1e-10)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "leaky_relu", "linear"])
def test_extremes_are_silent(activation):
    params = init_rnn(32, 3, 2, np.random.default_rng(0), recurrent="gaussian", radius=3.0, input_scale=5.0)
    xs = 10 * np.random.default_rng(1).standard_normal((2, 200, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache = rnn_forward(params, xs, activation)
        grads = rnn_bptt(params, cache, output_loss(cache.out, np.array([0, 1]), "ce").dout)
        norms = jacobian_norms(params, cache)
        bound = pascanu_bound(params.W_h, activation, 200)
        grads.norms()
    assert grads.dh.shape == (2, 201, 32) and norms.shape == bound.shape == (201,)
    assert not np.any(norms < 0)
    if activation == "sigmoid":
        assert norms[0] < 1e-30  # saturated units and slope <= 1/4: vanished
    if activation == "linear":
        assert norms[0] > 1e60  # nothing to stop 200 multiplications by ~3


def test_nonfinite_weights_give_nonfinite_norms_silently():
    params = init_rnn(3, 1, 1, np.random.default_rng(0))
    params.W_h[0, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norms = jacobian_norms(params, rnn_forward(params, np.ones((1, 4, 1)), "tanh"))
    assert norms[-1] == 1.0 and np.all(np.isnan(norms[:-1]))


def test_init_rnn_is_seeded_and_sets_the_recurrent_matrix():
    a = init_rnn(8, 3, 2, np.random.default_rng(5), recurrent="orthogonal", radius=0.9)
    b = init_rnn(8, 3, 2, np.random.default_rng(5), recurrent="orthogonal", radius=0.9)
    c = init_rnn(8, 3, 2, np.random.default_rng(6), recurrent="orthogonal", radius=0.9)
    for name in ("W_h", "W_x", "W_y"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
        assert not np.allclose(getattr(a, name), getattr(c, name))
    np.testing.assert_allclose(np.linalg.svd(a.W_h, compute_uv=False), 0.9, rtol=1e-12)
    g = init_rnn(8, 3, 2, np.random.default_rng(5), recurrent="gaussian", radius=0.9)
    assert np.max(np.abs(np.linalg.eigvals(g.W_h))) == pytest.approx(0.9, rel=1e-12)
    assert (a.W_x.shape, a.b.shape, a.W_y.shape, a.c.shape) == ((8, 3), (8,), (2, 8), (2,))
    assert not a.b.any() and not a.c.any()


@pytest.mark.parametrize("n, rho", [(1, 2.0), (7, 0.6), (30, 1.0)])
def test_scaled_orthogonal_has_all_singular_values_rho(n, rho):
    W = scaled_orthogonal(n, rho, np.random.default_rng(n))
    np.testing.assert_allclose(np.linalg.svd(W, compute_uv=False), rho, rtol=1e-12)
    np.testing.assert_allclose(W @ W.T, rho**2 * np.eye(n), atol=1e-12)
    assert largest_singular_value(W) == pytest.approx(rho, rel=1e-12)
    assert spectral_radius(W) == pytest.approx(rho, rel=1e-10)


@pytest.mark.parametrize("n, radius", [(1, 3.0), (10, 0.5), (40, 1.2)])
def test_scaled_gaussian_has_the_asked_spectral_radius(n, radius):
    W = scaled_gaussian(n, radius, np.random.default_rng(n))
    assert np.max(np.abs(np.linalg.eigvals(W))) == pytest.approx(radius, rel=1e-10)
    assert spectral_radius(W) == pytest.approx(radius, rel=1e-10)
    if n >= 10:  # not a normal matrix: it stretches some vector by more than its radius
        assert largest_singular_value(W) > 1.3 * radius


def test_recurrent_matrices_are_seeded():
    for make in (scaled_orthogonal, scaled_gaussian):
        assert np.array_equal(make(6, 1.0, np.random.default_rng(1)), make(6, 1.0, np.random.default_rng(1)))
        assert not np.allclose(make(6, 1.0, np.random.default_rng(1)), make(6, 1.0, np.random.default_rng(2)))


def test_singular_value_and_spectral_radius_closed_forms():
    W = np.array([[0.0, 4.0], [0.0, 0.0]])  # nilpotent: radius 0, stretches by 4
    assert spectral_radius(W) == 0.0
    assert largest_singular_value(W) == pytest.approx(4.0)
    rotation = np.array([[0.0, -2.0], [2.0, 0.0]])  # eigenvalues +-2i
    assert spectral_radius(rotation) == pytest.approx(2.0)


def test_forward_and_bptt_are_fast_enough_for_a_slider():
    params = init_rnn(32, 4, 2, np.random.default_rng(0), radius=1.0)
    xs = np.random.default_rng(1).standard_normal((1, 200, 4))
    dout = np.ones((1, 2))
    rnn_bptt(params, rnn_forward(params, xs, "tanh"), dout)
    times = []
    for _ in range(7):
        start = time.process_time()
        rnn_bptt(params, rnn_forward(params, xs, "tanh"), dout)
        times.append(time.process_time() - start)
    # A few ms on a laptop; the bound is loose so a busy machine passes.
    assert np.median(times) < 0.03


@pytest.mark.parametrize("call, message", [
    (lambda p, c: init_rnn(0, 1, 1, np.random.default_rng(0)), r"hidden must be an integer >= 1, got 0"),
    (lambda p, c: init_rnn(2, 1, 1, 0), r"rng must be a np.random.Generator"),
    (lambda p, c: init_rnn(2, 1, 1, np.random.default_rng(0), recurrent="eye"),
     r"recurrent must be one of \('orthogonal', 'gaussian', 'identity'\), got 'eye'"),
    (lambda p, c: init_rnn(2, 1, 1, np.random.default_rng(0), recurrent="Identity"),
     r"recurrent must be one of \('orthogonal', 'gaussian', 'identity'\), got 'Identity'"),
    (lambda p, c: init_rnn(2, 1, 1, np.random.default_rng(0), recurrent=None),
     r"recurrent must be one of .*, got None"),
    (lambda p, c: init_rnn(2, 1, 1, np.random.default_rng(0), recurrent="identity", radius=-0.5),
     r"radius must be a finite number >= 0, got -0.5"),
    (lambda p, c: init_rnn(2, 1, 1, np.random.default_rng(0), recurrent="identity", radius=math.nan),
     r"radius must be a finite number >= 0, got nan"),
    (lambda p, c: init_rnn(2, 1, 1, 0, recurrent="identity"), r"rng must be a np.random.Generator"),
    (lambda p, c: jacobian_singular_values(p, c, which=3), r"which must be an integer from 0 to 2, got 3"),
    (lambda p, c: jacobian_singular_values(p, c, activation="relu"),
     r"activation 'relu' differs from the forward pass's 'tanh'"),
    (lambda p, c: init_rnn(2, 1, 1, np.random.default_rng(0), radius=-1.0),
     r"radius must be a finite number >= 0, got -1.0"),
    (lambda p, c: rnn_forward(p, np.zeros((3, 2, 5)), "tanh"), r"xs must have shape \(batch, T, 3\)"),
    (lambda p, c: rnn_forward(p, np.zeros((3, 2, 3)), "swish"), r"choose one of: sigmoid, tanh"),
    (lambda p, c: rnn_forward(p, np.zeros((3, 2, 3)), "tanh", h0=np.zeros(4)), r"h0 must be None, shape \(5,\)"),
    (lambda p, c: output_loss(c.out, np.array([0, 4, 1]), "ce"), r"targets must be integer class indices .* values 0..3"),
    (lambda p, c: output_loss(c.out, np.array([0.5, 1, 1]), "ce"), r"targets must be integer class indices"),
    (lambda p, c: output_loss(c.out, np.zeros((3, 2)), "mse"), r"targets must have shape \(3, 4\)"),
    (lambda p, c: output_loss(c.out, np.array([0, 1, 1]), "l1"), r"loss must be one of \('mse', 'ce'\)"),
    (lambda p, c: output_loss(np.zeros(3), np.array([0, 1, 1]), "ce"), r"out must have shape \(batch, n_out\)"),
    (lambda p, c: rnn_bptt(p, c, np.zeros((3, 2))), r"dout \(dL/d out\) must have shape \(3, 4\)"),
    (lambda p, c: rnn_bptt(p, c, "ones"), r"dout must be an array of shape \(3, 4\)"),
    (lambda p, c: rnn_bptt(p, c, np.zeros((3, 4)), activation="relu"),
     r"activation 'relu' differs from the forward pass's 'tanh'"),
    (lambda p, c: jacobian_norms(p, c, which=3), r"which must be an integer from 0 to 2, got 3"),
    (lambda p, c: pascanu_bound(np.zeros((2, 3)), "tanh", 5), r"W_h must be a square 2-D array \(H, H\), got shape \(2, 3\)"),
    (lambda p, c: pascanu_bound(np.eye(2), "tanh", 0), r"T must be an integer >= 1, got 0"),
    (lambda p, c: scalar_bptt(math.inf, 5, "linear"), r"w must be a finite number, got inf"),
    (lambda p, c: RNNParams(np.eye(2), np.zeros((3, 1)), np.zeros(2), np.zeros((1, 2)), np.zeros(1)),
     r"shapes must be W_h \(H, H\), W_x \(H, D\)"),
    (lambda p, c: scaled_orthogonal(2.0, 1.0, np.random.default_rng(0)), r"n must be an integer >= 1, got 2.0"),
    (lambda p, c: spectral_radius(np.array([[np.inf]])), r"W must hold finite numbers only"),
])
def test_bad_arguments_say_what_is_allowed(call, message):
    params, xs, _, _ = make_problem(4, "ce")
    cache = rnn_forward(params, xs, "tanh")
    with pytest.raises(ValueError, match=message):
        call(params, cache)


def test_torch_models_are_seeded_and_shaped():
    a = RNNClassifier(7, 6, radius=0.8, rng=np.random.default_rng(3))
    b = RNNClassifier(7, 6, radius=0.8, rng=np.random.default_rng(3))
    c = RNNClassifier(7, 6, radius=0.8, rng=np.random.default_rng(4))
    assert torch.equal(a.rnn.weight_hh_l0, b.rnn.weight_hh_l0)
    assert not torch.allclose(a.rnn.weight_hh_l0, c.rnn.weight_hh_l0)
    # The same generator state gives the same model; the generator moves on.
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    d, e = RNNRegressor(2, 5, rng=g1), RNNRegressor(2, 5, rng=g2)
    assert torch.equal(d.rnn.weight_ih_l0, e.rnn.weight_ih_l0)
    assert not torch.equal(RNNRegressor(2, 5, rng=g1).rnn.weight_ih_l0, d.rnn.weight_ih_l0)
    singular = torch.linalg.svdvals(a.rnn.weight_hh_l0.detach().double()).numpy()
    np.testing.assert_allclose(singular, 0.8, rtol=1e-6)
    x = torch.zeros(4, 9, 7)
    assert a(x).shape == (4,) and d(torch.zeros(4, 9, 2)).shape == (4,)
    with pytest.raises(ValueError, match="rng must be a np.random.Generator"):
        RNNClassifier(3, 4, rng=0)


def test_classifier_learns_a_short_gap_with_train():
    rng = np.random.default_rng(0)
    data, held_out = make_tense_task(512, 1, rng), make_tense_task(256, 1, rng)
    model = RNNClassifier(data.vocab_size, 8, rng=np.random.default_rng(0))
    log = train(model, data.one_hot(), data.labels, loss="bce", optimizer="adam", lr=0.03,
                steps=60, batch_size=64, generator=torch.Generator().manual_seed(0), progress=False)
    with torch.no_grad():
        logits = model(torch.tensor(held_out.one_hot(), dtype=torch.float32))
    accuracy = np.mean((logits.numpy() > 0) == (held_out.labels == 1))
    assert log.loss[0] > 0.5 and accuracy > 0.95  # chance is 0.5


def test_regressor_beats_the_adding_baseline_on_short_sequences():
    rng = np.random.default_rng(0)
    x, y = make_adding_task(512, 6, rng)
    x_test, y_test = make_adding_task(512, 6, rng)
    model = RNNRegressor(2, 16, rng=np.random.default_rng(0))
    train(model, x, y, loss="mse", optimizer="adam", lr=0.01, steps=150, batch_size=64,
          generator=torch.Generator().manual_seed(0), progress=False)
    with torch.no_grad():
        pred = model(torch.tensor(x_test, dtype=torch.float32)).numpy()
    assert np.mean((pred - y_test) ** 2) < 0.5 / 6  # half the predict-1 baseline of 1/6


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_input_gradient_norms_match_autograd(activation):
    from helpers.rnn import input_gradient_norms

    rng = np.random.default_rng(3)
    params = init_rnn(6, 3, 2, rng, radius=1.2)
    xs = rng.standard_normal((2, 7, 3))
    cache = rnn_forward(params, xs, activation)
    grads = rnn_bptt(params, cache, output_loss(cache.out, np.array([0, 1]), "ce").dout)
    xs_t = torch.tensor(xs, requires_grad=True)
    out, _ = to_torch_rnn(params, activation)(xs_t)
    torch.nn.functional.cross_entropy(out, torch.tensor([0, 1])).backward()
    expected = xs_t.grad.pow(2).sum(dim=(0, 2)).sqrt().numpy()
    assert rel_error(input_gradient_norms(params, cache, grads), expected) < 1e-10


@pytest.mark.parametrize("model_class", [RNNRegressor, ReLURNNRegressor])
def test_rnn_params_of_reads_back_what_the_model_computes(model_class):
    x, y = make_adding_task(20, 9, np.random.default_rng(3))
    model = model_class(2, hidden=8, radius=1.2, rng=np.random.default_rng(0), dtype=torch.float64)
    with torch.no_grad():
        model.rnn.bias_hh_l0.fill_(0.1)  # nn.RNN's second bias: the numpy RNN's b is the sum of both
    params = rnn_params_of(model)
    out = rnn_forward(params, x, model.ACTIVATION).out[:, 0]
    np.testing.assert_allclose(out, model(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="RNNClassifier or RNNRegressor"):
        rnn_params_of(torch.nn.RNN(2, 8))


@pytest.mark.parametrize("model_class", [RNNRegressor, ReLURNNRegressor])
def test_state_gradient_norms_match_autograd(model_class):
    """||dL/dh_t||, t = 0..T, against autograd through the same weights (TorchRNN with retain_grad)."""
    x, y = make_adding_task(30, 10, np.random.default_rng(4))
    model = model_class(2, hidden=8, radius=2.0, rng=np.random.default_rng(0))
    reference = torch_rnn_grads(to_torch_rnn(rnn_params_of(model), model.ACTIVATION), x, y, "mse").norms()
    np.testing.assert_allclose(state_gradient_norms(model, x, y), reference, rtol=1e-10)
    assert reference[0] > 10 * reference[-1]  # radius 2 grows back through time: the check sees a trend
    with pytest.raises(ValueError, match="RNNRegressor"):
        state_gradient_norms(RNNClassifier(3, hidden=4, rng=np.random.default_rng(0)), x, y)


def test_truncated_bptt_keeps_the_outputs_and_stops_the_gradient_k_steps_back():
    """truncate=k: same outputs; inputs (and states) before step T - k get exactly 0; k = T is plain BPTT."""
    x, y = make_adding_task(16, 12, np.random.default_rng(5))
    full = RNNRegressor(2, hidden=8, radius=3.0, rng=np.random.default_rng(0), dtype=torch.float64)
    for k in (1, 5, 7, 12):
        cut = RNNRegressor(2, hidden=8, radius=3.0, rng=np.random.default_rng(0), dtype=torch.float64, truncate=k)
        x_t = torch.tensor(x, requires_grad=True)
        out = cut(x_t)
        np.testing.assert_allclose(out.detach().numpy(), full(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
        torch.nn.functional.mse_loss(out, torch.from_numpy(y)).backward()
        reached = norm(x_t.grad.numpy(), axis=(0, 2))  # (T,) gradient reaching each input
        assert np.all(reached[:12 - k] == 0) and np.all(reached[12 - k:] > 0)
        states = state_gradient_norms(cut, x, y)  # h_0..h_T
        assert np.all(states[:12 - k] == 0) and np.all(states[12 - k:] > 0)
    np.testing.assert_allclose(states, state_gradient_norms(full, x, y), rtol=1e-12)  # k = T: nothing cut
    with pytest.raises(ValueError, match="truncate"):
        RNNRegressor(2, rng=np.random.default_rng(0), truncate=0)
