"""The gradient health report: verdicts on models known to vanish, explode or be
healthy; its numbers against autograd and closed forms; non-finite values;
saturation; any kind of model; the table and the plot."""
import math
import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from helpers.health import (
    DEFAULT_LR,
    EXPLODING_UPDATE_RATIO,
    HealthReport,
    gradient_health,
)
from helpers.exercises.nb08 import broken_relu_network, insurance_split
from helpers.network import NetConfig, init_params, to_torch
from helpers.plots import health_plot, new_figure
from helpers.rnn import RNNClassifier, RNNRegressor
from helpers.tasks import make_adding_task, make_tense_task


def mlp(depth, activation, width=32, n_in=8, init=None, scale=1.0, seed=0, dtype=torch.float32):
    """depth hidden Linear+activation layers and a Linear(width, 1) readout."""
    torch.manual_seed(seed)  # torch's default Linear init, reproducibly
    layers, fan_in = [], n_in
    for _ in range(depth):
        linear = nn.Linear(fan_in, width, dtype=dtype)
        if init == "he":
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
            nn.init.zeros_(linear.bias)
        with torch.no_grad():
            linear.weight.mul_(scale)
        layers += [linear, activation()]
        fan_in = width
    layers.append(nn.Linear(fan_in, 1, dtype=dtype))
    return nn.Sequential(*layers)


def batch(n=64, n_in=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n_in)), (rng.random(n) < 0.5).astype(float)


def test_deep_sigmoid_network_is_vanishing():
    X, y = batch()
    report = gradient_health(mlp(20, nn.Sigmoid), X, y)
    assert isinstance(report, HealthReport)
    assert report.verdict == "vanishing", report.reason
    assert "first layer (1) " in report.reason and "last layer's (21)" in report.reason
    # 20 factors of at most 1/4 * |W| between the first and the last layer.
    assert report.rows[0].grad_norm < 1e-9 * report.rows[-1].grad_norm


def test_deep_relu_network_with_scaled_up_weights_is_exploding():
    X, y = batch()
    report = gradient_health(mlp(20, nn.ReLU, init="he", scale=4.0), X, y)
    assert report.verdict == "exploding", report.reason
    assert max(row.update_ratio for row in report.rows) > EXPLODING_UPDATE_RATIO
    assert "times its own size" in report.reason


def test_shallow_relu_network_with_he_init_is_healthy():
    X, y = batch()
    report = gradient_health(mlp(2, nn.ReLU, init="he"), X, y)
    assert report.verdict == "healthy", report.reason
    assert [row.name for row in report.rows] == ["1", "2", "3"]  # layers 1..L, as every figure numbers them
    assert [row.module for row in report.rows] == ["0", "2", "4"]  # the nn.Sequential's indices
    assert all(row.nonfinite == 0 for row in report.rows)


def test_numbers_equal_autograd_and_the_model_is_left_as_it_was():
    X, y = batch(n=16)
    model = mlp(3, nn.Tanh, dtype=torch.float64)
    marker = torch.full_like(model[0].weight, 7.0)
    model[0].weight.grad = marker  # an earlier gradient the report must not clobber
    report = gradient_health(model, X, y, lr=0.05)
    assert model[0].weight.grad is marker and model[2].weight.grad is None

    reference = mlp(3, nn.Tanh, dtype=torch.float64)
    out = reference(torch.from_numpy(X))[:, 0]
    loss = nn.functional.binary_cross_entropy_with_logits(out, torch.from_numpy(y))
    loss.backward()
    assert report.loss == pytest.approx(loss.item(), rel=1e-12) and report.lr == 0.05
    linears = [m for m in reference if isinstance(m, nn.Linear)]
    for row, linear in zip(report.rows, linears):
        assert row.kind == "Linear"
        assert row.grad_norm == pytest.approx(linear.weight.grad.norm().item(), rel=1e-12)
        assert row.weight_norm == pytest.approx(linear.weight.norm().item(), rel=1e-12)
        assert row.update_ratio == pytest.approx(0.05 * row.grad_norm / row.weight_norm, rel=1e-12)
    # Saturation: tanh' < 0.1 exactly where |z| > atanh(sqrt(0.9)), counted on z.
    h = torch.from_numpy(X)
    assert len(report.rows) == 4
    for row, k in zip(report.rows, (0, 2, 4, 6)):
        z = reference[k](h)
        if k < 6:
            expected = (z.abs() > math.atanh(math.sqrt(0.9))).double().mean().item()
            assert row.saturation == pytest.approx(expected, abs=1e-12)
            assert row.inactive == 0.0  # tanh' is never exactly 0 here
            h = torch.tanh(z)
        else:
            assert math.isnan(row.saturation) and math.isnan(row.inactive)  # nothing after the readout


