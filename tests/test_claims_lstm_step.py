r"""Claims of notebook 06's exercise 06.4 (the backward pass of one LSTM step), set up as its prompt says and
checked against torch.nn.LSTM, helpers.gated and the exercise's own check. Conventions as in
tests/test_claims.py (whose last tests read these docstrings too): each docstring starts "06:" and
quotes its sentences exactly.
"""
import numpy as np
import pytest
import torch

from helpers.exercises import CORRECT, WRONG, evaluate, exercises
from helpers.exercises import nb06
from helpers.gated import init_lstm, lstm_backward, lstm_forward, to_torch_lstm
from helpers.grading import PROJECT_ROOT, load_solutions

B, N_IN, H = 3, 4, 5


def lstm_with_biases(seed: int):
    """LSTMParams (H, N_IN) with both biases drawn too, so that each of them counts."""
    rng = np.random.default_rng(seed)
    params = init_lstm(H, N_IN, rng)
    params.b_ih[:], params.b_hh[:] = rng.normal(0, 0.5, 4 * H), rng.normal(0, 0.5, 4 * H)
    return params


def torch_step(params, x, h_prev, c_prev, dh, dc) -> dict:
    """One step of torch.nn.LSTM (float64) from (h_prev, c_prev), and the gradients of L = sum(dh * h) + sum(dc * c)
    for every input and parameter, by autograd."""
    module = to_torch_lstm(params)
    x_, h_, c_ = (torch.tensor(a, requires_grad=True) for a in (x, h_prev, c_prev))
    _, (h, c) = module(x_[:, None, :], (h_[None], c_[None]))
    (h[0] * torch.tensor(dh) + c[0] * torch.tensor(dc)).sum().backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    return dict(h=h[0].detach().numpy(), c=c[0].detach().numpy(), dx=x_.grad.numpy(), dh_prev=h_.grad.numpy(),
                dc_prev=c_.grad.numpy(), **grads)


def step_inputs(seed: int):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, N_IN)), rng.normal(size=(B, H)), rng.normal(size=(B, H)), \
        rng.normal(size=(B, H)), rng.normal(size=(B, H))


def test_06_the_step_equations_are_torchs_lstm_step_with_its_gate_order():
    r"""06: "One LSTM step for a batch whose rows are the examples: `z = x @ W_ih.T + h_prev @ W_hh.T + b` is `(B,
    4H)`, and its four blocks of $H$ columns, in the order `torch.nn.LSTM` stacks its gates, give" (the equations
    under it, in numpy with the blocks taken as i, f, g, o, against one step of torch.nn.LSTM with the same weights;
    any other order of the blocks gives another h)."""
    from helpers.activations import sigmoid

    params = lstm_with_biases(0)
    x, h_prev, c_prev, dh, dc = step_inputs(1)
    torch_out = torch_step(params, x, h_prev, c_prev, dh, dc)
    z = x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b_ih + params.b_hh
    assert z.shape == (B, 4 * H)
    blocks = np.split(z, 4, axis=1)
    for order in ("ifgo", "figo", "igfo", "oifg"):
        z_i, z_f, z_g, z_o = (blocks["ifgo".index(name)] for name in order)
        i, f, g, o = sigmoid(z_i), sigmoid(z_f), np.tanh(z_g), sigmoid(z_o)
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        same = np.allclose(h, torch_out["h"], rtol=1e-12, atol=0) and np.allclose(c, torch_out["c"], rtol=1e-12)
        assert same == (order == "ifgo"), order


def test_06_b_is_torchs_two_biases_whose_gradients_are_equal():
    r"""06: "Here `b` stands for torch's two biases, `b_ih + b_hh`, which get the same gradient" (torch.nn.LSTM's
    bias_ih_l0 and bias_hh_l0 get equal gradients by autograd, and those are the db the check expects for
    b = b_ih + b_hh; so are its other five gradients torch's)."""
    params = lstm_with_biases(2)
    x, h_prev, c_prev, dh, dc = step_inputs(3)
    torch_out = torch_step(params, x, h_prev, c_prev, dh, dc)
    assert np.array_equal(torch_out["bias_ih_l0"], torch_out["bias_hh_l0"])
    gates, grads = nb06._step_reference(dh, dc, x, h_prev, c_prev, params.W_ih, params.W_hh,
                                        params.b_ih + params.b_hh)
    want = [torch_out[k] for k in ("dx", "dh_prev", "dc_prev", "weight_ih_l0", "weight_hh_l0", "bias_ih_l0")]
    for name, got, expected in zip(nb06.STEP_GRADIENTS, grads, want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=name)


