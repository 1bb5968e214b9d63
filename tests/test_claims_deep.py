r"""Claims of notebook 03's per-layer diagnostics: the activation statistics figure and the
update:data ratio during training. Conventions as in tests/test_claims.py (whose last
tests read these docstrings too): each docstring starts "03:" and quotes its sentences
exactly; "about x" is within 10% of x, "about 10^k" (and "near 10^k") within a factor 2
of 10^k unless the docstring says otherwise, "level" within a factor 2.
"""
from functools import lru_cache

import numpy as np
import pytest

from helpers import live
from helpers.activations import get_activation, sigmoid_prime
from helpers.data import insurance_batch, load_insurance, standardize
from helpers.network import NetConfig, init_params, numpy_layer_gradients, to_torch
from helpers.training import train
from tests.test_claims import line_y, set_controls, within, within_factor

LR = 0.1  # the notebook's learning rate for every training run


def spread(values) -> float:
    return float(np.nanmax(values) / np.nanmin(values))


def network(depth, scale, activation, init, width=32):
    """The parameters of layer_gradients' and activation_statistics' network (seed 0)."""
    config = NetConfig(depth=depth, width=width, activation=activation, init=init, weight_scale=scale)
    return init_params(config, np.random.default_rng(0))


# --- the activation statistics figure ---------------------------------------------------

def test_03_the_activation_figure_shows_the_same_network_on_the_same_64_people():
    r"""03: "for the same network on the same 64 people, the left panel shows the median of $|h_l|$ at every
    hidden layer, with bands holding the middle 50% and 90% of the values", "units at exactly 0 left out: a ReLU
    layer has about half of those by design", "the share of saturated units ($f'$ below 10% of its maximum, as in
    notebook 02) and of inactive ReLU units ($z \le 0$, passing back exactly 0)". Recomputed here from the forward
    pass numpy_layer_gradients backpropagates through (its zs), with np.quantile and the definitions written out."""
    x, y = insurance_batch()
    assert x.shape[0] == 64
    lf = live.activation_statistics(mode="agg")
    for depth, scale, activation, init in ((10, 1.0, "sigmoid", "xavier"), (50, 1.0, "relu", "xavier"),
                                           (50, 1.0, "relu", "he"), (10, 10.0, "sigmoid", "xavier"),
                                           (30, 2.0, "tanh", "normal")):
        set_controls(lf, depth=depth, scale=scale, activation=activation, init=init)
        zs = numpy_layer_gradients(network(depth, scale, activation, init), x, y, activation).zs
        act = get_activation(activation)
        hs = [act.f(z) for z in zs]
        medians = [np.median(np.abs(h[h != 0])) for h in hs]
        np.testing.assert_allclose(line_y(lf, "median"), medians, rtol=1e-9)
        (band,) = [c for c in lf.fig.axes[0].collections if c.get_gid() == "band_90"]
        heights = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
        for h in hs:  # the band's edges are the 5% and 95% quantiles: 90% of the values between
            for q in np.quantile(np.abs(h[h != 0]), [0.05, 0.95]):
                assert np.isclose(heights, q, rtol=1e-9).any()
        slopes = np.stack([act.df(z) for z in zs])  # (depth, batch, width)
        if activation in ("sigmoid", "tanh"):
            expected = (np.abs(slopes) < 0.1 * act.max_slope).mean(axis=(1, 2))
            np.testing.assert_allclose(line_y(lf, "saturated", 1), expected)
        if activation == "relu":
            inactive = (np.stack(zs) <= 0).mean(axis=(1, 2))
            assert np.all(slopes[np.stack(zs) <= 0] == 0.0)  # passing back exactly 0
            np.testing.assert_allclose(line_y(lf, "inactive", 1), inactive)
            assert within(inactive.mean(), 0.5)  # about half


def test_03_what_to_look_for_in_the_activation_statistics_figure():
    r"""03: "at the default (10 sigmoid layers, weight scale 1) the median $|h_l|$ stays near 0.5 at every layer and
    the units are almost never saturated (0% to the nearest percent), yet the figure above showed the first layer
    getting about a millionth of the last layer's gradient: a sigmoid's slope is at most 1/4 even far from
    saturation", "the activations shrink layer after
    layer, the median falling about a hundred-million-fold, from about 0.2 at layer 1 to about $10^{-9}$ at layer
    50, while about half of the units are inactive", "Choose `initialisation` *he*: the median stays within a factor
    of 10 over all 50 layers", "more than half of the units are saturated; with *normal* initialisation, weight
    scale 5 already saturates more than 80%"."""
    lf = live.activation_statistics(mode="agg")
    median = line_y(lf, "median")
    assert median.size == 10 and np.all(np.abs(median - 0.5) <= 0.05)
    saturated = line_y(lf, "saturated", 1)
    assert saturated.mean() < 0.005 and saturated.max() < 0.005  # 0% to the nearest percent, at every layer
    assert " ".join(t.get_text() for t in lf.fig.axes[1].texts if t.get_visible()) == "0% saturated"
    x, y = insurance_batch()
    grads = numpy_layer_gradients(network(10, 1.0, "sigmoid", "xavier"), x, y, "sigmoid")
    assert within_factor(grads.weight_norms[0] / grads.weight_norms[-1], 1e-6)
    assert max(float(sigmoid_prime(z).max()) for z in grads.zs) <= 0.25

    set_controls(lf, activation="relu", depth=50)
    median = line_y(lf, "median")
    steps = np.diff(np.log10(median))
    assert np.mean(steps < 0) > 0.95 and np.all(median[2:] < median[:-2])  # layer after layer
    assert within_factor(median[0] / median[-1], 1e8)
    assert within(median[0], 0.2) and within_factor(median[-1], 1e-9)
    assert within(line_y(lf, "inactive", 1).mean(), 0.5)

    set_controls(lf, init="he")
    assert spread(line_y(lf, "median")) < 10

    set_controls(lf, activation="sigmoid", init="xavier", depth=10, scale=10.0)
    assert line_y(lf, "saturated", 1).mean() > 0.5
    set_controls(lf, init="normal", scale=5.0)
    assert line_y(lf, "saturated", 1).mean() > 0.8


