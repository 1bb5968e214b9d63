"""The training loop's diagnostics, checked against independent autograd computations."""
import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import helpers.progress
import helpers.training
from helpers.data import load_insurance, standardize
from helpers.progress import progress_bar
from helpers.rnn import RNNRegressor
from helpers.tasks import make_adding_task
from helpers.training import TrainLog, binary_accuracy, gradient_norms, linear_layers, train


@pytest.fixture(scope="module")
def insurance():
    """Standardised insurance features (1000, 4) and labels (1000,), float32 tensors."""
    data = load_insurance()
    Xs, _, _ = standardize(data.X)
    return torch.tensor(Xs, dtype=torch.float32), torch.tensor(data.y, dtype=torch.float32)


def make_mlp(sizes=(4, 16, 16, 1), seed=0, dtype=torch.float32, act=nn.Tanh) -> nn.Sequential:
    """An MLP initialised from its own generator (PyTorch's default init uses the global one)."""
    g = torch.Generator().manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layer = nn.Linear(fan_in, fan_out, dtype=dtype)
        bound = fan_in ** -0.5
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=g)
            layer.bias.uniform_(-bound, bound, generator=g)
        layers += [layer, act()]
    return nn.Sequential(*layers[:-1])


def two_scalars(w0: float, w1: float) -> nn.Sequential:
    """x -> w1 * (w0 * x): two 1x1 Linear layers without bias, float32."""
    model = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(w0)
        model[1].weight.fill_(w1)
    return model


