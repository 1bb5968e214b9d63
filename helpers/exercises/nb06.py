"""Exercises of notebook 06 (LSTM and GRU gates)."""
import numpy as np

from helpers.activations import sigmoid
from helpers.exercises.core import Exercise, number, same_array

SURVIVE_STEPS, SURVIVE_SHARE = 100, 0.1


def _forget_test(fn):
    rng = np.random.default_rng(7)
    B, n_in, H = 3, 4, 5
    x, h = rng.normal(size=(B, n_in)), rng.normal(size=(B, H))
    W, U, b = rng.normal(size=(n_in, H)), rng.normal(size=(H, H)), rng.normal(size=H)
    got = np.asarray(fn(x, h, W, U, b), dtype=float)
    if got.shape == (B, H) and np.allclose(got, np.tanh(x @ W + h @ U + b)):
        return "A gate must lie between 0 and 1: which activation does that?"
    if got.shape == (B, H) and np.allclose(got, sigmoid(x @ W + h @ U)):
        return "The bias is missing: the gate needs it to stay open when the inputs are 0."
    return same_array(got, sigmoid(x @ W + h @ U + b), rtol=1e-8)


def _cell_test(fn):
    rng = np.random.default_rng(8)
    f = rng.uniform(0.5, 1.0, size=(30, 2, 3))  # (T, B, H)
    got = np.asarray(fn(f), dtype=float)
    if got.shape == (2, 3) and np.allclose(got, f.sum(axis=0)):
        return "You added the gates. How does the cell state carry from one step to the next?"
    if got.shape == (2, 3) and np.allclose(got, f.mean(axis=0)):
        return "That is the average gate; the gradient goes through every step one after another."
    return same_array(got, np.prod(f, axis=0), rtol=1e-8)


def _bias_test(value):
    bias = number(value, "The bias")
    share = float(sigmoid(np.array(bias))) ** SURVIVE_STEPS
    if share < SURVIVE_SHARE:
        return f"With this bias only {share:.2g} of the gradient survives {SURVIVE_STEPS} steps."
    if bias > 10:
        return "Much larger than needed: a gate stuck at 1 can never forget anything."
    return None


EXERCISES = [
    Exercise("06.1", "the LSTM forget gate", "my_forget_gate", _forget_test),
    Exercise("06.2", "the gradient along the cell path", "my_cell_path", _cell_test),
    Exercise("06.3", "a forget bias that remembers 100 steps", "my_forget_bias", _bias_test),
]
