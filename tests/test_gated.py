"""LSTM and GRU by hand: forward passes against torch.nn.LSTM / nn.GRU, hand
backprop against autograd and finite differences, the cell-path product
against the exact Jacobian, the shared loss convention with helpers.rnn, extremes."""
import time
import warnings

import numpy as np
import pytest
import torch

from helpers.gated import (
    GRUCache,
    GRUParams,
    LSTMCache,
    LSTMParams,
    cell_path_product,
    gru_backward,
    gru_forward,
    init_gru,
    init_lstm,
    lstm_backward,
    lstm_forward,
    per_timestep_grad_norms,
    readout_loss,
    to_torch_gru,
    to_torch_lstm,
)
from helpers.gradcheck import numerical_gradient, rel_error
from helpers.rnn import init_rnn, output_loss, rnn_bptt, rnn_forward

H, D, B = 5, 3, 4
PARAM_NAMES = ("W_ih", "W_hh", "b_ih", "b_hh")


def torch_name(name):
    return name.replace("W_", "weight_").replace("b_", "bias_") + "_l0"


def make_problem(kind, T, seed=0):
    """Params with non-zero biases everywhere, inputs, h0, c0 and a readout vector w."""
    rng = np.random.default_rng(seed)
    params = init_lstm(H, D, rng, forget_bias=0.7) if kind == "lstm" else init_gru(H, D, rng, update_bias=0.4)
    params.b_ih = params.b_ih + 0.3 * rng.standard_normal(params.b_ih.shape)
    params.b_hh = 0.3 * rng.standard_normal(params.b_hh.shape)
    xs = rng.standard_normal((B, T, D))
    h0, c0 = 0.5 * rng.standard_normal((B, H)), 0.5 * rng.standard_normal((B, H))
    w = rng.standard_normal((B, H))  # L = sum(w * h_T), so dL/dh_T = w
    return params, xs, h0, c0, w


def torch_stepwise(kind, params, xs, h0, c0, w):
    """nn.LSTM / nn.GRU run one step per call, so every h_t can retain its grad.

    Returns (module with weight grads, [dL/dh_t for t = 0..T] (B, T+1, H)).
    """
    module = to_torch_lstm(params) if kind == "lstm" else to_torch_gru(params)
    h = torch.tensor(h0, requires_grad=True)[None]
    state = (h, torch.tensor(c0)[None]) if kind == "lstm" else h
    hs = [h]
    for t in range(xs.shape[1]):
        _, state = module(torch.from_numpy(xs[:, t:t + 1]), state)
        h = state[0] if kind == "lstm" else state
        hs.append(h)
    for h in hs:
        h.retain_grad()
    (hs[-1][0] * torch.from_numpy(w)).sum().backward()
    return module, np.stack([h.grad[0].numpy() for h in hs], axis=1)


def torch_lstm_equations(params, xs, h0, c0, w):
    """The LSTM written out in torch ops, so c_t -> h_t is in the graph: total dL/dc_t."""
    Wi, Wh, bi, bh = (torch.from_numpy(getattr(params, n)) for n in PARAM_NAMES)
    h = torch.from_numpy(h0)
    c = torch.tensor(c0, requires_grad=True)
    cs = [c]
    for t in range(xs.shape[1]):
        i, f, g, o = (torch.from_numpy(xs[:, t]) @ Wi.T + bi + h @ Wh.T + bh).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        cs.append(c)
    for c in cs:
        c.retain_grad()
    (h * torch.from_numpy(w)).sum().backward()
    return h.detach().numpy(), np.stack([c.grad.numpy() for c in cs], axis=1)


@pytest.mark.parametrize("T", [1, 7, 40])
def test_lstm_forward_equals_torch(T):
    params, xs, h0, c0, _ = make_problem("lstm", T, seed=T)
    cache = lstm_forward(params, xs, h0, c0)
    out, (h_n, c_n) = to_torch_lstm(params)(torch.from_numpy(xs), (torch.from_numpy(h0)[None],
                                                                    torch.from_numpy(c0)[None]))
    assert isinstance(cache, LSTMCache)
    assert cache.hs.shape == cache.cs.shape == (B, T + 1, H)
    assert all(getattr(cache, gate).shape == (B, T, H) for gate in "ifgo")
    assert np.array_equal(cache.hs[:, 0], h0) and np.array_equal(cache.cs[:, 0], c0)
    assert rel_error(cache.hs[:, 1:], out.detach()) < 1e-12
    assert rel_error(cache.cs[:, -1], c_n[0].detach()) < 1e-12


