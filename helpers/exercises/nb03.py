"""Exercises of notebook 03 (vanishing gradients in deep networks)."""
import numpy as np
import torch

from helpers.data import insurance_batch
from helpers.exercises.core import Exercise, grader_case_hint, number, same_array
from helpers.network import NetConfig, init_params, numpy_layer_gradients


def _backward_test(fn):
    """delta_prev = (delta @ W) * a_prev (1 - a_prev), checked against autograd."""
    g = torch.Generator().manual_seed(3)
    batch, n = 5, 6  # square W: W and W.T have the same shape, only the values tell them apart
    z_prev = torch.randn(batch, n, generator=g, dtype=torch.float64, requires_grad=True)
    a_prev = torch.sigmoid(z_prev)
    W = torch.randn(n, n, generator=g, dtype=torch.float64)
    delta = torch.randn(batch, n, generator=g, dtype=torch.float64)
    (expected,) = torch.autograd.grad(a_prev @ W.T, z_prev, grad_outputs=delta)
    got = fn(W.numpy(), delta.numpy(), a_prev.detach().numpy())
    a = a_prev.detach().numpy()
    if np.allclose(np.asarray(got, dtype=float), delta.numpy() @ W.numpy()):
        return "That is the gradient with respect to a_prev; one more factor takes it through the sigmoid."
    if np.allclose(np.asarray(got, dtype=float), (delta.numpy() @ W.numpy().T) * a * (1 - a)):
        return "Check which way W maps: z = a_prev @ W.T, so the gradient goes back through W the other way."
    s = 1 / (1 + np.exp(-a))
    if np.allclose(np.asarray(got, dtype=float), (delta.numpy() @ W.numpy()) * s * (1 - s)):
        return ("a_prev is already the sigmoid's output sigma(z_prev): write the slope with a_prev itself, "
                "without a second sigmoid.")
    return same_array(got, expected.numpy(), rtol=1e-8)


def _backward_hidden(fn, rng):
    """Non-square W (n_out != n_in), batches of 1 and of 2 to 9 rows, against autograd."""
    g = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
    n_in = int(rng.integers(1, 9))
    n_out = n_in + int(rng.integers(1, 6))
    for batch in (1, int(rng.integers(2, 10))):
        z_prev = 3 * torch.randn(batch, n_in, generator=g, dtype=torch.float64, requires_grad=True)
        a_prev = torch.sigmoid(z_prev)
        W = torch.randn(n_out, n_in, generator=g, dtype=torch.float64)
        delta = torch.randn(batch, n_out, generator=g, dtype=torch.float64)
        (expected,) = torch.autograd.grad(a_prev @ W.T, z_prev, grad_outputs=delta)
        got = fn(W.numpy().copy(), delta.numpy().copy(), a_prev.detach().numpy().copy())
        hint = grader_case_hint(got, expected.numpy(), f"W of shape {(n_out, n_in)} and a batch of {batch}", 1e-8)
        if hint:
            return hint
    return None


def depth_20_ratio() -> float:
    """How many times smaller the first layer's weight gradient is than the last's: the figure at depth 20."""
    x, y = insurance_batch()
    config = NetConfig(depth=20, width=32, activation="sigmoid", init="xavier", weight_scale=1.0)
    grads = numpy_layer_gradients(init_params(config, np.random.default_rng(0)), x, y, "sigmoid")
    return float(grads.weight_norms[-1] / grads.weight_norms[0])


# Depth 20 means 20 hidden layers, so 21 weight layers: the first is 20 steps back from the last.
STEPS_BACK = 20
SIGMA_PRIME_ESTIMATE = 4.0 ** STEPS_BACK  # sigma' <= 1/4 alone: a factor of at least 4 per step back
# The notebook's route gives 4^20 = 1.1e12, and the weights and the spread of z only add to it:
# that estimate, or a round number a little below it (1e12), must pass; 21 factors (4^21) are inside.
ESTIMATE_SLACK = 2.0
TOO_LARGE_FACTOR = 10.0  # reading the figure at depth 20 lands well inside this


