"""The numpy network: hand backprop against torch autograd and finite
differences, initialisation statistics, the mean-field prediction, extremes."""
import math
import time
import warnings

import numpy as np
import pytest
import torch

from helpers.activations import ACTIVATION_NAMES, get_activation
from helpers.gradcheck import numerical_gradient, rel_error
from helpers.network import (
    INIT_SCHEMES,
    LayerGradients,
    NetConfig,
    init_params,
    layer_gradients,
    numpy_layer_gradients,
    predicted_act_norms,
    to_torch,
    torch_layer_gradients,
)


def make_data(batch=16, n_in=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, n_in))
    y = (rng.random(batch) < 0.5).astype(float)
    return x, y


def torch_reference(params, activation, x, y):
    """Autograd through to_torch's model, keeping dL/dh_l and z_l of each layer."""
    model = to_torch(params, activation)
    h = torch.from_numpy(x)
    hidden_outputs, pre_activations = [], []
    modules = list(model)
    for i, module in enumerate(modules):
        h = module(h)
        if isinstance(module, torch.nn.Linear) and i < len(modules) - 1:
            pre_activations.append(h.detach().numpy().copy())
        if not isinstance(module, torch.nn.Linear):
            h.retain_grad()
            hidden_outputs.append(h)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(h, torch.from_numpy(y).reshape(h.shape))
    loss.backward()
    weight_grads = [m.weight.grad.numpy() for m in modules if isinstance(m, torch.nn.Linear)]
    bias_grads = [m.bias.grad.numpy() for m in modules if isinstance(m, torch.nn.Linear)]
    act_grads = [t.grad.numpy() for t in hidden_outputs]
    return loss.item(), weight_grads, bias_grads, act_grads, pre_activations


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("init", INIT_SCHEMES)
@pytest.mark.parametrize("depth", [1, 3, 10])
def test_numpy_backprop_equals_torch_autograd(activation, init, depth):
    config = NetConfig(depth=depth, width=8, activation=activation, init=init, weight_scale=1.0)
    params = init_params(config, np.random.default_rng(depth))
    x, y = make_data(seed=depth)
    ours = numpy_layer_gradients(params, x, y, activation)
    loss, w_grads, b_grads, a_grads, zs = torch_reference(params, activation, x, y)

    assert rel_error(ours.loss, loss) < 1e-10
    assert len(ours.weight_grads) == depth + 1 and len(ours.act_grads) == depth
    for mine, theirs in zip(ours.weight_grads, w_grads):
        assert mine.shape == theirs.shape and rel_error(mine, theirs) < 1e-10
    for mine, theirs in zip(ours.bias_grads, b_grads):
        assert mine.shape == theirs.shape and rel_error(mine, theirs) < 1e-10
    for mine, theirs in zip(ours.act_grads, a_grads):
        assert mine.shape == (16, 8) and rel_error(mine, theirs) < 1e-10
    for mine, theirs in zip(ours.zs, zs):
        assert rel_error(mine, theirs) < 1e-12

    # The public torch path gives the same numbers as well.
    theirs = torch_layer_gradients(to_torch(params, activation), x, y)
    assert isinstance(theirs, LayerGradients)
    assert rel_error(ours.loss, theirs.loss) < 1e-10
    assert theirs.weight_norms.shape == (depth + 1,)
    assert rel_error(ours.weight_norms, theirs.weight_norms) < 1e-10
    for field in ("weight_grads", "bias_grads", "act_grads", "zs"):
        mine, autograd = getattr(ours, field), getattr(theirs, field)
        assert len(mine) == len(autograd) and all(rel_error(a, b) < 1e-10 for a, b in zip(mine, autograd)), field
    assert rel_error(ours.act_norms, theirs.act_norms) < 1e-10
    np.testing.assert_allclose(ours.weight_norms, [np.linalg.norm(g) for g in w_grads], rtol=1e-10)
    np.testing.assert_allclose(ours.act_norms, [np.linalg.norm(g) for g in a_grads], rtol=1e-10)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "leaky_relu"])