def test_03_shrinking_activations_and_a_growing_arriving_gradient_make_level_weight_gradients():
    r"""03: "That is the other half of the gradient figure at the same setting, where every weight gradient was
    near $10^{-9}$ and their first-to-last ratio looked calm: a weight's gradient is the gradient arriving at its
    layer times the activations feeding it, and towards the output the activations shrink as fast as the arriving
    gradient grows". Near: within a factor 3; calm: first over last between 1/10 and 10. The mechanism measured:
    ||dL/dW_l|| = ||(dL/dh_l * f'(z_l))^T h_{l-1}||, at most ||dL/dz_l|| ||h_{l-1}||; the inputs h_{l-1} and the
    arriving gradients dL/dh_l each change more than 10^7-fold over the 50 layers, in opposite directions, and
    their product stays within a factor 10 of level, as the weight gradients do."""
    x, y = insurance_batch()
    lf = set_controls(live.layer_gradients(mode="agg"), depth=50, activation="relu", init="xavier")
    weights = line_y(lf, "weight_grads")
    assert np.all((weights > 1e-9 / 3) & (weights < 3e-9))
    assert 0.1 < weights[0] / weights[-1] < 10

    params = network(50, 1.0, "relu", "xavier")
    grads = numpy_layer_gradients(params, x, y, "relu")
    relu = get_activation("relu")
    inputs = np.array([np.linalg.norm(x)] + [np.linalg.norm(relu.f(z)) for z in grads.zs[:-1]])  # h_{l-1}
    arriving = grads.act_norms  # ||dL/dh_l||
    at_z = np.array([np.linalg.norm(g * relu.df(z)) for g, z in zip(grads.act_grads, grads.zs)])
    hidden_weights = grads.weight_norms[:-1]  # W_1..W_50; the output layer's has no dL/dh_l beside it
    np.testing.assert_allclose(hidden_weights, line_y(lf, "weight_grads")[:-1], rtol=1e-12)
    assert np.all(hidden_weights <= at_z * inputs * (1 + 1e-12))
    assert inputs[0] / inputs[-1] > 1e7 and arriving[-1] / arriving[0] > 1e7  # shrink forward, grow towards the output
    assert spread(at_z * inputs) < 10 and spread(hidden_weights) < 10


# --- the update:data ratio --------------------------------------------------------------

@lru_cache(maxsize=None)
def trained(name: str):
    """(TrainLog, initial params) of one of notebook 03's 10-layer runs, trained as the notebook trains it."""
    activation, init = {"10 sigmoid layers": ("sigmoid", "xavier"), "10 ReLU layers, He init": ("relu", "he")}[name]
    data = load_insurance()
    X, _, _ = standardize(data.X)
    params = init_params(NetConfig(depth=10, width=16, activation=activation, init=init, n_in=4),
                         np.random.default_rng(0))
    return train(to_torch(params, activation), X, data.y, steps=500, lr=LR, progress=False), params


@pytest.mark.parametrize("name", ["10 sigmoid layers", "10 ReLU layers, He init"])
def test_03_the_update_data_ratio_is_lr_times_the_gradient_over_the_weights(name):
    r"""03: "With plain gradient descent $\Delta W_l = -\text{lr}\,\partial L/\partial W_l$, so the ratio is
    $\text{lr}\,\|\partial L/\partial W_l\| / \|W_l\|$, and the training runs above recorded it at every step
    (`rel_weight_change`)", "layer 11 is the output layer". Checked at the first step, where ||W_l|| is the
    initial weights' norm."""
    log, params = trained(name)
    assert log.rel_weight_change.shape == (500, 11) and len(params) == 11 and params[-1][0].shape[0] == 1
    expected = LR * log.grad_norms[0] / np.array([np.linalg.norm(w) for w, _ in params])
    np.testing.assert_allclose(log.rel_weight_change[0], expected, rtol=1e-6)


def test_03_the_sigmoid_network_stops_moving_and_the_relu_network_stays_near_the_rule_of_thumb():
    r"""03: "In the sigmoid network the output layer starts near $10^{-2}$ and the first layer near $10^{-8}$, six
    orders of magnitude apart", "By step 100 every layer, the output layer too, has fallen to about $10^{-8}$, a
    hundred thousand times below the rule of thumb, and stays there: the whole network has stopped moving, and its
    loss sits at $\ln 2$", "In the ReLU network with He initialisation every layer stays between $10^{-4}$ and
    $3\cdot10^{-2}$ at every step, around the rule of thumb, and the loss falls from 0.78 to 0.39". The loss "sits
    at" ln 2: within 0.01 from step 100 on."""
    log, _ = trained("10 sigmoid layers")
    ratio = log.rel_weight_change
    assert within_factor(ratio[0, -1], 1e-2) and within_factor(ratio[0, 0], 1e-8)
    assert within_factor(ratio[0, -1] / ratio[0, 0], 1e6)
    assert np.all((ratio[100:] >= 0.5e-8) & (ratio[100:] <= 2e-8))
    assert np.all(np.abs(log.loss[100:] - np.log(2)) < 0.01)

    log, _ = trained("10 ReLU layers, He init")
    ratio = log.rel_weight_change
    assert ratio.min() > 1e-4 and ratio.max() < 3e-2
    assert round(float(log.loss[0]), 2) == 0.78 and round(log.final_loss, 2) == 0.39