def _ratio_test(guess):
    value = number(guess, "Your guess")
    if not value > 0:
        return "Give how many times smaller it is: a positive number above 1."
    if value < 1:
        return ("A number below 1 is the share of the last layer's gradient that the first layer gets; "
                "give how many times smaller it is, a number above 1.")
    if 3 <= value <= 5:
        return f"That is the cost of one step back; the first weight layer is {STEPS_BACK} steps back from the last."
    if any(abs(value - 4 * steps) <= 4 for steps in (STEPS_BACK, STEPS_BACK + 1)):
        return "The factors of the steps back multiply along the chain; they do not add up."
    if value < SIGMA_PRIME_ESTIMATE / ESTIMATE_SLACK:
        return ("Too small: count the steps back from the last weight layer to the first; each costs a factor "
                "of at least about 4.")
    if value > TOO_LARGE_FACTOR * depth_20_ratio():
        return (f"Too large by more than a factor of {TOO_LARGE_FACTOR:g}: the weights and the spread of z "
                "add only a little to the factor of about 4 per step back.")
    return None


def _he_test(fn):
    fan_out, fan_in = 300, 400
    W = np.asarray(fn(fan_out, fan_in, np.random.default_rng(0)), dtype=float)
    if W.shape != (fan_out, fan_in):
        return f"Shape {W.shape}: a layer from {fan_in} inputs to {fan_out} outputs has W of shape (out, in)."
    again = np.asarray(fn(fan_out, fan_in, np.random.default_rng(0)), dtype=float)
    other = np.asarray(fn(fan_out, fan_in, np.random.default_rng(1)), dtype=float)
    if not np.array_equal(W, again) or np.array_equal(W, other):
        return "Draw the numbers from the `rng` you are given, so the same seed gives the same weights."
    if abs(W.mean()) > 0.01:
        return "The weights should be centred on 0."
    # 120,000 draws: the sample std is within 0.5% of the true one, and every slip below is over 10% off.
    std = W.std()
    ratio = std / np.sqrt(2.0 / fan_in)
    if abs(std / (2.0 / fan_in) - 1) < 0.03 or abs(std / (1.0 / fan_in) - 1) < 0.03:
        return "Your spread is a variance: the standard deviation is the square root of the variance."
    if abs(std / np.sqrt(1.0 / fan_in) - 1) < 0.03:
        return ("That spread keeps the signal's size when every input gets through; ReLU sets half of its "
                "inputs to zero.")
    if abs(std / np.sqrt(2.0 / fan_out) - 1) < 0.03:
        return "Scale by the number of inputs each unit adds up, fan_in, not fan_out."
    if abs(ratio - 1) > 0.03:
        return (f"The spread is {ratio:.2f} times what keeps a ReLU layer's signal the same size. "
                "ReLU sets half of its inputs to zero.")
    return None


def _he_hidden(fn, rng):
    """Other fans (wide, tall, a single row) and seeds: shape, the seed's use, mean 0 and He's spread."""
    seed = int(rng.integers(2 ** 31))
    wide = (int(rng.integers(64, 256)), int(rng.integers(500, 1500)))
    tall = (int(rng.integers(2000, 4000)), int(rng.integers(10, 40)))
    for fan_out, fan_in in (wide, tall, (1, int(rng.integers(1, 50)))):
        case = f"fan_out = {fan_out} and fan_in = {fan_in}"
        W = np.asarray(fn(fan_out, fan_in, np.random.default_rng(seed)), dtype=float)
        if W.shape != (fan_out, fan_in):
            return f"For {case} (drawn by the grader) your W has shape {W.shape}."
        again = np.asarray(fn(fan_out, fan_in, np.random.default_rng(seed)), dtype=float)
        if not np.array_equal(W, again) or np.array_equal(W, fn(fan_out, fan_in, np.random.default_rng(seed + 1))):
            return f"For {case} (drawn by the grader) your weights do not come from the `rng` you are given."
        if W.size < 20_000:  # too few draws to measure the spread to 3%
            continue
        # 20,000 draws or more: the sample mean strays about 0.007 std from 0, the sample std about 0.5% from He's.
        std = np.sqrt(2.0 / fan_in)
        if abs(W.mean()) > 0.1 * std or abs(W.std() / std - 1) > 0.03:
            return f"For {case} (drawn by the grader) your weights do not have He's mean and spread."
    return None


EXERCISES = [
    Exercise("03.1", "one backward step through a sigmoid layer", "my_backward_step", _backward_test,
             hidden=_backward_hidden),
    Exercise("03.2", "predict: the first layer at depth 20", "guess_depth_20_ratio", _ratio_test),
    Exercise("03.3", "He initialisation", "my_he_init", _he_test, hidden=_he_hidden),
]