def test_default_lr_and_mse_for_regression_targets():
    X, _ = batch(n=16)
    y = np.linspace(-3, 3, 16)
    model = mlp(1, nn.ReLU, init="he", dtype=torch.float64)
    report = gradient_health(model, X, y)
    assert report.lr == DEFAULT_LR
    expected = nn.functional.mse_loss(model(torch.from_numpy(X))[:, 0], torch.from_numpy(y)).item()
    assert report.loss == pytest.approx(expected, rel=1e-12)


def test_non_finite_values_are_found_and_called_exploding():
    X, y = batch()
    model = mlp(3, nn.ReLU, init="he")
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    report = gradient_health(model, X, y)
    assert report.verdict == "exploding"
    assert report.rows[1].nonfinite_weights == 1
    assert report.rows[1].nonfinite_grads > 0
    # The cause, not the NaN loss it causes; model[2] is the second Linear, layer 2.
    assert "layer 2 has 1 inf/NaN weights" in report.reason
    # Huge inputs overflow float32 on the way: the loss itself is inf or NaN.
    huge = gradient_health(mlp(3, nn.ReLU, init="he"), X * 1e38, y)
    assert huge.verdict == "exploding" and not math.isfinite(huge.loss)


def test_saturated_sigmoid_units_are_counted():
    X, y = batch()
    report = gradient_health(mlp(3, nn.Sigmoid, scale=30.0), X, y)
    # Weights 30x torch's default put most |z| far beyond sigmoid's knee.
    assert all(row.saturation > 0.5 for row in report.rows[:3])
    assert all(row.inactive == 0.0 for row in report.rows[:3])  # saturated, not inactive
    mild = gradient_health(mlp(3, nn.Sigmoid), X, y)
    assert all(row.saturation < 0.05 for row in mild.rows[:3])


def test_table_mentions_every_layer_and_the_verdict():
    X, y = batch()
    report = gradient_health(mlp(3, nn.Tanh), X, y)
    text = report.table()
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["layer", "type", "grad"]
    for row in report.rows:
        assert any(line.split()[0] == row.name for line in lines[2:])
    assert f"verdict: {report.verdict}" in text
    widths = {len(line) for line in lines[:2]}
    assert len(widths) == 1  # header and rule line up
    assert "e-" in text or "e+" in text  # two-digit scientific notation, stable across machines