def test_weight_gradients_match_finite_differences(activation):
    config = NetConfig(depth=3, width=5, activation=activation, init="xavier", n_in=3)
    params = init_params(config, np.random.default_rng(7))
    x, y = make_data(batch=10, n_in=3, seed=7)
    grads = numpy_layer_gradients(params, x, y, activation)
    for layer in (0, 2, 3):  # first, a middle and the output layer
        w = params[layer][0]  # nudged in place by numerical_gradient

        def loss_of_w(_):
            return numpy_layer_gradients(params, x, y, activation).loss

        numeric = numerical_gradient(loss_of_w, w)
        assert rel_error(grads.weight_grads[layer], numeric) < 1e-7


def test_loss_is_the_mean_binary_cross_entropy():
    config = NetConfig(depth=2, width=6, activation="tanh", init="xavier")
    params = init_params(config, np.random.default_rng(3))
    x, y = make_data(batch=32, seed=3)
    grads = numpy_layer_gradients(params, x, y, "tanh")
    h = x
    for w, b in params[:-1]:
        h = np.tanh(h @ w.T + b)
    p = 1 / (1 + np.exp(-(h @ params[-1][0].T + params[-1][1])))[:, 0]
    naive = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert grads.loss == pytest.approx(naive, rel=1e-12)
    column = numpy_layer_gradients(params, x, y[:, None], "tanh")
    assert column.loss == grads.loss
    assert rel_error(column.weight_norms, grads.weight_norms) == 0.0


def test_init_shapes_biases_and_reproducibility():
    config = NetConfig(depth=4, width=7, n_in=3, n_out=2)
    params = init_params(config, np.random.default_rng(5))
    assert len(params) == config.depth + 1
    assert [w.shape for w, _ in params] == [(7, 3), (7, 7), (7, 7), (7, 7), (2, 7)]
    assert all(b.shape == (w.shape[0],) and not b.any() for w, b in params)
    assert all(w.dtype == np.float64 for w, _ in params)
    again = init_params(config, np.random.default_rng(5))
    assert all(np.array_equal(w1, w2) for (w1, _), (w2, _) in zip(params, again))
    other = init_params(config, np.random.default_rng(6))
    assert not np.array_equal(params[1][0], other[1][0])


@pytest.mark.parametrize("init, expected", [
    ("normal", lambda fan_in, fan_out: 1.5),
    ("xavier", lambda fan_in, fan_out: 1.5 * math.sqrt(2 / (fan_in + fan_out))),
    ("he", lambda fan_in, fan_out: 1.5 * math.sqrt(2 / fan_in)),
])
def test_init_standard_deviations(init, expected):
    config = NetConfig(depth=2, width=300, n_in=100, n_out=1, init=init, weight_scale=1.5)
    params = init_params(config, np.random.default_rng(0))
    for w, _ in params[:2]:  # 30,000+ samples each: std within ~1%
        fan_out, fan_in = w.shape
        assert w.std() == pytest.approx(expected(fan_in, fan_out), rel=0.02)
        assert abs(w.mean()) < 0.02 * expected(fan_in, fan_out)