def test_06_lstm_backward_runs_this_step_from_the_last_to_the_first():
    r"""06: "From `dh` $= \partial L/\partial h$ (all of it: what this step's output passes on and what the next step
    sends back) and `dc`, the part of $\partial L/\partial c$ that arrives from the
    next step, return the gradients of $L$ with respect to `x`, `h_prev`, `c_prev`, `W_ih`, `W_hh` and `b`, each with
    the shape of its variable. Running this step from the last step to the first is backpropagation through time for
    the LSTM" (the check's step, run from step T down to 1 with dh and dc from the step after it (0 for dc at T),
    gives helpers.gated.lstm_backward's dL/dh_t at every step, its dL/dc_0 and its summed weight and bias
    gradients)."""
    T = 6
    params = lstm_with_biases(4)
    rng = np.random.default_rng(5)
    xs, h0, c0, dh_last = rng.normal(size=(B, T, N_IN)), rng.normal(size=(B, H)), rng.normal(size=(B, H)), \
        rng.normal(size=(B, H))
    cache = lstm_forward(params, xs, h0, c0)
    want = lstm_backward(params, cache, dh_last)
    b = params.b_ih + params.b_hh
    dh, dc = dh_last, np.zeros((B, H))
    total = [np.zeros_like(params.W_ih), np.zeros_like(params.W_hh), np.zeros_like(b)]
    for t in range(T, 0, -1):
        x, h_prev, c_prev = xs[:, t - 1], cache.hs[:, t - 1], cache.cs[:, t - 1]
        _, grads = nb06._step_reference(dh, dc, x, h_prev, c_prev, params.W_ih, params.W_hh, b)
        dx, dh, dc, dW_ih, dW_hh, db = grads
        assert [g.shape for g in grads] == [x.shape, h_prev.shape, c_prev.shape, params.W_ih.shape,
                                            params.W_hh.shape, b.shape]
        np.testing.assert_allclose(dh, want.dh[:, t - 1], rtol=1e-10, atol=1e-13)
        total = [a + d for a, d in zip(total, (dW_ih, dW_hh, db))]
    np.testing.assert_allclose(dc, want.dc[:, 0], rtol=1e-10, atol=1e-13)  # c_0 reaches the loss only through c_1
    for got, expected in zip(total, (want.dW_ih, want.dW_hh, want.db_ih)):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("saturated", [False, True])
def test_06_the_gates_are_lstm_forwards_and_only_c_needs_computing_again(saturated):
    r"""06: "The forward step's gate values come in as `gates`, `(B, 4H)` with the blocks $i, f, g, o$ as
    `lstm_forward` stores them, so only $c$ and $\tanh(c)$ need computing again" (the check's gates are
    lstm_forward's cache.gates of that one step; from them and the step's inputs, without b, c and tanh(c)
    recomputed and nothing else, nb06's worked-out gradients are autograd's, with gates far from saturated
    and near it)."""
    rng = np.random.default_rng(6)
    dh, dc, x, h_prev, c_prev, W_ih, W_hh, b = nb06._step_case(rng, B, N_IN, H, saturated)
    gates, grads = nb06._step_reference(dh, dc, x, h_prev, c_prev, W_ih, W_hh, b)
    params = init_lstm(H, N_IN, rng)
    params.W_ih[:], params.W_hh[:], params.b_ih[:] = W_ih, W_hh, b
    cache = lstm_forward(params, x[:, None, :], h_prev, c_prev)
    assert gates.shape == (B, 4 * H)
    np.testing.assert_allclose(gates, cache.gates[:, 0], rtol=1e-12, atol=1e-15)
    by_hand = nb06._slipped(dh, dc, x, h_prev, c_prev, W_ih, W_hh, gates, None)  # no b: it is not needed
    for name, got, expected in zip(nb06.STEP_GRADIENTS, by_hand, grads):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12 * np.abs(expected).max(), err_msg=name)


def test_06_the_check_compares_all_six_gradients_with_autograd_in_float64():
    r"""06: "The check compares all six gradients with autograd's, in float64" (its reference is torch's autograd on
    float64 tensors; the reference answer passes, and the same answer with any one of the six off by a part in a
    million is told which one)."""
    exercise = exercises()["06.4"]
    _, grads = nb06._step_reference(*nb06._step_case(np.random.default_rng(9), B, N_IN, H))
    assert len(grads) == 6 and all(g.dtype == np.float64 for g in grads)
    solution = load_solutions(PROJECT_ROOT / "solutions" / "solutions.py")["06.4"]
    names = {}
    exec(solution, names)
    right = names["my_lstm_step_backward"]
    assert evaluate(exercise, {"my_lstm_step_backward": right}).status == CORRECT
    for k, name in enumerate(nb06.STEP_GRADIENTS):
        def off(*args, k=k):
            result = list(right(*args))
            result[k] = result[k] * (1 + 1e-6)
            return tuple(result)

        verdict = evaluate(exercise, {"my_lstm_step_backward": off})
        assert verdict.status == WRONG and verdict.message.startswith(f"{name} has the right shape"), verdict.text