class TwoLayers(nn.Module):
    """A custom module with functional activations and layers created out of order."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 1)
        self.body = nn.Linear(8, 16)
        self.scale = nn.Parameter(torch.ones(1))  # not a layer: no row of its own

    def forward(self, x):
        return self.head(torch.relu(self.body(x)) * self.scale)


def test_custom_module_gets_a_row_per_weight_layer():
    X, y = batch()
    report = gradient_health(TwoLayers(), X, y)
    assert [row.name for row in report.rows] == ["head", "body"]  # registration order
    assert all(math.isnan(row.saturation) for row in report.rows)  # torch.relu has no module to hook
    # "First" means first in the forward pass: body, although head was registered first.
    assert "first layer ('body')" in report.reason and "last layer's ('head')" in report.reason
    assert report.verdict == "healthy", report.reason


def test_rnn_classifier_rows_and_recurrent_saturation():
    task = make_tense_task(32, 20, np.random.default_rng(0))
    X, y = task.one_hot(), task.labels
    calm = gradient_health(RNNClassifier(task.vocab_size, hidden=16, radius=1.0, rng=np.random.default_rng(0)), X, y)
    assert [(row.name, row.kind) for row in calm.rows] == [("rnn", "RNN"), ("readout", "Linear")]
    assert calm.verdict == "healthy", calm.reason
    wild = gradient_health(RNNClassifier(task.vocab_size, hidden=16, radius=5.0, rng=np.random.default_rng(0)), X, y)
    # A recurrent radius of 5 drives tanh into saturation and the weight gradient up.
    assert wild.rows[0].saturation > 0.3 > calm.rows[0].saturation
    assert wild.verdict == "exploding", wild.reason


def test_custom_loss_with_integer_class_targets():
    X, _ = batch(n=20)
    y = np.arange(20) % 3
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 12), nn.Tanh(), nn.Linear(12, 3))
    report = gradient_health(model, X, y, loss_fn=nn.CrossEntropyLoss())
    expected = nn.functional.cross_entropy(model(torch.from_numpy(X).float()), torch.from_numpy(y)).item()
    assert report.loss == pytest.approx(expected, rel=1e-6)


def test_batch_norm_running_statistics_are_restored():
    X, y = batch()
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
    before = model[1].running_mean.clone()
    report = gradient_health(model, X * 5 + 3, y)
    assert torch.equal(model[1].running_mean, before)
    assert [row.kind for row in report.rows] == ["Linear", "BatchNorm1d", "Linear"]
    assert [row.name for row in report.rows] == ["1", "after 1", "2"]  # only weight matrices get a number
    assert not report.rows[1].is_matrix and report.rows[0].inactive > 0  # relu after BN credited to layer 1
    assert math.isnan(report.rows[1].inactive)


def test_health_plot_draws_the_norms_on_a_log_scale():
    X, y = batch()
    report = gradient_health(mlp(20, nn.Sigmoid), X, y)
    fig, (ax,) = new_figure()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        health_plot(ax, report)
    assert ax.get_yscale() == "log" and ax.get_xlabel() and ax.get_ylabel()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), report.grad_norms)
    assert "vanishing" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in range(1, 22)]


@pytest.mark.parametrize("kwargs, message", [
    ({"model": "not a model"}, r"model must be a torch nn.Module, got str"),
    ({"lr": 0.0}, r"lr must be None \(meaning 0.001\) or a finite number > 0, got 0.0"),
    ({"loss_fn": 3}, r"loss_fn must be None or a function"),
    ({"model": nn.Sequential(nn.ReLU())}, r"model has no module with a 'weight' parameter"),
    ({"loss_fn": lambda out, y: out}, r"loss_fn must return a scalar tensor, got Tensor of shape \(64, 1\)"),
])
def test_bad_arguments_say_what_is_allowed(kwargs, message):
    X, y = batch()
    args = {"model": mlp(1, nn.ReLU), "X": X, "y": y, **kwargs}
    with pytest.raises(ValueError, match=message):
        gradient_health(**args)


# --- saturated and inactive units ----------------------------------------------------

def test_relu_units_are_inactive_not_saturated():
    X, y = batch(n=16)
    model = mlp(3, nn.ReLU, init="he", dtype=torch.float64)
    report = gradient_health(model, X, y)
    h = torch.from_numpy(X)
    for row, k in zip(report.rows[:3], (0, 2, 4)):
        z = model[k](h).detach()
        assert row.saturation == 0.0  # a relu never flattens out
        assert row.inactive == pytest.approx((z <= 0).double().mean().item(), abs=1e-12)
        assert 0.3 < row.inactive < 0.7  # about half, in a healthy He-initialised layer
        h = torch.relu(z)
    first = _table_rows(report)[0]
    assert list(first)[5:7] == ["saturated", "inactive"]  # side by side
    assert (first["saturated"], first["inactive"]) == ("0%", f"{100 * report.rows[0].inactive:.0f}%")
    assert report.verdict == "healthy" and "saturat" not in report.reason


def test_leaky_relu_is_neither_and_a_leak_of_0_is_a_relu():
    X, y = batch()
    report = gradient_health(mlp(2, nn.LeakyReLU, init="he"), X, y)
    assert all(row.saturation == 0.0 and row.inactive == 0.0 for row in report.rows[:2])
    no_leak = gradient_health(mlp(2, lambda: nn.LeakyReLU(negative_slope=0.0), init="he"), X, y)
    assert all(0.3 < row.inactive < 0.7 for row in no_leak.rows[:2])


class ReluRNN(nn.Module):
    """A relu nn.RNN and a readout: its state is exactly 0 where the unit is inactive."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.RNN(2, 16, nonlinearity="relu", batch_first=True)
        self.readout = nn.Linear(16, 1)

    def forward(self, x):
        return self.readout(self.rnn(x)[0][:, -1])[:, 0]


