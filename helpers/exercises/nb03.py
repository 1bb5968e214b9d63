"""Exercises of notebook 03 (vanishing gradients in deep networks)."""
import numpy as np
import torch

from helpers.data import insurance_batch
from helpers.exercises.core import Exercise, number, same_array, within_factor
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
    return same_array(got, expected.numpy(), rtol=1e-8)


def depth_20_ratio() -> float:
    """How many times smaller the first layer's weight gradient is than the last's: the figure at depth 20."""
    x, y = insurance_batch()
    config = NetConfig(depth=20, width=32, activation="sigmoid", init="xavier", weight_scale=1.0)
    grads = numpy_layer_gradients(init_params(config, np.random.default_rng(0)), x, y, "sigmoid")
    return float(grads.weight_norms[-1] / grads.weight_norms[0])


def _ratio_test(guess):
    if 0 < number(guess, "Your guess") < 1:
        return "Give how many times smaller it is: a number above 1."
    return within_factor(guess, depth_20_ratio(), 10.0, "Your guess")


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
    ratio = W.std() / np.sqrt(2.0 / fan_in)
    if abs(ratio - 1) > 0.03:
        return (f"The spread is {ratio:.2f} times what keeps a ReLU layer's signal the same size. "
                "ReLU sets half of its inputs to zero.")
    return None


EXERCISES = [
    Exercise("03.1", "one backward step through a sigmoid layer", "my_backward_step", _backward_test),
    Exercise("03.2", "predict: the first layer at depth 20", "guess_depth_20_ratio", _ratio_test),
    Exercise("03.3", "He initialisation", "my_he_init", _he_test),
]