def test_06_weight_gradients_add_up_outer_products_and_the_bias_is_not_needed():
    r"""06: "Each weight's gradient adds up the examples' parts, and one example's part is the outer product of the
    gradient at $z$ with what the weight multiplies (as for a layer in notebook 03); the bias's gradient adds up the
    gradient at $z$ over the examples. The bias itself is not needed for any of this, so it is not an argument"
    (against autograd, with the gradient at z from autograd too; the reference solution, which takes no bias,
    matches autograd's gradients for two different biases, given each one's gates)."""
    params = lstm_with_biases(2)
    x, h_prev, c_prev, dh, dc = step_inputs(3)
    b = params.b_ih + params.b_hh
    z = torch.tensor(x @ params.W_ih.T + h_prev @ params.W_hh.T + b, requires_grad=True)
    z_i, z_f, z_g, z_o = z.chunk(4, dim=1)
    c = torch.sigmoid(z_f) * torch.tensor(c_prev) + torch.sigmoid(z_i) * torch.tanh(z_g)
    h = torch.sigmoid(z_o) * torch.tanh(c)
    (h * torch.tensor(dh) + c * torch.tensor(dc)).sum().backward()
    dz = z.grad.numpy()  # (B, 4H)
    gates, (_, _, _, dW_ih, dW_hh, db) = nb06._step_reference(dh, dc, x, h_prev, c_prev, params.W_ih, params.W_hh, b)
    np.testing.assert_allclose(dW_ih, sum(np.outer(dz[n], x[n]) for n in range(B)), rtol=1e-12)
    np.testing.assert_allclose(dW_hh, sum(np.outer(dz[n], h_prev[n]) for n in range(B)), rtol=1e-12)
    np.testing.assert_allclose(db, dz.sum(axis=0), rtol=1e-12)
    names = {}
    exec(load_solutions(PROJECT_ROOT / "solutions" / "solutions.py")["06.4"], names)
    got = names["my_lstm_step_backward"](dh, dc, x, h_prev, c_prev, params.W_ih, params.W_hh, gates)
    other_b = b + np.random.default_rng(7).normal(size=b.shape)  # another bias, the same step otherwise
    other_gates, expected = nb06._step_reference(dh, dc, x, h_prev, c_prev, params.W_ih, params.W_hh, other_b)
    # With the other bias the gates differ, and the solution given those gates matches autograd there too.
    got_other = names["my_lstm_step_backward"](dh, dc, x, h_prev, c_prev, params.W_ih, params.W_hh, other_gates)
    for a, want in zip(got_other, expected):
        np.testing.assert_allclose(a, want, rtol=1e-10, atol=1e-13)
    for a, want in zip(got[3:], (dW_ih, dW_hh, db)):
        np.testing.assert_allclose(a, want, rtol=1e-10, atol=1e-13)


def test_06_the_gradient_at_c_is_the_next_steps_plus_this_steps_output():
    r"""06: "One LSTM step backward: the gradient at $c$ is what comes from the next step plus $\partial L/\partial h
    \odot o \odot (1 - \tanh^2 c)$ from this step's output; from it each gate's part follows through that gate's own
    slope" (against autograd: the gradient at c, and the gradient at each gate's pre-activation as that times the
    gate's other factor times its slope)."""
    params = lstm_with_biases(4)
    x, h_prev, c_prev, dh, dc = step_inputs(6)
    z = torch.tensor(x @ params.W_ih.T + h_prev @ params.W_hh.T + params.b_ih + params.b_hh, requires_grad=True)
    z_i, z_f, z_g, z_o = z.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(z_i), torch.sigmoid(z_f), torch.tanh(z_g), torch.sigmoid(z_o)
    c = f * torch.tensor(c_prev) + i * g
    c.retain_grad()
    h = o * torch.tanh(c)
    (h * torch.tensor(dh) + c * torch.tensor(dc)).sum().backward()
    c_grad = c.grad.numpy()
    i, f, g, o, c = (t.detach().numpy() for t in (i, f, g, o, c))
    at_c = dc + dh * o * (1 - np.tanh(c) ** 2)
    np.testing.assert_allclose(c_grad, at_c, rtol=1e-12)
    dz_i, dz_f, dz_g, dz_o = np.split(z.grad.numpy(), 4, axis=1)
    np.testing.assert_allclose(dz_i, at_c * g * i * (1 - i), rtol=1e-12)
    np.testing.assert_allclose(dz_f, at_c * c_prev * f * (1 - f), rtol=1e-12)
    np.testing.assert_allclose(dz_g, at_c * i * (1 - g ** 2), rtol=1e-12)
    np.testing.assert_allclose(dz_o, dh * np.tanh(c) * o * (1 - o), rtol=1e-12)