@pytest.mark.parametrize("T", [1, 7, 40])
def test_gru_forward_equals_torch(T):
    params, xs, h0, _, _ = make_problem("gru", T, seed=T)
    cache = gru_forward(params, xs, h0)
    out, h_n = to_torch_gru(params)(torch.from_numpy(xs), torch.from_numpy(h0)[None])
    assert isinstance(cache, GRUCache)
    assert cache.hs.shape == (B, T + 1, H)
    assert all(getattr(cache, gate).shape == (B, T, H) for gate in "rzn")
    assert rel_error(cache.hs[:, 1:], out.detach()) < 1e-12
    assert rel_error(cache.hs[:, -1], h_n[0].detach()) < 1e-12


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("T", [1, 6, 30])
def test_hand_gradients_equal_autograd(kind, T):
    params, xs, h0, c0, w = make_problem(kind, T, seed=10 + T)
    if kind == "lstm":
        grads = lstm_backward(params, lstm_forward(params, xs, h0, c0), w)
    else:
        grads = gru_backward(params, gru_forward(params, xs, h0), w)
    module, dh = torch_stepwise(kind, params, xs, h0, c0, w)
    assert grads.dh.shape == (B, T + 1, H)
    assert rel_error(grads.dh, dh) < 1e-10
    # The gradient must reach every step: a loop that stopped early would leave zeros.
    assert np.all(np.abs(grads.dh).sum(axis=(0, 2)) > 0)
    # Weight gradients from one fused call over the whole sequence as well.
    full = to_torch_lstm(params) if kind == "lstm" else to_torch_gru(params)
    state = (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]) if kind == "lstm" else torch.from_numpy(h0)[None]
    out, _ = full(torch.from_numpy(xs), state)
    (out[:, -1] * torch.from_numpy(w)).sum().backward()
    for name in PARAM_NAMES:
        mine = getattr(grads, "d" + name)
        assert rel_error(mine, getattr(full, torch_name(name)).grad) < 1e-10, name
        assert rel_error(mine, getattr(module, torch_name(name)).grad) < 1e-10, name
    np.testing.assert_allclose(grads.norms(), np.linalg.norm(dh.swapaxes(0, 1).reshape(T + 1, -1), axis=1),
                               rtol=1e-10)


@pytest.mark.parametrize("T", [1, 6, 30])
def test_lstm_cell_gradients_equal_autograd(T):
    params, xs, h0, c0, w = make_problem("lstm", T, seed=20 + T)
    cache = lstm_forward(params, xs, h0, c0)
    grads = lstm_backward(params, cache, w)
    h_last, dc = torch_lstm_equations(params, xs, h0, c0, w)
    assert rel_error(cache.hs[:, -1], h_last) < 1e-12  # the written-out torch LSTM is nn.LSTM's
    assert grads.dc.shape == (B, T + 1, H)
    assert rel_error(grads.dc, dc) < 1e-10
    np.testing.assert_allclose(grads.cell_norms(), np.linalg.norm(dc.swapaxes(0, 1).reshape(T + 1, -1), axis=1),
                               rtol=1e-10)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_weight_gradients_match_finite_differences_of_the_readout_loss(kind):
    params, xs, h0, c0, _ = make_problem(kind, 5, seed=3)
    rng = np.random.default_rng(3)
    W_y, c = rng.standard_normal((3, H)), rng.standard_normal(3)
    targets = rng.integers(0, 3, B)
    forward = (lambda p: lstm_forward(p, xs, h0, c0)) if kind == "lstm" else (lambda p: gru_forward(p, xs, h0))
    backward = lstm_backward if kind == "lstm" else gru_backward
    cache = forward(params)
    grads = backward(params, cache, readout_loss(cache.hs[:, -1], W_y, c, targets, "ce").dh_last)
    for name in ("W_hh", "b_ih"):
        def loss_of(_):
            return readout_loss(forward(params).hs[:, -1], W_y, c, targets, "ce").value
        numeric = numerical_gradient(loss_of, getattr(params, name))
        assert rel_error(getattr(grads, "d" + name), numeric) < 1e-7, name


