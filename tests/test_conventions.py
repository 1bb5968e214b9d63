"""The package's conventions (helpers/__init__.py), each pinned: one layout, one fan order,
one meaning of "mse", one shape of result per kind of function, ValueError for every bad argument."""
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers.activations import saturated
from helpers.chain import chain_bound_curve, chain_forward_backward
from helpers.cliff import Descent, descend
from helpers.clipping import Clipped, clip_by_global_norm, clip_by_value
from helpers.gated import (gru_backward, gru_forward, init_gru, init_lstm, lstm_backward, lstm_forward, readout_loss,
                           to_torch_gru, to_torch_lstm)
from helpers.health import gradient_health
from helpers.init import he_normal, he_std, xavier_normal, xavier_std
from helpers.lab import numpy_train
from helpers.network import LayerGradients, NetConfig, init_params, numpy_layer_gradients, to_torch, torch_layer_gradients
from helpers.progress import progress_bar
from helpers.recurrent import scaled_orthogonal
from helpers.rnn import RNNRegressor, init_rnn, output_loss, rnn_bptt, rnn_forward, rnn_loss, scalar_bptt
from helpers.sequence import SequenceModel
from helpers.tasks import ADDING_BASELINE_MSE, make_adding_task
from helpers.training import train


@pytest.fixture(scope="module")
def adding():
    """(x (B, T, 2), y (B,)): the adding task, batch-first."""
    return make_adding_task(64, 12, np.random.default_rng(0))


def test_the_adding_task_feeds_every_recurrent_model_without_a_transpose(adding):
    x, _ = adding
    B, T = x.shape[:2]
    # The hand-written RNN is the torch model's: same weights, same last state, same layout.
    model = RNNRegressor(2, hidden=8, radius=1.2, rng=np.random.default_rng(3), dtype=torch.float64)
    params = init_rnn(8, 2, 1, np.random.default_rng(3), radius=1.2)
    cache = rnn_forward(params, x, "tanh")
    _, h_last = model.rnn(torch.from_numpy(x))
    np.testing.assert_allclose(cache.hs[:, -1], h_last[0].detach().numpy(), rtol=1e-12)
    assert cache.hs.shape == (B, T + 1, 8) and cache.zs.shape == (B, T, 8)
    assert rnn_bptt(params, cache, output_loss(cache.out, np.zeros(B), "mse").dout).dh.shape == (B, T + 1, 8)
    # The LSTM and GRU by hand against torch's batch_first modules, on the same array.
    for init, forward, to_torch_module in ((init_lstm, lstm_forward, to_torch_lstm), (init_gru, gru_forward, to_torch_gru)):
        gated = init(8, 2, np.random.default_rng(4))
        out, _ = to_torch_module(gated)(torch.from_numpy(x))
        np.testing.assert_allclose(forward(gated, x).hs[:, 1:], out.detach().numpy(), rtol=1e-10)
    # And the sequence models that train on it.
    for kind in ("rnn", "lstm", "gru"):
        assert SequenceModel(kind, 2, 8, rng=np.random.default_rng(0))(torch.from_numpy(x).float()).shape == (B,)


def test_mse_is_one_number_everywhere(adding):
    """The mean squared error, as torch's mse_loss: always predicting 1 scores about 1/6 on the adding task."""
    _, y = adding
    ones = np.ones((len(y), 1))
    torch_mse = torch.nn.functional.mse_loss(torch.ones(len(y), dtype=torch.float64), torch.from_numpy(y)).item()
    by_readout = readout_loss(ones, np.zeros((1, 1)), np.ones(1), y, "mse").value
    params = init_rnn(4, 2, 1, np.random.default_rng(0))
    params.W_y[:] = 0.0
    params.c[:] = 1.0  # the RNN's readout predicts 1 whatever the state
    x, _ = adding
    by_output = output_loss(rnn_forward(params, x, "tanh").out, y, "mse").value
    by_loss = rnn_loss(params, x, y, "mse", activation="tanh")
    constant = torch.nn.Linear(2, 1, dtype=torch.float64)
    with torch.no_grad():
        constant.weight.zero_()
        constant.bias.fill_(1.0)
    by_train = train(torch.nn.Sequential(torch.nn.Flatten(0, 1), constant), x[:, :1, :], y, steps=1, lr=1e-9,
                     loss="mse", progress=False).loss[0]
    assert by_readout == pytest.approx(torch_mse, rel=1e-12)
    assert by_output == by_loss == pytest.approx(torch_mse, rel=1e-12)
    assert by_train == pytest.approx(torch_mse, rel=1e-12)
    assert torch_mse == pytest.approx(ADDING_BASELINE_MSE, rel=0.3)


