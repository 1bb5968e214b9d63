"""Exercises of notebook 06 (LSTM and GRU gates)."""
import numpy as np

from helpers.activations import sigmoid
from helpers.exercises.core import Exercise, grader_case_hint, number, same_array

SURVIVE_STEPS, SURVIVE_SHARE = 100, 0.1


def _forget_test(fn):
    rng = np.random.default_rng(7)
    B, n_in, H = 3, 4, 5
    x, h = rng.normal(size=(B, n_in)), rng.normal(size=(B, H))
    W, U, b = rng.normal(size=(H, n_in)), rng.normal(size=(H, H)), rng.normal(size=H)  # (fan_out, fan_in)
    try:
        got = np.asarray(fn(x, h, W, U, b), dtype=float)
    except ValueError as err:
        if "mismatch" not in str(err) and "not aligned" not in str(err):
            raise
        return ("The shapes do not fit: W_f is (H, n_in), stored (out, in) as torch stores weights, "
                "so a batch x (B, n_in) goes through it as x @ W_f.T.")
    if got.shape == (B, H) and np.allclose(got, np.tanh(x @ W.T + h @ U.T + b)):
        return "A gate must lie between 0 and 1: which activation does that?"
    if got.shape == (B, H) and np.allclose(got, sigmoid(x @ W.T + h @ U.T)):
        return "The bias is missing: the gate needs it to stay open when the inputs are 0."
    if got.shape == (B, H) and np.allclose(got, sigmoid(x @ W.T + h @ U + b)):
        return "U_f is (H, H) like W_f, (out, in): h goes through it as h @ U_f.T."
    return same_array(got, sigmoid(x @ W.T + h @ U.T + b), rtol=1e-8)


def _forget_hidden(fn, rng):
    """Other sizes (n_in != H, a batch of 1) and scales, with gates pushed far towards 0 and 1."""
    n_in, H = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    if n_in == H:
        n_in += 1
    for B in (1, int(rng.integers(2, 9))):
        scale = rng.uniform(0.5, 8)
        x, h = rng.normal(0, scale, (B, n_in)), rng.normal(0, scale, (B, H))
        W, U, b = rng.normal(size=(H, n_in)), rng.normal(size=(H, H)), rng.normal(0, 3, H)
        # |z| <= 12: a gate may be 6e-6 from 0 or 1, where every right formula is still exact to 1e-8 of the largest.
        shrink = min(1.0, 12 / np.abs(x @ W.T + h @ U.T + b).max())
        x, h, b = x * shrink, h * shrink, b * shrink
        got = fn(x.copy(), h.copy(), W.copy(), U.copy(), b.copy())
        hint = grader_case_hint(got, sigmoid(x @ W.T + h @ U.T + b), f"B = {B}, n_in = {n_in} and H = {H}", 1e-8)
        if hint:
            return hint
    return None


def _cell_test(fn):
    rng = np.random.default_rng(8)
    f = rng.uniform(0.5, 1.0, size=(2, 30, 3))  # (B, T, H)
    got = np.asarray(fn(f), dtype=float)
    if got.shape == (2, 3) and np.allclose(got, f.sum(axis=1)):
        return "You added the gates. How does the cell state carry from one step to the next?"
    if got.shape == (2, 3) and np.allclose(got, f.mean(axis=1)):
        return "That is the average gate; the gradient goes through every step one after another."
    if got.shape == (2, 3) and np.allclose(got, f[:, -1]):
        return "That is the last step's gate alone; the gradient from c_T to c_0 passes through every step."
    if got.shape == (30, 3):
        return "The steps are the second axis, (B, T, H): take the product over time, not over the batch."
    if got.shape == (2, 30):
        return "The steps are the second axis, (B, T, H): take the product over time, not over the units."
    if got.shape == f.shape:
        return "That is one value per step; return the product over all T steps, one value per example and unit."
    if got.shape == ():
        return "Return one value per example and unit, (B, H): multiply over the steps only."
    return same_array(got, np.prod(f, axis=1), rtol=1e-8)


def _cell_hidden(fn, rng):
    """Other (B, T, H): one step, a single example and unit, and long sequences of gates near 1."""
    B, H = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    cases = [rng.uniform(0.05, 1.0, (B, 1, H)), rng.uniform(0.05, 1.0, (1, int(rng.integers(2, 40)), 1)),
             rng.uniform(0.95, 1.0, (B, int(rng.integers(100, 300)), H))]
    for f in cases:
        hint = grader_case_hint(fn(f.copy()), np.prod(f, axis=1), f"forget gates of shape {f.shape}", 1e-8)
        if hint:
            return hint
    return None


def _bias_test(value):
    bias = number(value, "The bias")
    share = float(sigmoid(np.array(bias))) ** SURVIVE_STEPS
    if share < SURVIVE_SHARE:
        return f"With this bias only {share:.2g} of the gradient survives {SURVIVE_STEPS} steps."
    if bias > 10:
        return "Much larger than needed: a gate stuck at 1 can never forget anything."
    return None


EXERCISES = [
    Exercise("06.1", "the LSTM forget gate", "my_forget_gate", _forget_test, hidden=_forget_hidden),
    Exercise("06.2", "the gradient along the cell path", "my_cell_path", _cell_test, hidden=_cell_hidden),
    Exercise("06.3", "a forget bias that remembers 100 steps", "my_forget_bias", _bias_test),
]