def test_readout_loss_is_the_rnn_convention():
    rng = np.random.default_rng(4)
    params = init_rnn(6, 3, 4, rng)
    params.c = rng.standard_normal(4)
    xs = rng.standard_normal((7, 5, 3))
    cache = rnn_forward(params, xs, "tanh")
    for loss, targets in (("ce", rng.integers(0, 4, 7)), ("mse", rng.standard_normal((7, 4)))):
        at_output = output_loss(cache.out, targets, loss)
        ref = rnn_bptt(params, cache, at_output.dout)
        result = readout_loss(cache.hs[:, -1], params.W_y, params.c, targets, loss)
        assert result.value == pytest.approx(at_output.value, rel=1e-14)
        assert rel_error(result.dh_last, ref.dh[:, -1]) < 1e-14
        assert rel_error(result.dW_y, ref.dW_y) < 1e-14 and rel_error(result.dc, ref.dc) < 1e-14
    out = torch.from_numpy(cache.hs[:, -1] @ params.W_y.T + params.c)
    targets = rng.integers(0, 4, 7)
    expected = torch.nn.functional.cross_entropy(out, torch.from_numpy(targets)).item()
    assert readout_loss(cache.hs[:, -1], params.W_y, params.c, targets, "ce").value == pytest.approx(expected, rel=1e-12)
    mse_targets = rng.standard_normal((7, 4))
    torch_mse = torch.nn.functional.mse_loss(out, torch.from_numpy(mse_targets)).item()
    assert readout_loss(cache.hs[:, -1], params.W_y, params.c, mse_targets, "mse").value == pytest.approx(torch_mse)


@pytest.mark.parametrize("batch", [1, 3])
def test_cell_path_product_is_the_exact_jacobian_without_recurrent_weights(batch):
    T, k = 12, 4
    rng = np.random.default_rng(5)
    params = init_lstm(H, D, rng, forget_bias=1.0)
    params.W_hh = np.zeros_like(params.W_hh)  # gates now depend on x only
    xs = rng.standard_normal((batch, T, D))
    cache = lstm_forward(params, xs)
    products = cell_path_product(cache.f, reduce=None)
    assert products.shape == (batch, T + 1, H)
    assert np.all(products[:, -1] == 1.0)

    lstm = to_torch_lstm(params)
    x_t = torch.from_numpy(xs[:, k:])
    h_k = torch.from_numpy(cache.hs[:, k])[None]

    def c_T_of(c_k):
        return lstm(x_t, (h_k, c_k[None]))[1][1][0]

    jac = torch.autograd.functional.jacobian(c_T_of, torch.from_numpy(cache.cs[:, k])).numpy()  # (B, H, B, H)
    expected = np.zeros_like(jac)
    for b in range(batch):
        expected[b, :, b, :] = np.diag(products[b, k])
    assert rel_error(expected, jac) < 1e-12
    mean = cell_path_product(cache.f)
    assert mean.shape == (T + 1,) and mean[k] == pytest.approx(products[:, k].mean(), rel=1e-14)
    assert cell_path_product(cache.f, reduce="max")[k] == pytest.approx(products[:, k].max(), rel=1e-14)
    # With f near sigmoid(1) ~ 0.73 the product decays geometrically with the distance.
    assert np.all(np.diff(mean) > 0)


def test_cell_path_product_is_only_the_direct_path_when_gates_read_h():
    T, k = 12, 4
    rng = np.random.default_rng(6)
    params = init_lstm(H, D, rng)
    params.W_hh *= 6.0  # strong recurrent weights: the gates depend on h
    xs = rng.standard_normal((1, T, D))
    cache = lstm_forward(params, xs)
    lstm = to_torch_lstm(params)
    h_k = torch.from_numpy(cache.hs[:, k])[None]
    jac = torch.autograd.functional.jacobian(
        lambda c_k: lstm(torch.from_numpy(xs[:, k:]), (h_k, c_k[None]))[1][1][0], torch.from_numpy(cache.cs[:, k])
    ).numpy()[0, :, 0, :]
    direct = np.diag(cell_path_product(cache.f, reduce=None)[0, k])
    assert rel_error(direct, jac) > 1e-3  # the other paths (through h and the gates) count here


