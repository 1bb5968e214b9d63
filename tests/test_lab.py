"""The remedies lab's numpy training loop: step for step the torch loop of
helpers.training on the same network, clipping and weight decay doing what
they promise, blow-ups recorded silently, bad arguments refused."""
import time
import warnings

import numpy as np
import pytest

from helpers.lab import DEFAULT_BATCH, DEFAULT_STEPS, DEFAULT_WIDTH, LabRun, numpy_train
from helpers.network import NetConfig, init_params, layer_gradients, to_torch
from helpers.training import linear_layers, train

RTOL = 1e-8


def make_data(batch=32, n_in=4, seed=0):
    """x (batch, n_in) standard normal, y (batch,) labels that depend on x, so there is something to learn."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, n_in))
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.standard_normal(batch) > 0).astype(float)
    return x, y


def flat(params) -> np.ndarray:
    """All weights and biases of a list of (W, b) pairs as one vector."""
    return np.concatenate([a.ravel() for pair in params for a in pair])


def torch_run(config, x, y, seed=0, **options):
    """helpers.training.train (SGD) on to_torch of the same initial parameters; (log, model)."""
    params = init_params(config, np.random.default_rng(seed))
    model = to_torch(params, config.activation, batch_norm=config.batch_norm, residual=config.residual)
    log = train(model, x, y, optimizer="sgd", progress=False, **options)
    return log, model


def assert_close(actual, expected, rtol=RTOL):
    # NaN rows (after a blow-up) must be NaN in both.
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0, equal_nan=True)


TORCH_CASES = {
    "plain tanh": (dict(activation="tanh", init="xavier"), dict()),
    "plain sigmoid, normal init": (dict(activation="sigmoid", init="normal"), dict()),
    "clip_norm": (dict(activation="relu", init="he", weight_scale=1.5), dict(clip_norm=0.1)),
    "clip_value": (dict(activation="tanh", init="xavier", weight_scale=2.0), dict(clip_value=0.01)),
    "weight_decay": (dict(activation="leaky_relu", init="he"), dict(weight_decay=0.05)),
    "batch_norm": (dict(activation="relu", init="he", batch_norm=True), dict()),
    "residual": (dict(activation="tanh", init="xavier", weight_scale=0.5, residual=True), dict()),
    "bn + residual + clip_norm + decay": (
        dict(activation="sigmoid", init="xavier", batch_norm=True, residual=True),
        dict(clip_norm=0.5, weight_decay=0.01)),
    "bn + clip_value": (dict(activation="tanh", init="xavier", batch_norm=True), dict(clip_value=0.02)),
}


@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_numpy_train_equals_torch_train(name):
    net, options = TORCH_CASES[name]
    config = NetConfig(depth=6, width=8, **net)
    x, y = make_data()
    run = numpy_train(config, x, y, rng=np.random.default_rng(0), steps=25, lr=0.2, **options)
    log, model = torch_run(config, x, y, steps=25, lr=0.2, **options)
    assert run.first_nonfinite_step is None and log.first_nonfinite_step is None
    assert_close(run.loss, log.loss)
    assert_close(run.grad_norms, log.grad_norms)
    # The parameters at the end agree too (torch's hidden layers have no bias with batch norm).
    torch_weights = [layer.weight.detach().numpy() for _, layer in linear_layers(model)]
    assert len(torch_weights) == config.depth + 1
    for (w, _), w_torch in zip(run.params, torch_weights):
        np.testing.assert_allclose(w, w_torch, rtol=1e-7, atol=1e-12)
    assert run.loss[-1] < run.loss[0]  # it trained: the comparison is not of two flat lines


def test_clipping_is_active_in_the_torch_cases():
    # Otherwise the clipped cases above would compare unclipped runs.
    x, y = make_data()
    for name in ("clip_norm", "clip_value"):
        net, options = TORCH_CASES[name]
        run = numpy_train(NetConfig(depth=6, width=8, **net), x, y, rng=np.random.default_rng(0), steps=1, lr=0.2)
        if "clip_norm" in options:
            assert np.sqrt(np.sum(run.grad_norms[0] ** 2)) > 2 * options["clip_norm"]
        else:
            assert run.grad_norms[0].max() > 10 * options["clip_value"]


def test_first_row_is_the_gradient_at_initialisation():
    config = NetConfig(depth=12, width=16, activation="sigmoid", init="xavier", batch_norm=True)
    x, y = make_data()
    run = numpy_train(config, x, y, rng=np.random.default_rng(4), steps=3)
    np.testing.assert_array_equal(run.grad_norms[0], layer_gradients(config, x, y, np.random.default_rng(4)).weight_norms)


def test_shapes_defaults_and_reproducibility():
    config = NetConfig(depth=7, width=DEFAULT_WIDTH, activation="relu", init="he")
    x, y = make_data(DEFAULT_BATCH)
    run = numpy_train(config, x, y, rng=np.random.default_rng(0))
    assert isinstance(run, LabRun)
    assert run.loss.shape == (DEFAULT_STEPS,)
    assert run.grad_norms.shape == (DEFAULT_STEPS, config.depth + 1)
    assert [w.shape for w, _ in run.params] == [(16, 4)] + [(16, 16)] * 6 + [(1, 16)]
    again = numpy_train(config, x, y, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(run.loss, again.loss)
    assert not np.array_equal(run.loss, numpy_train(config, x, y, rng=np.random.default_rng(1)).loss)
    assert not run.diverged


@pytest.mark.parametrize("scale", [1.0, 3.0, 1e3])
@pytest.mark.parametrize("activation,residual", [("relu", False), ("tanh", True)])
def test_clip_norm_bounds_the_update(scale, activation, residual):
    config = NetConfig(depth=8, width=8, activation=activation, init="he", weight_scale=scale, residual=residual)
    x, y = make_data()
    lr, clip = 0.5, 0.05
    before = flat(init_params(config, np.random.default_rng(0)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = numpy_train(config, x, y, rng=np.random.default_rng(0), steps=1, lr=lr, clip_norm=clip)
    step = flat(run.params) - before
    assert np.all(np.isfinite(step))
    assert np.linalg.norm(step) <= lr * clip * (1 + 1e-12)
    # The weights alone already had a larger gradient: the bound did some work.
    assert np.sqrt(np.sum(run.grad_norms[0] ** 2)) > clip


def test_clip_value_bounds_every_entry_of_the_update():
    config = NetConfig(depth=8, width=8, activation="relu", init="he", weight_scale=3.0)
    x, y = make_data()
    before = flat(init_params(config, np.random.default_rng(0)))
    run = numpy_train(config, x, y, rng=np.random.default_rng(0), steps=1, lr=0.5, clip_value=0.01)
    step = np.abs(flat(run.params) - before)
    assert step.max() <= 0.5 * 0.01 * (1 + 1e-12)
    assert step.max() >= 0.5 * 0.01 * (1 - 1e-12)  # some entry was cut to the limit


def test_weight_decay_adds_lr_times_decay_times_weights_to_the_step():
    # Coupled L2 as torch.optim.SGD: theta <- theta - lr * (g + wd * theta), so one step
    # with decay differs from one without by exactly -lr * wd * theta_0.
    config = NetConfig(depth=5, width=8, activation="tanh", init="xavier")
    x, y = make_data()
    lr, wd = 0.3, 0.2
    theta0 = flat(init_params(config, np.random.default_rng(0)))
    plain = flat(numpy_train(config, x, y, rng=np.random.default_rng(0), steps=1, lr=lr).params)
    decayed = flat(numpy_train(config, x, y, rng=np.random.default_rng(0), steps=1, lr=lr, weight_decay=wd).params)
    np.testing.assert_allclose(decayed - plain, -lr * wd * theta0, rtol=1e-9, atol=1e-15)


def test_weight_decay_is_applied_after_clipping_as_in_torch():
    # Clipping sees the loss gradient only; the decay term is added afterwards,
    # so it is not shrunk with it. torch.optim.SGD does the same.
    config = NetConfig(depth=5, width=8, activation="relu", init="he", weight_scale=2.0)
    x, y = make_data()
    run = numpy_train(config, x, y, rng=np.random.default_rng(0), steps=10, lr=0.2, clip_norm=0.05, weight_decay=0.5)
    log, _ = torch_run(config, x, y, steps=10, lr=0.2, clip_norm=0.05, weight_decay=0.5)
    assert_close(run.loss, log.loss)


def test_blow_up_is_recorded_without_warnings():
    # Residual relu blocks without batch norm double the activations' size per layer.
    config = NetConfig(depth=40, width=8, activation="relu", init="he", weight_scale=3.0, residual=True)
    x, y = make_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = numpy_train(config, x, y, rng=np.random.default_rng(0), steps=8, lr=0.1)
    assert run.diverged
    first = run.first_nonfinite_step
    assert first is not None and 0 <= first < 8
    assert run.loss.shape == (8,)  # it kept going after the blow-up
    assert not np.all(np.isfinite(run.loss[first + 1:]))
    assert np.all(np.isfinite(run.loss[:first]))
    log, _ = torch_run(config, x, y, steps=8, lr=0.1)
    assert log.first_nonfinite_step == first


@pytest.mark.parametrize("scale", [0.0, 1e-30, 1e30, 1e300])
@pytest.mark.parametrize("options", [{}, {"clip_norm": 1.0}, {"clip_value": 1.0}, {"weight_decay": 0.1}])
def test_extreme_weights_never_warn(scale, options):
    config = NetConfig(depth=10, width=8, activation="sigmoid", init="normal", weight_scale=scale, batch_norm=True)
    x, y = make_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = numpy_train(config, x, y, rng=np.random.default_rng(0), steps=4, **options)
    assert run.loss.shape == (4,)


def test_clip_norm_turns_an_inf_gradient_into_nan_like_torch():
    # torch: threshold / inf = 0 scales finite entries to 0 and inf entries to NaN.
    config = NetConfig(depth=3, width=4, activation="linear", init="normal", weight_scale=1e120)
    x, y = make_data(batch=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = numpy_train(config, x, y, rng=np.random.default_rng(0), steps=3, clip_norm=1.0)
    log, _ = torch_run(config, x, y, steps=3, lr=0.1, clip_norm=1.0)
    assert run.first_nonfinite_step == log.first_nonfinite_step == 0
    assert_close(run.loss, log.loss)


BAD_ARGUMENTS = [
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(steps=2.5), "steps must be an integer >= 1"),
    (dict(steps=True), "steps must be an integer >= 1"),
    (dict(lr=0), "lr must be a finite number > 0"),
    (dict(lr=float("nan")), "lr must be a finite number > 0"),
    (dict(lr="0.1"), "lr must be a finite number > 0"),
    (dict(clip_norm=0), "clip_norm must be None or a finite number > 0"),
    (dict(clip_norm=float("inf")), "clip_norm must be None or a finite number > 0"),
    (dict(clip_value=-1.0), "clip_value must be None or a finite number > 0"),
    (dict(clip_norm=1.0, clip_value=1.0), "choose one of clip_norm and clip_value"),
    (dict(weight_decay=-0.1), "weight_decay must be a finite number >= 0"),
    (dict(weight_decay=float("inf")), "weight_decay must be a finite number >= 0"),
    (dict(rng=0), "rng must be a np.random.Generator"),
]


@pytest.mark.parametrize("kwargs,message", BAD_ARGUMENTS)
def test_bad_options_raise(kwargs, message):
    x, y = make_data()
    with pytest.raises(ValueError, match=message):
        numpy_train(NetConfig(depth=2, width=4), x, y, **{"rng": np.random.default_rng(0), **kwargs})


def test_bad_config_and_data_raise():
    x, y = make_data()
    with pytest.raises(ValueError, match="config must be a helpers.network.NetConfig"):
        numpy_train({"depth": 2}, x, y, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 4\)"):
        numpy_train(NetConfig(depth=2, width=4), x[:, :3], y, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"y must hold labels in \[0, 1\]"):
        numpy_train(NetConfig(depth=2, width=4), x, y + 1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="batch_norm needs a batch of at least 2 rows"):
        numpy_train(NetConfig(depth=2, width=4, batch_norm=True), x[:1], y[:1], rng=np.random.default_rng(0))


def test_one_lab_update_is_fast():
    # The lab's budget is ~40 ms at depth 20 (see helpers.lab); the bound is loose so
    # that a busy machine passes, and catches only a slowdown by a large factor.
    config = NetConfig(depth=20, width=DEFAULT_WIDTH, activation="tanh", init="xavier", batch_norm=True)
    x, y = make_data(DEFAULT_BATCH)
    numpy_train(config, x, y, rng=np.random.default_rng(0))
    times = []
    for _ in range(5):
        start = time.process_time()
        numpy_train(config, x, y, rng=np.random.default_rng(0), clip_norm=1.0, weight_decay=1e-3)
        times.append(time.process_time() - start)
    assert np.median(times) < 0.4