def replay_first_nonfinite(model, X, y, lr, steps, loss_fn):
    """Plain SGD by hand with autograd.grad; returns (losses, step, what) of the first inf/NaN.

    Runs on one thread like `train`: a blow-up amplifies the last bit of any
    difference in summation order, so the replay must add up in the same order.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _replay(model, X, y, lr, steps, loss_fn)
    finally:
        torch.set_num_threads(threads)


def _replay(model, X, y, lr, steps, loss_fn):
    params = dict(model.named_parameters())
    losses = []
    for step in range(steps):
        loss = loss_fn(model(X)[:, 0], y)
        losses.append(loss.item())
        if not torch.isfinite(loss):
            return losses, step, "loss"
        grads = torch.autograd.grad(loss, list(params.values()))
        for name, g in zip(params, grads):
            if not torch.isfinite(g).all():
                return losses, step, f"gradient of {name}"
        with torch.no_grad():
            for p, g in zip(params.values(), grads):
                # The same float32 operation as the optimizer: the blow-up is chaotic,
                # so last-bit differences would grow into visibly different losses.
                p.add_(g, alpha=-lr)
        for name, p in params.items():
            if not torch.isfinite(p).all():
                return losses, step, name
    return losses, None, None


# --- linear_layers -------------------------------------------------------------------


def test_linear_layers_in_forward_order():
    model = make_mlp()
    assert [name for name, _ in linear_layers(model)] == ["0", "2", "4"]
    assert all(isinstance(layer, nn.Linear) for _, layer in linear_layers(model))

    class Nested(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(nn.Linear(3, 5), nn.ReLU())
            self.head = nn.Linear(5, 1)

        def forward(self, x):
            return self.head(self.encoder(x))

    assert [name for name, _ in linear_layers(Nested())] == ["encoder.0", "head"]
    with pytest.raises(ValueError, match="nn.Module"):
        linear_layers("not a model")


# --- recorded diagnostics against independent computations ------------------------


def test_grad_norms_equal_autograd_at_step_0(insurance):
    X, y = insurance
    model = make_mlp(seed=1)
    reference = copy.deepcopy(model)
    log = train(model, X, y, steps=3, lr=0.1, progress=False)

    loss = nn.functional.binary_cross_entropy_with_logits(reference(X)[:, 0], y)
    weights = [layer.weight for _, layer in linear_layers(reference)]
    grads = torch.autograd.grad(loss, weights)
    expected = [torch.linalg.norm(g.double()).item() for g in grads]

    assert log.layer_names == ["0", "2", "4"]
    assert log.grad_norms.shape == (3, 3)
    np.testing.assert_allclose(log.grad_norms[0], expected, rtol=1e-6)
    assert log.loss[0] == pytest.approx(loss.item(), rel=1e-6)


def test_rel_weight_change_matches_manual_sgd(insurance):
    X, y = (t.double() for t in insurance)
    model = make_mlp(seed=2, dtype=torch.float64)
    reference = copy.deepcopy(model)
    lr = 0.3
    log = train(model, X, y, steps=4, lr=lr, progress=False)

    params = list(reference.parameters())
    weights = [layer.weight for _, layer in linear_layers(reference)]
    for step in range(4):
        loss = nn.functional.binary_cross_entropy_with_logits(reference(X)[:, 0], y)
        grads = dict(zip(map(id, params), torch.autograd.grad(loss, params)))
        expected = [torch.linalg.norm(lr * grads[id(w)]) / torch.linalg.norm(w) for w in weights]
        np.testing.assert_allclose(log.rel_weight_change[step], torch.stack(expected).detach().numpy(), rtol=1e-9)
        with torch.no_grad():
            for p in params:
                p -= lr * grads[id(p)]
    # The trained model ends where the manual replay ends.
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_accuracy_is_that_of_the_batch_before_the_update(insurance):
    X, y = insurance
    model = make_mlp(seed=3)
    expected = ((model(X)[:, 0] > 0) == (y > 0.5)).double().mean().item()
    log = train(model, X, y, steps=2, lr=0.1, progress=False)
    assert log.accuracy[0] == pytest.approx(expected)
    assert train(make_mlp(), X, y, steps=2, lr=0.1, loss="mse", progress=False).accuracy is None


def test_zero_weights_give_nan_relative_change_without_warnings():
    model = make_mlp(sizes=(2, 3, 1))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    X = torch.ones(5, 2)
    y = torch.ones(5)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log = train(model, X, y, steps=1, lr=0.1, progress=False)
    # All weights zero: every weight gradient is zero, nothing moves, 0/0 -> NaN.
    assert np.all(log.grad_norms[0] == 0)
    assert np.all(np.isnan(log.rel_weight_change[0]))
    assert not log.diverged
    assert caught == []


# --- learning --------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, lr", [("sgd", 1.0), ("adam", 0.03)])
def test_loss_decreases_on_insurance(insurance, optimizer, lr):
    X, y = insurance
    log = train(make_mlp(seed=4), X, y, steps=100, lr=lr, optimizer=optimizer, progress=False)
    assert isinstance(log, TrainLog)
    assert log.loss.shape == (100,) and log.loss.dtype == np.float64
    assert log.final_loss < log.loss[50] < log.loss[0]
    assert log.final_loss < 0.7 * log.loss[0]
    assert log.final_accuracy > 0.7
    assert not log.diverged and log.first_nonfinite_what is None
    assert "100 steps" in log.summary()


def test_minibatches_follow_the_generator(insurance):
    X, y = insurance
    runs = [train(make_mlp(), X, y, steps=5, lr=0.1, batch_size=64, generator=torch.Generator().manual_seed(s),
                  progress=False) for s in (0, 0, 1)]
    np.testing.assert_array_equal(runs[0].loss, runs[1].loss)
    assert not np.array_equal(runs[0].loss, runs[2].loss)
    full = train(make_mlp(), X, y, steps=1, lr=0.1, progress=False)
    assert full.loss[0] != runs[0].loss[0]  # a batch of 64 is not all 1000 rows


def test_numpy_inputs_and_column_targets_are_accepted():
    data = load_insurance()
    Xs, _, _ = standardize(data.X[:100])
    from_numpy = train(make_mlp(), Xs, data.y[:100, None], steps=3, lr=0.1, progress=False)
    from_torch = train(make_mlp(), torch.tensor(Xs, dtype=torch.float32),
                       torch.tensor(data.y[:100], dtype=torch.float32), steps=3, lr=0.1, progress=False)
    np.testing.assert_array_equal(from_numpy.loss, from_torch.loss)


def test_model_without_linear_layers_still_trains():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x[:, 0] * self.w

    model = Scale()
    log = train(model, torch.ones(4, 1), torch.full((4,), 2.0), steps=20, lr=0.1, loss="mse", progress=False)
    assert log.grad_norms.shape == (20, 0) and log.layer_names == []
    assert model.w.item() == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("optimizer, weight_decay", [("sgd", 0.0), ("sgd", 0.1), ("adam", 0.0), ("adam", 0.05)])
def test_optimizers_follow_torch_optim(insurance, optimizer, weight_decay):
    X, y = insurance
    model = make_mlp(seed=5)
    reference = copy.deepcopy(model)
    train(model, X, y, steps=10, lr=0.05, optimizer=optimizer, weight_decay=weight_decay, progress=False)
    cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = cls(reference.parameters(), lr=0.05, weight_decay=weight_decay)
    for _ in range(10):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(reference(X)[:, 0], y).backward()
        opt.step()
    for a, b in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


# --- blow-ups --------------------------------------------------------------------------


def test_huge_learning_rate_blows_up_where_a_manual_replay_does(insurance):
    X, y = insurance
    model = make_mlp(seed=6)
    reference = copy.deepcopy(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        log = train(model, X, y, steps=40, lr=10.0, loss="mse", progress=False)
    assert caught == []
    losses, step, what = replay_first_nonfinite(reference, X, y, 10.0, 40, nn.functional.mse_loss)
    assert step is not None and step > 0  # it takes a few steps to explode
    assert (log.first_nonfinite_step, log.first_nonfinite_what) == (step, what)
    np.testing.assert_allclose(log.loss[:step], losses[:step], rtol=1e-6)
    # It keeps running and records NaN after the blow-up.
    assert log.n_steps == 40
    assert np.isnan(log.loss[-1]) and log.diverged


def test_first_nonfinite_can_be_a_gradient():
    # w0 * x = 1e30 is finite, the output 1e10 too, the loss 1e20 too, but the
    # gradient of the second weight, 2 * 1e10 * 1e30, overflows float32.
    X, y = torch.ones(1, 1), torch.zeros(1)
    log = train(two_scalars(1e30, 1e-20), X, y, steps=3, lr=0.1, loss="mse", progress=False)
    _, step, what = replay_first_nonfinite(two_scalars(1e30, 1e-20), X, y, 0.1, 3, nn.functional.mse_loss)
    assert (step, what) == (0, "gradient of 1.weight")
    assert (log.first_nonfinite_step, log.first_nonfinite_what) == (step, what)
    assert np.isfinite(log.loss[0]) and np.isinf(log.grad_norms[0, 1]) and np.isfinite(log.grad_norms[0, 0])


def test_first_nonfinite_can_be_a_weight():
    # Finite loss and gradients (22 each), but 1e38 * 22 overflows float32 in the update.
    X, y = torch.ones(1, 1), torch.full((1,), -10.0)
    log = train(two_scalars(1.0, 1.0), X, y, steps=2, lr=1e38, loss="mse", progress=False)
    _, step, what = replay_first_nonfinite(two_scalars(1.0, 1.0), X, y, 1e38, 2, nn.functional.mse_loss)
    assert (step, what) == (0, "0.weight")
    assert (log.first_nonfinite_step, log.first_nonfinite_what) == (step, what)
    np.testing.assert_allclose(log.grad_norms[0], [22.0, 22.0])
    assert np.all(np.isinf(log.rel_weight_change[0]))


def test_stop_on_nonfinite_stops_at_the_blow_up(insurance):
    X, y = insurance
    log = train(make_mlp(seed=6), X, y, steps=40, lr=10.0, loss="mse", stop_on_nonfinite=True, progress=False)
    assert log.first_nonfinite_step is not None
    assert log.n_steps == log.first_nonfinite_step + 1
    assert log.grad_norms.shape == (log.n_steps, 3) and log.rel_weight_change.shape == (log.n_steps, 3)
    assert "non-finite from step" in log.summary()


def test_clip_norm_bounds_the_update(insurance):
    X, y = insurance
    lr, clip = 2.0, 0.01
    model = make_mlp(seed=7)
    before = [p.detach().clone() for p in model.parameters()]
    log = train(model, X, y, steps=1, lr=lr, loss="mse", clip_norm=clip, progress=False)
    step_norm = torch.linalg.norm(torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before)]))
    assert log.grad_norms[0].max() > clip  # the recorded gradient is the unclipped one
    assert step_norm.item() <= lr * clip * (1 + 1e-5)
    assert step_norm.item() == pytest.approx(lr * clip, rel=1e-3)  # clipping was active
    unclipped = train(make_mlp(seed=7), X, y, steps=1, lr=lr, loss="mse", progress=False)
    assert np.all(unclipped.rel_weight_change[0] > log.rel_weight_change[0])


# --- arguments -------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps"),
    (dict(steps=2.5), "steps"),
    (dict(lr=-1.0), "lr"),
    (dict(lr=float("nan")), "lr"),
    (dict(loss="hinge"), "loss"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=11), "batch_size"),
    (dict(clip_norm=0.0), "clip_norm"),
    (dict(weight_decay=-0.1), "weight_decay"),
    (dict(batch_size=2), "with batch_size, generator must be a torch.Generator"),
    (dict(batch_size=2, generator=123), "generator must be a torch.Generator"),
    (dict(generator=123), "generator must be None or a torch.Generator"),
])
def test_bad_arguments_raise(kwargs, message):
    args = dict(steps=2, lr=0.1, progress=False) | kwargs
    with pytest.raises(ValueError, match=message):
        train(make_mlp(), torch.zeros(10, 4), torch.zeros(10), **args)


def test_bad_data_raises():
    with pytest.raises(ValueError, match="same number of rows"):
        train(make_mlp(), torch.zeros(10, 4), torch.zeros(9), steps=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train(make_mlp(), torch.zeros(10, 4), torch.full((10,), 3.0), steps=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="output shape"):
        train(make_mlp(sizes=(4, 2)), torch.zeros(10, 4), torch.zeros(10), steps=1, lr=0.1, progress=False)


# --- progress bar ----------------------------------------------------------------------


def test_progress_bar_is_silent_outside_a_kernel(capfd, monkeypatch):
    with progress_bar(5, "training") as bar:
        for _ in range(5):
            bar.update()
    assert bar.displayed is False
    assert (bar.count, bar.total, bar.closed) == (5, 5, True)
    assert bar.text() == "training: 5/5 steps"
    # A long run would use the bar; a lower threshold keeps the test short.
    monkeypatch.setattr(helpers.training, "PROGRESS_MIN_STEPS", 20)
    train(make_mlp(sizes=(4, 1)), torch.zeros(8, 4), torch.zeros(8), steps=20, lr=0.1)
    assert capfd.readouterr() == ("", "")


def test_progress_bar_arguments():
    with pytest.raises(ValueError, match="total"):
        progress_bar(-1, "x")
    with pytest.raises(ValueError, match="label"):
        progress_bar(3, 7)
    bar = progress_bar(3, "x")
    with pytest.raises(ValueError, match="n must be"):
        bar.update(-2)
    bar.close()
    with pytest.raises(ValueError, match="after close"):
        bar.update()



def test_in_a_kernel_the_bar_is_one_output_with_fixed_text(monkeypatch):
    """Pretend to be in a kernel: one display, a widget for the live view and a
    machine-independent text that the stored notebook keeps; the bar ends full."""
    import IPython.display

    shown = []
    monkeypatch.setattr(helpers.progress, "in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    monkeypatch.setattr(helpers.training, "PROGRESS_MIN_STEPS", 20)
    train(make_mlp(sizes=(4, 1)), torch.zeros(8, 4), torch.zeros(8), steps=19, lr=0.1)
    assert shown == []  # short runs show no bar at all
    with helpers.progress.progress_bar(20, "training") as bar:
        for _ in range(20):
            bar.update()
    ((bundle, kwargs),) = shown
    assert kwargs == {"raw": True}
    assert bundle["text/plain"] == "training: 20 steps"
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bar._bar.value == 20 and bar._label.value == "training: 20/20 steps"


def test_train_restores_the_callers_thread_count(insurance):
    X, y = insurance
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(make_mlp(seed=0), X, y, steps=2, lr=0.1, progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_recurrent_weight_matrices_are_recorded_by_name():
    from helpers.rnn import RNNRegressor

    model = RNNRegressor(2, hidden=8, radius=1.0, rng=np.random.default_rng(0))
    x = torch.rand(16, 5, 2, generator=torch.Generator().manual_seed(0))
    y = x[:, :, 0].sum(dim=1)
    log = train(model, x, y, steps=3, lr=0.01, loss="mse", progress=False)
    assert log.layer_names == ["rnn.weight_ih_l0", "rnn.weight_hh_l0", "readout"]
    fresh = RNNRegressor(2, hidden=8, radius=1.0, rng=np.random.default_rng(0))
    loss = nn.functional.mse_loss(fresh(x), y)
    (g_hh,) = torch.autograd.grad(loss, [fresh.rnn.weight_hh_l0])
    assert log.grad_norms[0, 1] == pytest.approx(g_hh.norm().item(), rel=1e-5)


def test_binary_accuracy_counts_matching_signs():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    X = torch.tensor([[-2.0], [-1.0], [1.0], [3.0]])
    assert binary_accuracy(model, X, np.array([0, 0, 1, 0])) == 0.75
    assert binary_accuracy(model, X, torch.tensor([1.0, 1.0, 0.0, 0.0])) == 0.0


def test_clip_value_bounds_every_gradient_entry_of_the_update():
    model = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0, 3.0]]))
    before = model.weight.detach().clone()
    X, y = torch.tensor([[100.0, -100.0, 1e-4]]), torch.tensor([0.0])
    train(model, X, y, steps=1, lr=1.0, loss="mse", clip_value=0.5, progress=False)
    step = (model.weight.detach() - before).abs()
    assert step.max().item() == pytest.approx(0.5)  # the two huge entries are cut to the limit
    assert step[0, 2].item() < 0.5  # the small one passes unchanged


def test_clip_norm_and_clip_value_together_are_refused():
    with pytest.raises(ValueError, match="not both"):
        train(nn.Linear(1, 1), torch.ones(2, 1), torch.ones(2), steps=1, lr=0.1, loss="mse",
              clip_norm=1.0, clip_value=1.0, progress=False)


def test_total_grad_norm_is_what_clip_norm_compares_with_its_threshold():
    """All parameters' gradients (biases too), before clipping: torch's clip_grad_norm_ returns the same norm."""
    x, y = make_adding_task(100, 10, np.random.default_rng(0))
    model = RNNRegressor(2, hidden=8, radius=1.5, rng=np.random.default_rng(0))
    reference = copy.deepcopy(model)
    log = train(model, x, y, steps=1, lr=0.1, loss="mse", clip_norm=0.5, progress=False)
    loss = torch.nn.functional.mse_loss(reference(torch.tensor(x, dtype=torch.float32)),
                                        torch.tensor(y, dtype=torch.float32))
    loss.backward()
    expected = torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.5).item()
    assert log.total_grad_norm.shape == (1,)
    assert log.total_grad_norm[0] == pytest.approx(expected, rel=1e-6)
    assert log.total_grad_norm[0] > np.sqrt(np.sum(log.grad_norms[0] ** 2))  # the biases count too


def test_gradient_norms_are_the_first_step_of_train_and_leave_the_model_alone():
    from helpers.training import gradient_norms
    x, y = make_adding_task(100, 10, np.random.default_rng(0))
    model = RNNRegressor(2, hidden=8, radius=1.5, rng=np.random.default_rng(0))
    before = copy.deepcopy(model.state_dict())
    norms = gradient_norms(model, x, y, "mse")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    log = train(model, x, y, steps=1, lr=0.1, loss="mse", progress=False)
    np.testing.assert_allclose(norms, log.grad_norms[0], rtol=1e-6)
    with pytest.raises(ValueError, match="loss"):
        gradient_norms(model, x, y, "hinge")


def test_max_grad_entry_is_what_clip_value_compares_with_its_threshold():
    x, y = make_adding_task(100, 10, np.random.default_rng(0))
    model = RNNRegressor(2, hidden=8, radius=1.5, rng=np.random.default_rng(0))
    reference = copy.deepcopy(model)
    log = train(model, x, y, steps=1, lr=0.1, loss="mse", clip_value=0.01, progress=False)
    torch.nn.functional.mse_loss(reference(torch.tensor(x, dtype=torch.float32)),
                                 torch.tensor(y, dtype=torch.float32)).backward()
    largest = max(float(p.grad.abs().max()) for p in reference.parameters())
    assert log.max_grad_entry[0] == largest > 0.01


def test_cross_entropy_trains_class_logits_at_several_positions():
    # A model whose output is (n, 2, C) class logits, as the cuisine model's: loss "ce".
    torch.manual_seed(0)
    X = torch.randn(200, 6)
    y = torch.stack([(X[:, 0] > 0).long() + (X[:, 1] > 0).long(), (X[:, 2] > 0).long()], dim=1)  # classes 0..2
    model = nn.Sequential(nn.Linear(6, 6), nn.Unflatten(1, (2, 3)))
    log = train(model, X, y.numpy(), steps=200, lr=0.5, loss="ce")
    assert log.loss[-1] < 0.5 * log.loss[0]
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(X).reshape(-1, 3), y.reshape(-1))
    assert gradient_norms(model, X, y.numpy(), "ce").shape == (1,) and float(expected) < 0.5 * log.loss[0]
    with pytest.raises(ValueError, match="class number"):
        train(model, X, y.numpy() + 0.5, steps=1, lr=0.1, loss="ce")
    with pytest.raises(ValueError, match="a class axis"):
        train(model, X, y[:, 0].numpy(), steps=1, lr=0.1, loss="ce")