def test_relu_rnn_states_are_inactive_where_they_are_0():
    x, y = make_adding_task(32, 10, np.random.default_rng(0))
    model = ReluRNN()
    report = gradient_health(model, x, y)
    h = model.rnn(torch.from_numpy(x).float())[0]
    assert report.rows[0].name == "rnn" and report.rows[0].saturation == 0.0
    assert report.rows[0].inactive == pytest.approx((h == 0).double().mean().item(), abs=1e-12)
    assert report.rows[0].inactive > 0


# --- layer names: 1..L in an nn.Sequential, module names otherwise ------------------------

def test_sequential_layers_are_numbered_1_to_L_in_table_verdict_and_plot():
    X, y = batch()
    report = gradient_health(mlp(6, nn.Sigmoid), X, y)
    assert report.names == [str(k) for k in range(1, 8)]
    assert [row.module for row in report.rows] == [str(k) for k in range(0, 13, 2)]
    assert [line.split()[0] for line in report.table().splitlines()[2:9]] == report.names
    assert report.verdict == "vanishing" and "first layer (1) " in report.reason and "last layer's (7)" in report.reason
    fig, (ax,) = new_figure()
    health_plot(ax, report)
    np.testing.assert_array_equal(ax.get_xticks(), np.arange(1, 8))
    assert [t.get_text() for t in ax.get_xticklabels()] == report.names


def test_residual_sequential_is_numbered_too():
    config = NetConfig(depth=4, width=8, activation="relu", init="he", n_in=8, residual=True)
    model = to_torch(init_params(config, np.random.default_rng(0)), "relu", residual=True)
    report = gradient_health(model, *batch())
    assert report.names == ["1", "2", "3", "4", "5"]
    assert report.rows[1].module == "2.branch.0"  # the Linear inside the first ResidualBlock
    assert all(0.2 < row.inactive < 0.8 for row in report.rows[:4])


def test_models_with_named_submodules_keep_their_names():
    x, y = make_adding_task(64, 20, np.random.default_rng(0))
    report = gradient_health(RNNRegressor(2, hidden=8, radius=1.0, rng=np.random.default_rng(0)), x, y, lr=5.0)
    assert report.names == ["rnn", "readout"] == [row.module for row in report.rows]
    table = report.table().splitlines()
    assert [line.split()[0] for line in table[2:4]] == ["rnn", "readout"]
    # Ordinary gradients, a step far too long for them: the learning rate, not the gradients, is the problem.
    assert report.verdict == "learning rate too large" and "would move layer 'readout' by" in report.reason
    assert "no gradient grows towards the first layer or step" in report.reason


# --- every verdict agrees with the table beside it -------------------------------------

def _table_rows(report) -> list:
    """The printed table as dicts, header -> cell (columns are two or more spaces apart)."""
    lines = report.table().splitlines()
    headers = re.split(r"\s{2,}", lines[0])
    return [dict(zip(headers, re.split(r"\s{2,}", line))) for line in lines[2:2 + len(report.rows)]]