def test_gates_keep_the_gradient_that_a_vanilla_rnn_loses():
    # Same inputs, targets and readout for every kind: generators in the same state.
    T = 50
    rng = np.random.default_rng
    rnn = per_timestep_grad_norms("rnn", T, 16, rng=rng(0), radius=0.5)
    lstm = per_timestep_grad_norms("lstm", T, 16, rng=rng(0), forget_bias=5.0)
    plain = per_timestep_grad_norms("lstm", T, 16, rng=rng(0), forget_bias=0.0)
    gru = per_timestep_grad_norms("gru", T, 16, rng=rng(0))
    for norms in (rnn, lstm, plain, gru):
        assert norms.shape == (T + 1,) and np.all(np.isfinite(norms)) and np.all(norms > 0)
    # 0.5^50 ~ 1e-15 for the RNN; forget gates sigma(5) ~ 0.993 carry the LSTM's.
    assert rnn[0] / rnn[-1] < 1e-12
    assert lstm[0] / lstm[-1] > 1e-2
    assert plain[0] / plain[-1] < 1e-3 * lstm[0] / lstm[-1]  # f ~ 0.5 forgets as fast as it can


def test_per_timestep_norms_follow_the_documented_recipe():
    T, hidden, seed = 8, 6, 3
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((T, 16, 4)).swapaxes(0, 1)  # the recipe draws step by step
    targets = rng.integers(0, 2, 16)
    W_y = rng.standard_normal((2, hidden)) / np.sqrt(hidden)
    state = rng.bit_generator.state
    params = init_lstm(hidden, 4, rng, forget_bias=1.5)
    cache = lstm_forward(params, xs)
    dh_last = readout_loss(cache.hs[:, -1], W_y, np.zeros(2), targets, "ce").dh_last
    expected = lstm_backward(params, cache, dh_last).norms()
    got = per_timestep_grad_norms("lstm", T, hidden, rng=np.random.default_rng(seed), forget_bias=1.5)
    assert np.array_equal(got, expected)
    rng.bit_generator.state = state  # the RNN's weights come from the same point of the stream
    rnn_params = init_rnn(hidden, 4, 2, rng, recurrent="orthogonal", radius=0.9)
    rnn_params.W_y = W_y
    rnn_cache = rnn_forward(rnn_params, xs, "tanh")
    ref = rnn_bptt(rnn_params, rnn_cache, output_loss(rnn_cache.out, targets, "ce").dout).norms()
    assert np.array_equal(per_timestep_grad_norms("rnn", T, hidden, rng=np.random.default_rng(seed), radius=0.9), ref)