def test_zero_scale_gives_zero_weights_and_hidden_gradients():
    config = NetConfig(depth=5, width=8, weight_scale=0.0)
    assert all(not w.any() for w, _ in init_params(config, np.random.default_rng(0)))
    x, _ = make_data()
    y = np.ones(len(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grads = layer_gradients(config, x, y, np.random.default_rng(0))
    # All logits 0: loss log 2 and dL/ds = (1/2 - 1) / batch per example.
    # Every hidden unit outputs sigmoid(0) = 1/2, so each output weight gets
    # batch * (-1/2) / batch * 1/2 = -1/4; the hidden layers get exactly 0.
    assert grads.loss == pytest.approx(math.log(2))
    assert np.all(grads.weight_norms[:-1] == 0)
    assert grads.weight_norms[-1] == pytest.approx(0.25 * math.sqrt(8))


def test_layer_gradients_is_init_then_backprop():
    config = NetConfig(depth=6, width=9, activation="relu", init="he", weight_scale=1.2)
    x, y = make_data(seed=4)
    for seed in (0, 11):
        direct = numpy_layer_gradients(init_params(config, np.random.default_rng(seed)), x, y, "relu")
        via = layer_gradients(config, x, y, np.random.default_rng(seed))
        assert isinstance(via, LayerGradients)
        assert via.loss == direct.loss
        assert np.array_equal(via.weight_norms, direct.weight_norms)
    # Changing only the scale rescales the same draws.
    doubled = layer_gradients(NetConfig(depth=6, width=9, activation="linear", weight_scale=2.0), x, y,
                              np.random.default_rng(0))
    single = layer_gradients(NetConfig(depth=6, width=9, activation="linear", weight_scale=1.0), x, y,
                             np.random.default_rng(0))
    assert not np.allclose(doubled.zs[0], single.zs[0])
    np.testing.assert_allclose(doubled.zs[0], 2 * single.zs[0], rtol=1e-14)


@pytest.mark.parametrize("activation, init, scale", [
    ("tanh", "xavier", 2.0),  # exploding
    ("sigmoid", "he", 0.5),   # vanishing
    ("leaky_relu", "he", 1.3),
    ("relu", "he", 1.0),      # about constant
])
def test_mean_field_prediction_tracks_a_wide_network(activation, init, scale):
    config = NetConfig(depth=20, width=256, activation=activation, init=init, weight_scale=scale)
    params = init_params(config, np.random.default_rng(1))
    x, y = make_data(batch=64, seed=1)
    grads = numpy_layer_gradients(params, x, y, activation)
    pred = predicted_act_norms(params, grads, activation)
    assert pred.shape == (20,)
    assert pred[-1] == grads.act_norms[-1]
    ratio = pred / grads.act_norms
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio
    if scale != 1.0:  # the prediction follows a real trend, not a constant
        spread = grads.act_norms.max() / grads.act_norms.min()
        assert spread > 10


@pytest.mark.parametrize("activation", ["tanh", "relu", "linear"])
def test_mean_field_prediction_with_unequal_widths(activation):
    # Hand-built params alternating widths 64 and 1024: here the Frobenius
    # rule's fan_in factor differs from the per-unit fan_out factor by 16x
    # per step, so the wrong one would be off by ~4 every other layer.
    rng = np.random.default_rng(5)
    sizes = [4] + [64, 1024] * 4 + [1]
    params = [(rng.normal(0, math.sqrt(1 / n_in), (n_out, n_in)), np.zeros(n_out))
              for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    x, y = make_data(batch=64, seed=5)
    grads = numpy_layer_gradients(params, x, y, activation)
    ratio = predicted_act_norms(params, grads, activation) / grads.act_norms
    assert np.all((ratio > 0.6) & (ratio < 1.7)), ratio


def test_mean_field_gain_uses_fan_in_times_weight_variance():
    # With the identity activation and one hidden-to-hidden step, the
    # prediction is exactly sqrt(n * mean(W^2)) times the top norm.
    config = NetConfig(depth=2, width=6, activation="linear", init="normal", weight_scale=0.7)
    params = init_params(config, np.random.default_rng(2))
    x, y = make_data(seed=2)
    grads = numpy_layer_gradients(params, x, y, "linear")
    w2 = params[1][0]
    pred = predicted_act_norms(params, grads, "linear")
    assert pred[0] == pytest.approx(grads.act_norms[1] * math.sqrt(6 * np.mean(w2**2)), rel=1e-12)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("scale", [0.0, 50.0])
def test_extremes_are_silent(activation, scale):
    config = NetConfig(depth=200, width=16, activation=activation, init="normal", weight_scale=scale)
    x, y = make_data(batch=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grads = layer_gradients(config, x, y, np.random.default_rng(0))
        params = init_params(config, np.random.default_rng(0))
        pred = predicted_act_norms(params, grads, activation)
    assert grads.weight_norms.shape == (201,) and grads.act_norms.shape == (200,)
    assert pred.shape == (200,)
    assert grads.weight_norms.dtype == np.float64
    assert not np.any(grads.weight_norms < 0)  # norms: >= 0, inf or NaN
    if scale == 0.0:
        assert np.all(np.isfinite(grads.weight_norms))
    elif activation in ("sigmoid", "tanh"):
        # 50 * N(0,1) weights saturate every bounded unit: the gradient
        # reaching the first layer vanishes against the last one's.
        assert grads.weight_norms[0] < 1e-30 * grads.weight_norms[-2]
    else:
        # Unbounded units: 200 layers each multiplying by ~50 * sqrt(16)
        # overflow float64, and the overflow shows up as inf/NaN.
        assert not np.all(np.isfinite(grads.weight_norms))


def test_huge_and_tiny_gradients_keep_their_norms():
    # Summing squares would overflow to inf (or underflow to 0) here.
    x, y = np.array([[1.0]]), np.array([0.0])
    for scale in (1e200, 1e-200):
        w_out = np.array([[1.0, 1.0]])
        params = [(np.full((2, 1), scale), np.zeros(2)), (w_out, np.zeros(1))]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            grads = numpy_layer_gradients(params, x, y, "linear")
        # dL/ds = sigmoid(s) - 0 with s = 2 * scale, which is 1 for the huge
        # scale and 1/2 for the tiny one; the output weights see h = (scale, scale).
        p = 1.0 if scale > 1 else 0.5
        assert grads.weight_norms[-1] == pytest.approx(p * scale * math.sqrt(2), rel=1e-12)


@pytest.mark.parametrize("kwargs, message", [
    ({"depth": 0}, r"depth must be an integer from 1 to 200, got 0"),
    ({"depth": 201}, r"depth must be an integer from 1 to 200, got 201"),
    ({"depth": 2.5}, r"depth must be an integer from 1 to 200, got 2.5"),
    ({"width": 0}, r"width must be an integer >= 1, got 0"),
    ({"n_in": True}, r"n_in must be an integer >= 1, got True"),
    ({"weight_scale": -1.0}, r"weight_scale must be a finite number >= 0, got -1.0"),
    ({"weight_scale": math.nan}, r"weight_scale must be a finite number >= 0, got nan"),
    ({"weight_scale": math.inf}, r"weight_scale must be a finite number >= 0, got inf"),
    ({"activation": "softplus"},
     r"unknown activation 'softplus'; choose one of: sigmoid, tanh, relu, leaky_relu, linear"),
    ({"init": "orthogonal"}, r"unknown init 'orthogonal'; choose one of: normal, xavier, he"),
])
def test_bad_config_messages_say_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NetConfig(**kwargs)


def test_config_normalises_names_and_accepts_activation_objects():
    config = NetConfig(activation=get_activation("tanh"), init="He", weight_scale=2)
    assert config.activation == "tanh" and config.init == "he"
    assert isinstance(config.weight_scale, float)


def test_bad_call_arguments():
    config = NetConfig(depth=2, width=4)
    params = init_params(config, np.random.default_rng(0))
    x, y = make_data(batch=5)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4\), got \(5, 3\)"):
        numpy_layer_gradients(params, x[:, :3], y, "sigmoid")
    with pytest.raises(ValueError, match=r"y must have shape \(5,\) or \(5, 1\), got \(4,\)"):
        numpy_layer_gradients(params, x, y[:4], "sigmoid")
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 1\]"):
        numpy_layer_gradients(params, x, y + 2, "sigmoid")
    with pytest.raises(ValueError, match="choose one of"):
        numpy_layer_gradients(params, x, y, "swish")
    with pytest.raises(ValueError, match="rng must be a np.random.Generator"):
        init_params(config, 0)
    with pytest.raises(ValueError, match="rng must be a np.random.Generator"):
        layer_gradients(config, x, y, 0)
    with pytest.raises(ValueError, match="fan_in 3 but the layer before outputs 4"):
        numpy_layer_gradients([params[0], (np.zeros((1, 3)), np.zeros(1))], x, y, "sigmoid")


def test_torch_gradients_do_not_accumulate():
    config = NetConfig(depth=3, width=5)
    params = init_params(config, np.random.default_rng(0))
    model = to_torch(params, "sigmoid")
    assert all(p.dtype == torch.float64 for p in model.parameters())
    x, y = make_data()
    first = torch_layer_gradients(model, x, y)
    second = torch_layer_gradients(model, x, y)
    assert first.loss == second.loss
    assert np.array_equal(first.weight_norms, second.weight_norms)
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())  # hooks removed


def test_slider_sized_call_is_fast():
    config = NetConfig(depth=50, width=32, activation="sigmoid")
    x, y = make_data(batch=64)
    layer_gradients(config, x, y, np.random.default_rng(0))
    times = []
    for _ in range(7):
        start = time.process_time()
        layer_gradients(config, x, y, np.random.default_rng(0))
        times.append(time.process_time() - start)
    # The target is a few ms; the bound is loose so a busy machine passes.
    assert np.median(times) < 0.05


# --- batch normalisation and residual connections -------------------------------------

from helpers.network import BN_EPS, ResidualBlock  # noqa: E402  (appended section)

SWITCHES = [(True, False), (False, True), (True, True)]


def torch_switch_reference(params, activation, x, y, batch_norm, residual):
    """Autograd through to_torch's model with the switches: loss, weight/bias grads, dL/dh_l."""
    model = to_torch(params, activation, batch_norm=batch_norm, residual=residual)
    h = torch.from_numpy(x)
    hidden_outputs = []
    for module in model:
        h = module(h)
        # A hidden layer ends with its activation module or its residual block.
        if not isinstance(module, (torch.nn.Linear, torch.nn.BatchNorm1d)):
            h.retain_grad()
            hidden_outputs.append(h)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(h, torch.from_numpy(y).reshape(h.shape))
    loss.backward()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    bias_grads = [np.zeros(m.out_features) if m.bias is None else m.bias.grad.numpy() for m in linears]
    return (loss.item(), [m.weight.grad.numpy() for m in linears], bias_grads,
            [t.grad.numpy() for t in hidden_outputs])


@pytest.mark.parametrize("batch_norm, residual", SWITCHES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("depth", [1, 4])
def test_switched_backprop_equals_torch_autograd(batch_norm, residual, activation, depth):
    config = NetConfig(depth=depth, width=7, activation=activation, init="xavier",
                       batch_norm=batch_norm, residual=residual)
    rng = np.random.default_rng(depth)
    params = [(w, 0.3 * rng.standard_normal(b.shape)) for w, b in init_params(config, rng)]
    x, y = make_data(batch=12, seed=depth)
    ours = numpy_layer_gradients(params, x, y, activation, batch_norm=batch_norm, residual=residual)
    loss, w_grads, b_grads, a_grads = torch_switch_reference(params, activation, x, y, batch_norm, residual)
    assert rel_error(ours.loss, loss) < 1e-10
    assert len(ours.weight_grads) == len(w_grads) == depth + 1 and len(a_grads) == depth
    for mine, theirs in zip(ours.weight_grads, w_grads):
        assert mine.shape == theirs.shape and rel_error(mine, theirs) < 1e-10
    for mine, theirs in zip(ours.bias_grads, b_grads):
        assert mine.shape == theirs.shape and rel_error(mine, theirs) < 1e-10
    for mine, theirs in zip(ours.act_grads, a_grads):
        assert rel_error(mine, theirs) < 1e-10
    if batch_norm:  # BN cancels the hidden biases: their gradient is exactly 0
        assert all(not g.any() for g in ours.bias_grads[:-1])
    theirs = torch_layer_gradients(to_torch(params, activation, batch_norm, residual), x, y)
    assert rel_error(ours.loss, theirs.loss) < 1e-10
    assert rel_error(ours.weight_norms, theirs.weight_norms) < 1e-10
    assert rel_error(ours.act_norms, theirs.act_norms) < 1e-10
    assert all(rel_error(a, b) < 1e-10 for a, b in zip(ours.zs, theirs.zs))
    assert all(rel_error(a, b) < 1e-10 for a, b in zip(ours.bias_grads, theirs.bias_grads))


@pytest.mark.parametrize("batch_norm, residual", SWITCHES)
def test_switched_weight_gradients_match_finite_differences(batch_norm, residual):
    config = NetConfig(depth=3, width=5, activation="tanh", init="xavier", n_in=3,
                       batch_norm=batch_norm, residual=residual)
    params = init_params(config, np.random.default_rng(8))
    x, y = make_data(batch=9, n_in=3, seed=8)
    grads = numpy_layer_gradients(params, x, y, "tanh", batch_norm=batch_norm, residual=residual)
    for layer in (0, 1, 3):
        def loss_of_w(_):
            return numpy_layer_gradients(params, x, y, "tanh", batch_norm=batch_norm, residual=residual).loss

        numeric = numerical_gradient(loss_of_w, params[layer][0])
        assert rel_error(grads.weight_grads[layer], numeric) < 1e-7


def test_batch_norm_standardises_every_layer_whatever_the_weight_scale():
    for scale in (0.1, 1.0, 30.0):  # raw variances well above BN_EPS (see the eps test below)
        config = NetConfig(depth=6, width=16, activation="tanh", init="normal", weight_scale=scale, batch_norm=True)
        x, y = make_data(batch=32)
        grads = layer_gradients(config, x, y, np.random.default_rng(0))
        for z in grads.zs:
            np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
            var = z.var(axis=0)  # var / (var + eps) of the raw inputs: 1 unless they are tiny
            assert np.all((var > 0.9) & (var <= 1.0)), (scale, var)


@pytest.mark.parametrize("factor", [0.01, 100.0])
@pytest.mark.parametrize("layer", [0, 2])
def test_batch_norm_output_and_input_gradient_ignore_the_weight_scale(factor, layer):
    # Weights of scale 100 give pre-activation variances ~1e4 to 1e5, so even after
    # factor 0.01 they stay far above BN_EPS: BN(c z) = BN(z) up to eps / (2 var) ~ 1e-6.
    config = NetConfig(depth=3, width=16, activation="relu", init="normal", weight_scale=100.0, batch_norm=True)
    params = init_params(config, np.random.default_rng(3))
    x, y = make_data(batch=32, seed=3)
    base = numpy_layer_gradients(params, x, y, "relu", batch_norm=True)
    scaled_params = [(w * factor, b) if l == layer else (w, b) for l, (w, b) in enumerate(params)]
    scaled = numpy_layer_gradients(scaled_params, x, y, "relu", batch_norm=True)
    assert rel_error(scaled.loss, base.loss) < 1e-5
    assert rel_error(scaled.zs[layer], base.zs[layer]) < 1e-5  # BN's output
    if layer > 0:  # dL/dh_{l-1}, the gradient arriving at BN's input side
        assert rel_error(scaled.act_grads[layer - 1], base.act_grads[layer - 1]) < 1e-5
    # The weights' own gradient shrinks as they grow (1/c): the scale-invariant
    # layer slows its own effective learning rate.
    assert rel_error(scaled.weight_grads[layer] * factor, base.weight_grads[layer]) < 1e-5
    # Without batch norm the same rescaling changes everything.
    plain = numpy_layer_gradients(params, x, y, "relu")
    plain_scaled = numpy_layer_gradients(scaled_params, x, y, "relu")
    assert rel_error(plain.loss, plain_scaled.loss) > 1e-2


def test_batch_norm_eps_is_what_breaks_exact_scale_invariance():
    # With raw variance v, BN divides by sqrt(v + eps): at tiny scales eps wins.
    config = NetConfig(depth=1, width=8, activation="linear", init="normal", weight_scale=1.0, batch_norm=True)
    params = init_params(config, np.random.default_rng(0))
    x, y = make_data(batch=16)
    tiny = [(params[0][0] * 1e-6, params[0][1]), params[1]]
    z = x @ tiny[0][0].T
    expected = (z - z.mean(0)) / np.sqrt(z.var(0) + BN_EPS)
    got = numpy_layer_gradients(tiny, x, y, "linear", batch_norm=True).zs[0]
    assert rel_error(got, expected) < 1e-12
    assert np.all(got.std(axis=0) < 1e-3)  # eps dominates: the output is not standardised


@pytest.mark.parametrize("activation", ["tanh", "relu", "linear"])
def test_residual_block_jacobian_tends_to_the_identity(activation):
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal((6, 6))
    h = torch.from_numpy(rng.standard_normal(6) + 0.5)  # away from relu's kink
    ratios = []
    for scale in (1e-1, 1e-2, 1e-3, 1e-4):
        params = [(rng.standard_normal((6, 4)), np.zeros(6)), (scale * w0, np.zeros(6)),
                  (np.ones((1, 6)), np.zeros(1))]
        block = to_torch(params, activation, residual=True)[2]
        assert isinstance(block, ResidualBlock)
        jac = torch.autograd.functional.jacobian(block, h).numpy()
        gap = np.linalg.norm(jac - np.eye(6))
        ratios.append(gap / scale)
        # J - I = diag(f'(z)) W exactly, with z = scale * W0 h.
        z = scale * w0 @ h.numpy()
        slope = get_activation(activation).df(z)
        assert rel_error(jac - np.eye(6), slope[:, None] * (scale * w0)) < 1e-10
    # ||J - I|| is proportional to the branch scale: the ratio settles to
    # ||diag(f'(0)) W0|| (f'(0) = 1 here, relu's on the units with W0 h > 0).
    assert ratios[-1] == pytest.approx(ratios[-2], rel=1e-3)
    assert ratios[-1] > 0.1 * np.linalg.norm(w0)


def test_residual_connections_keep_a_deep_sigmoid_gradient_alive():
    x, y = make_data(batch=32)
    plain = layer_gradients(NetConfig(depth=30, width=16, activation="sigmoid", init="xavier"), x, y, np.random.default_rng(0))
    skip = layer_gradients(NetConfig(depth=30, width=16, activation="sigmoid", init="xavier", residual=True), x, y, np.random.default_rng(0))
    assert plain.act_norms[0] / plain.act_norms[-1] < 1e-8  # 30 factors of at most 1/4 * |W|
    # The skips give dL/dh_1 a path with no f' and no W: it cannot shrink away.
    assert skip.act_norms[0] / skip.act_norms[-1] > 0.5


def test_switches_in_config_and_layer_gradients():
    config = NetConfig(depth=4, width=6, activation="tanh", batch_norm=True, residual=True)
    assert config.batch_norm is True and config.residual is True
    assert NetConfig().batch_norm is False and NetConfig().residual is False
    x, y = make_data()
    direct = numpy_layer_gradients(init_params(config, np.random.default_rng(0)), x, y, "tanh",
                                   batch_norm=True, residual=True)
    via = layer_gradients(config, x, y, np.random.default_rng(0))
    assert via.loss == direct.loss and np.array_equal(via.weight_norms, direct.weight_norms)
    off = layer_gradients(NetConfig(depth=4, width=6, activation="tanh"), x, y, np.random.default_rng(0))
    assert off.loss != via.loss


def test_default_switches_keep_the_plain_torch_model():
    params = init_params(NetConfig(depth=3, width=5, activation="relu"), np.random.default_rng(0))
    kinds = [type(m).__name__ for m in to_torch(params, "relu")]
    assert kinds == ["Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    kinds = [type(m).__name__ for m in to_torch(params, "relu", batch_norm=True, residual=True)]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "ResidualBlock", "ResidualBlock", "Linear"]


@pytest.mark.parametrize("batch_norm, residual", SWITCHES)
@pytest.mark.parametrize("scale", [0.0, 50.0])
def test_switched_extremes_are_silent(batch_norm, residual, scale):
    config = NetConfig(depth=200, width=8, activation="relu", init="normal", weight_scale=scale,
                       batch_norm=batch_norm, residual=residual)
    x, y = make_data(batch=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grads = layer_gradients(config, x, y, np.random.default_rng(0))
    assert grads.weight_norms.shape == (201,) and not np.any(grads.weight_norms < 0)
    if batch_norm and not residual:
        # Normalised every layer: nothing overflows, whatever the scale.
        assert np.all(np.isfinite(grads.weight_norms))


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_norm": "yes"}, r"batch_norm must be True or False, got 'yes'"),
    ({"residual": 1}, r"residual must be True or False, got 1"),
])
def test_bad_switches_say_what_is_allowed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NetConfig(**kwargs)


def test_switch_preconditions_are_checked():
    rng = np.random.default_rng(0)
    params = [(rng.standard_normal((6, 4)), np.zeros(6)), (rng.standard_normal((5, 6)), np.zeros(5)),
              (rng.standard_normal((1, 5)), np.zeros(1))]
    x, y = make_data(batch=4)
    with pytest.raises(ValueError, match=r"residual=True needs every hidden layer after the first to map "
                                         r"width -> width .* layer 2 maps 6 -> 5"):
        numpy_layer_gradients(params, x, y, "relu", residual=True)
    with pytest.raises(ValueError, match="layer 2 maps 6 -> 5"):
        to_torch(params, "relu", residual=True)
    with pytest.raises(ValueError, match=r"batch_norm needs a batch of at least 2 rows .* got 1"):
        numpy_layer_gradients(params, x[:1], y[:1], "relu", batch_norm=True)
    with pytest.raises(ValueError, match=r"batch_norm must be True or False, got None"):
        numpy_layer_gradients(params, x, y, "relu", batch_norm=None)