def _deep(activation, init, depth=10):
    config = NetConfig(depth=depth, width=16, activation=activation, init=init, n_in=8)
    return to_torch(init_params(config, np.random.default_rng(0)), activation)


def _insurance():
    X, y, _, _ = insurance_split()
    return X, y


def _adding(T=20):
    return make_adding_task(1000, T, np.random.default_rng(0))


def _rnn(radius):
    return RNNRegressor(2, hidden=32, radius=radius, rng=np.random.default_rng(0))


CASES = {  # name: (model, data, lr, verdict)
    "deep sigmoid, Xavier": (lambda: _deep("sigmoid", "xavier"), batch, 0.1, "vanishing"),
    "deep ReLU, He": (lambda: _deep("relu", "he"), batch, 0.1, "healthy"),
    "ReLU with N(0, 1) weights": (broken_relu_network, _insurance, None, "exploding"),
    "RNN, radius 1.5, lr 0.3": (lambda: _rnn(1.5), _adding, 0.3, "learning rate too large"),
    "RNN, radius 3, T 30": (lambda: _rnn(3.0), lambda: _adding(30), 0.01, "exploding"),
    "RNN, radius 0.9, T 30": (lambda: _rnn(0.9), lambda: _adding(30), 0.01, "vanishing"),
    "shallow ReLU, He": (lambda: mlp(2, nn.ReLU, init="he"), batch, None, "healthy"),
}
COMPARE = re.compile(r"the first layer \((?P<first>\d+|'[^']+')\) gets a gradient (?P<factor>\S+) times "
                     r"the last layer's \((?P<last>\d+|'[^']+')\)")
STEP = re.compile(r"one SGD step with lr (?P<lr>\S+) would move layer (?P<layer>\d+|'[^']+') by "
                  r"(?P<factor>\S+) times its own size")
THROUGH_TIME = re.compile(r"in layer (?P<layer>'[^']+') the gradient at step 1 is (?P<factor>\S+) times the one "
                          r"at step (?P<T>\d+)")


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_verdict_names_layers_and_numbers_of_its_table(case):
    build, data, lr, expected = CASES[case]
    report = gradient_health(build(), *data(), lr=lr)
    table = _table_rows(report)
    assert report.table().splitlines()[-1] == f"verdict: {report.verdict} ({report.reason})"
    assert report.verdict == expected, report.reason
    assert all(row["non-finite g/w"] == "0/0" for row in table)
    layers = [row["layer"] for row in table]
    grad = {row["layer"]: float(row["grad norm"]) for row in table}
    update = {row["layer"]: float(row["update ratio"]) for row in table}
    compare, step = COMPARE.search(report.reason), STEP.search(report.reason)
    through_time = THROUGH_TIME.search(report.reason)
    assert compare or step or through_time, report.reason
    if through_time:  # the same words and number as the table's line for that layer
        assert (f"through time in layer {through_time['layer']}: the gradient at step 1 is "
                f"{through_time['factor']} times the one at step {through_time['T']}") in report.table()
    if compare:
        first, last = (compare[k].strip("'") for k in ("first", "last"))
        assert (first, last) == (layers[0], layers[-1])  # these models run their layers in table order
        ratio = grad[first] / grad[last]  # from the printed norms, two digits each
        assert float(compare["factor"]) == pytest.approx(ratio, rel=0.4)  # the factor has one or two digits
    if step:
        layer = step["layer"].strip("'")
        assert float(step["lr"]) == report.lr
        assert float(step["factor"]) == pytest.approx(update[layer], rel=0.06)
        assert update[layer] == max(update.values()) > EXPLODING_UPDATE_RATIO
    factor = float(through_time["factor"]) if through_time else None
    if report.verdict == "vanishing":
        assert (compare and ratio < 1e-3) or (through_time and factor < 1e-3)
    elif report.verdict == "healthy":
        assert compare and 1e-3 <= ratio <= 1e3 and max(update.values()) <= EXPLODING_UPDATE_RATIO
    elif report.verdict == "learning rate too large":
        # A step too long for ordinary gradients: with DEFAULT_LR the same gradients would be fine.
        assert step and max(update.values()) * DEFAULT_LR / report.lr <= EXPLODING_UPDATE_RATIO
    else:
        assert step or (compare and ratio > 1e3) or factor > 1e3
    # Saturation is read off the same table: a ReLU layer shows none, its inactive units instead.
    if "saturat" in report.reason:
        assert any(row["saturated"] not in ("0%", "-") for row in table)
    if "ReLU" in case:
        assert all(row["saturated"] in ("0%", "-") for row in table)
        assert all(20 <= int(row["inactive"][:-1]) <= 80 for row in table[:-1])
    if "sigmoid" in case:
        assert all(row["inactive"] in ("0%", "-") for row in table)


