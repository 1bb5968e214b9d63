"""The gradient health report: verdicts on models known to vanish, explode or be
healthy; its numbers against autograd and closed forms; non-finite values;
saturation; any kind of model; the table and the plot."""
import math
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
from helpers.plots import health_plot, new_figure
from helpers.rnn import RNNClassifier
from helpers.tasks import make_tense_task


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
    assert "first layer ('0')" in report.reason and "last layer's ('40')" in report.reason
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
    assert [row.name for row in report.rows] == ["0", "2", "4"]
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
            h = torch.tanh(z)
        else:
            assert math.isnan(row.saturation)  # nothing after the readout


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
    assert "layer '2' has 1 inf/NaN weights" in report.reason  # the cause, not the NaN loss it causes
    # Huge inputs overflow float32 on the way: the loss itself is inf or NaN.
    huge = gradient_health(mlp(3, nn.ReLU, init="he"), X * 1e38, y)
    assert huge.verdict == "exploding" and not math.isfinite(huge.loss)


def test_saturated_sigmoid_units_are_counted():
    X, y = batch()
    report = gradient_health(mlp(3, nn.Sigmoid, scale=30.0), X, y)
    # Weights 30x torch's default put most |z| far beyond sigmoid's knee.
    assert all(row.saturation > 0.5 for row in report.rows[:3])
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
    assert not report.rows[1].is_matrix and report.rows[0].saturation > 0  # relu after BN credited to Linear '0'


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