def test_fans_are_fan_out_then_fan_in_like_torch_weights():
    rng = np.random.default_rng(0)
    assert he_normal(3, 5, rng).shape == xavier_normal(3, 5, rng).shape == torch.nn.Linear(5, 3).weight.shape
    assert he_std(3, 5) == pytest.approx(np.sqrt(2 / 5))
    for init, std in (("he", he_std), ("xavier", xavier_std)):
        assert NetConfig(init=init, weight_scale=1.5).weight_std(3, 5) == std(3, 5, 1.5)
    assert [w.shape for w, _ in init_params(NetConfig(depth=1, width=3, n_in=5), rng)] == [(3, 5), (1, 3)]


@pytest.mark.parametrize("function", [chain_forward_backward, chain_bound_curve, rnn_forward, rnn_loss, scalar_bptt])
def test_no_function_picks_an_activation_for_you(function):
    assert inspect.signature(function).parameters["activation"].default is inspect.Parameter.empty


@pytest.mark.parametrize("backward", [rnn_bptt, lstm_backward, gru_backward])
def test_every_backward_pass_starts_from_the_gradient_of_its_forward_output(backward):
    """rnn_bptt from dL/d out (its readout), lstm_backward and gru_backward from dL/dh_T; losses are separate."""
    assert list(inspect.signature(backward).parameters)[:3] == ["params", "cache", "dout" if backward is rnn_bptt
                                                                else "dh_last"]


def test_one_shape_of_result_per_kind_of_function():
    grads = [np.full(3, 4.0), np.full(2, -4.0)]
    assert isinstance(clip_by_global_norm(grads, 1.0), Clipped) and isinstance(clip_by_value(grads, 1.0), Clipped)
    params = init_params(NetConfig(depth=2, width=4), np.random.default_rng(0))
    x, y = np.random.default_rng(1).standard_normal((6, 4)), np.arange(6) % 2
    assert isinstance(numpy_layer_gradients(params, x, y, "sigmoid"), LayerGradients)
    assert isinstance(torch_layer_gradients(to_torch(params, "sigmoid"), x, y), LayerGradients)
    assert isinstance(descend(5.0, -2.5, 0.1, 3), Descent) and isinstance(descend(5.0, -2.5, 0.1, 3, 1.0), Descent)


def _rnn_and_batch():
    return init_rnn(4, 2, 1, np.random.default_rng(0)), np.zeros((2, 3, 2))


@pytest.mark.parametrize("call", [
    lambda: chain_forward_backward(3, "1.0", "tanh"),
    lambda: chain_forward_backward("3", 1.0, "tanh"),
    lambda: he_std("3", 5),
    lambda: init_rnn("8", 2, 1, np.random.default_rng(0)),
    lambda: init_rnn(8, 2, 1, np.random.default_rng(0), radius="1"),
    lambda: rnn_forward(*_rnn_and_batch(), "tanh", h0="zeros"),
    lambda: scaled_orthogonal(3, "1", np.random.default_rng(0)),
    lambda: make_adding_task("10", 5, np.random.default_rng(0)),
    lambda: clip_by_global_norm([np.ones(2)], "1"),
    lambda: clip_by_value([np.ones(2)], None),
    lambda: descend(5.0, -2.5, "0.1", 3),
    lambda: descend(5.0, -2.5, 0.1, 3, threshold="off"),
    lambda: NetConfig(depth="3"),
    lambda: NetConfig(weight_scale="1"),
    lambda: numpy_train(NetConfig(depth=2, width=4), np.zeros((4, 4)), np.zeros(4), rng=np.random.default_rng(0),
                        lr="0.1"),
    lambda: numpy_train(NetConfig(depth=2, width=4), np.zeros((4, 4)), np.zeros(4), rng=0),
    lambda: RNNRegressor(2, rng=0),
    lambda: SequenceModel("lstm", 2, rng=np.random.default_rng(0).integers(5)),
    lambda: train(torch.nn.Linear(2, 1), np.zeros((4, 2)), np.zeros(4), steps=1, lr="0.1", progress=False),
    lambda: train(torch.nn.Linear(2, 1), np.zeros((4, 2)), np.zeros(4), steps=1, lr=0.1, batch_size="2",
                  progress=False),
    lambda: train(torch.nn.Linear(2, 1), np.zeros((4, 2)), np.zeros(4), steps=1, lr=0.1, batch_size=2,
                  progress=False),  # mini-batches need an explicit generator
    lambda: gradient_health(torch.nn.Linear(2, 1), np.zeros((4, 2)), np.zeros(4), lr="0.1"),
    lambda: progress_bar("10"),
    lambda: saturated(np.zeros(3), "tanh", tol="0.1"),
    lambda: init_params(NetConfig(), 0),
])
def test_a_wrong_type_is_a_value_error_that_says_what_is_allowed(call):
    with pytest.raises(ValueError, match=r"must be|choose one of"):
        call()


def test_importing_helpers_puts_numpys_blas_on_one_thread():
    """The course's arrays are small: BLAS threads would only wait for each other (helpers/__init__.py)."""
    code = ("import helpers.rnn; from threadpoolctl import threadpool_info; "
            "print(sorted({i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OPENBLAS_NUM_THREADS": "2"}).stdout
    assert out.strip() == "[1]"