def test_init_follows_torch_defaults_and_sets_the_gate_bias():
    lstm = init_lstm(8, 3, np.random.default_rng(0), forget_bias=1.0)
    assert isinstance(lstm, LSTMParams) and lstm.W_ih.shape == (32, 3) and lstm.W_hh.shape == (32, 8)
    assert np.abs(lstm.W_hh).max() <= 1 / np.sqrt(8) and np.abs(lstm.W_hh).max() > 0.3
    assert np.all(lstm.block("b_ih", "f") == 1.0) and not lstm.b_hh.any()
    assert not np.delete(lstm.b_ih, np.s_[8:16]).any()
    gru = init_gru(8, 3, np.random.default_rng(0), update_bias=2.0)
    assert isinstance(gru, GRUParams) and gru.W_ih.shape == (24, 3)
    assert np.all(gru.block("b_ih", "z") == 2.0) and gru.b_ih.sum() == 16.0
    again = init_lstm(8, 3, np.random.default_rng(0), forget_bias=1.0)
    assert np.array_equal(again.W_ih, lstm.W_ih) and np.array_equal(again.W_hh, lstm.W_hh)
    # With zero weights and inputs, f = sigmoid(forget_bias) exactly.
    lstm.W_ih[:] = 0.0
    lstm.W_hh[:] = 0.0
    cache = lstm_forward(lstm, np.zeros((2, 3, 3)))  # batch 2, T = 3
    np.testing.assert_allclose(cache.f, 1 / (1 + np.exp(-1.0)), rtol=1e-15)
    np.testing.assert_allclose(cell_path_product(cache.f), [(1 / (1 + np.exp(-1.0))) ** k for k in (3, 2, 1, 0)])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_extremes_are_silent(kind):
    rng = np.random.default_rng(7)
    params = init_lstm(H, D, rng) if kind == "lstm" else init_gru(H, D, rng)
    params.W_hh *= 1e200
    params.W_ih *= 1e200
    xs = rng.standard_normal((B, 20, D)) * 1e100
    xs[0, 3, 0] = np.inf
    xs[1, 5, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if kind == "lstm":
            cache = lstm_forward(params, xs)
            grads = lstm_backward(params, cache, np.full(H, 1e300))
            cell_path_product(np.full((1, 2000, 1), 0.5))  # underflows to 0, quietly
        else:
            cache = gru_forward(params, xs)
            grads = gru_backward(params, cache, np.full(H, 1e300))
        norms = grads.norms()
    assert norms.shape == (21,)
    assert np.isnan(cache.hs[1, -1]).any()  # NaN propagates rather than vanishing silently
    assert not np.any(norms < 0)


def test_per_timestep_norms_are_fast_enough_for_a_slider():
    for kind in ("rnn", "lstm", "gru"):
        per_timestep_grad_norms(kind, 100, 32, rng=np.random.default_rng(0))
        start = time.process_time()
        per_timestep_grad_norms(kind, 100, 32, rng=np.random.default_rng(0))
        # A few tens of ms; the bound is loose so a busy machine passes.
        assert time.process_time() - start < 0.5, kind


@pytest.mark.parametrize("call, message", [
    (lambda: init_lstm(0, 3, np.random.default_rng(0)), r"hidden must be an integer >= 1, got 0"),
    (lambda: init_lstm(4, 3, 0), r"rng must be a np.random.Generator"),
    (lambda: init_lstm(4, 3, np.random.default_rng(0), forget_bias=float("inf")),
     r"forget_bias must be a finite number, got inf"),
    (lambda: lstm_forward(init_gru(4, 3, np.random.default_rng(0)), np.zeros((2, 1, 3))),
     r"params must be a LSTMParams \(e.g. from init_lstm\), got GRUParams"),
    (lambda: gru_forward(init_gru(4, 3, np.random.default_rng(0)), np.zeros((2, 1, 2))),
     r"xs must have shape \(batch, T, 3\) with batch, T >= 1, got \(2, 1, 2\)"),
    (lambda: lstm_forward(init_lstm(4, 3, np.random.default_rng(0)), np.zeros((2, 2, 3)), c0=np.zeros(3)),
     r"c0 must be None, shape \(4,\) or \(2, 4\), got \(3,\)"),
    (lambda: LSTMParams(np.zeros((12, 2)), np.zeros((12, 4)), np.zeros(12), np.zeros(12)),
     r"shapes must be W_ih \(4H, D\), W_hh \(4H, H\)"),
    (lambda: per_timestep_grad_norms("transformer", 5, 4, rng=np.random.default_rng(0)), r"kind must be one of \('rnn', 'lstm', 'gru'\)"),
    (lambda: cell_path_product(np.ones((3, 4))), r"forget_gates must have shape \(B, T, H\)"),
    (lambda: cell_path_product(np.ones((3, 1, 4)), reduce="sum"), r"reduce must be one of \('mean', 'max', None\)"),
])
def test_bad_arguments_say_what_is_allowed(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_backward_rejects_a_mismatched_gradient_or_cache():
    params = init_lstm(4, 3, np.random.default_rng(0))
    cache = lstm_forward(params, np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"dh_last \(dL/dh_T\) must have shape \(4,\) or \(2, 4\), got \(3,\)"):
        lstm_backward(params, cache, np.ones(3))
    with pytest.raises(ValueError, match=r"cache must be a GRUCache from gru_forward, got LSTMCache"):
        gru_backward(init_gru(4, 3, np.random.default_rng(0)), cache, np.ones(4))


def test_lstm_params_of_reads_back_what_to_torch_lstm_holds():
    from helpers.gated import lstm_params_of

    params = init_lstm(5, 3, np.random.default_rng(0))
    back = lstm_params_of(to_torch_lstm(params))
    for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
        np.testing.assert_array_equal(getattr(back, name), getattr(params, name))
    with pytest.raises(ValueError, match="one-layer torch.nn.LSTM"):
        lstm_params_of(torch.nn.GRU(3, 5))