@pytest.mark.parametrize("model_class", ["RNNRegressor", "ReLURNNRegressor"])
@pytest.mark.parametrize("radius", [0.9, 3.0])
def test_the_gradient_through_time_is_backpropagation_through_time(model_class, radius):
    """The report's ||dL/dh_t|| per step are the numpy BPTT's, t = 1..T, in float64 to float32 rounding."""
    from helpers import rnn
    x, y = make_adding_task(50, 12, np.random.default_rng(1))
    model = getattr(rnn, model_class)(2, hidden=16, radius=radius, rng=np.random.default_rng(0),
                                      dtype=torch.float64)
    with torch.no_grad():  # a nonzero second bias, which the numpy RNN adds to the first
        model.rnn.bias_hh_l0.fill_(0.05)
    report = gradient_health(model, x, y, lr=1e-3)
    recurrent = report.rows[0]
    expected = rnn.state_gradient_norms(model, x, y)[1:]
    np.testing.assert_allclose(recurrent.step_grad_norms, expected, rtol=1e-10)
    assert recurrent.step_ratio == pytest.approx(expected[0] / expected[-1], rel=1e-10)
    assert report.rows[1].step_grad_norms is None  # the readout has no time steps


def test_gradient_through_time_tells_explosion_from_a_too_long_step():
    """Same adding task, T = 30: radius 3 explodes through time at a small lr; radius 0.9 at lr 0.3 only steps too far."""
    x, y = _adding(30)
    exploding = gradient_health(_rnn(3.0), x, y, lr=0.01)
    assert exploding.verdict == "exploding" and exploding.rows[0].step_ratio > 1e3
    assert exploding.rows[1].grad_norm < 10 < exploding.rows[0].grad_norm  # the readout's gradient is ordinary
    too_far = gradient_health(_rnn(0.9), x, y, lr=0.3)
    assert too_far.verdict == "learning rate too large" and too_far.rows[0].step_ratio < 1
    assert "below lr 0.02" in too_far.reason  # 0.3 * 0.1 / (its largest update ratio, about 1.3)


def test_first_nonfinite_output_names_the_module_and_the_time_step():
    from helpers.health import first_nonfinite_output
    from helpers.rnn import ReLURNNRegressor
    x, y = make_adding_task(10, 20, np.random.default_rng(0))
    model = ReLURNNRegressor(2, hidden=8, radius=1.0, rng=np.random.default_rng(0))
    assert first_nonfinite_output(model, x) is None
    with torch.no_grad():
        model.rnn.weight_hh_l0.mul_(1e6)  # each step multiplies the state by about 1e6: float32 overflows
    states, _ = model.rnn(torch.tensor(x, dtype=torch.float32))
    first = int((~torch.isfinite(states)).any(dim=2).any(dim=0).nonzero()[0, 0]) + 1
    assert 2 < first < 20
    assert first_nonfinite_output(model, x) == f"'rnn' (RNN), first at time step {first} of 20"
    net = mlp(3, nn.ReLU)
    with torch.no_grad():
        net[2].weight.fill_(float("inf"))  # the second Linear layer
    assert first_nonfinite_output(net, batch()[0]) == "'2' (Linear)"
    with pytest.raises(ValueError, match="nn.Module"):
        first_nonfinite_output("model", x)
