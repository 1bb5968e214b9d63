"""Exercises of notebook 07 (remedies)."""
import numpy as np

from helpers.data import insurance_batch
from helpers.exercises.core import Exercise
from helpers.lab import DEFAULT_BATCH, DEFAULT_WIDTH, numpy_train
from helpers.network import NetConfig

REMEDY_DEPTH = 30
BROKEN = {"activation": "sigmoid", "init": "xavier"}  # the network the prompt describes, before any remedy
REMEDY_KEYS = ("activation", "init", "weight_scale", "batch_norm", "residual")


def _orthogonal_test(fn):
    n = 64
    Q = np.asarray(fn(n, np.random.default_rng(0)), dtype=float)
    if Q.shape == (2, n, n):
        return "You returned two matrices; np.linalg.qr gives the pair (Q, R): which one is orthogonal?"
    if Q.shape != (n, n):
        return f"Return an ({n}, {n}) matrix."
    other = np.asarray(fn(n, np.random.default_rng(1)), dtype=float)
    if np.allclose(Q, other) or not np.allclose(Q, fn(n, np.random.default_rng(0))):
        return "Draw from the `rng` you are given: the same seed, the same matrix; another seed, another one."
    singular = np.linalg.svd(Q, compute_uv=False)
    if not np.allclose(singular, 1.0, atol=1e-8):
        return (f"Its singular values run from {singular.min():.2f} to {singular.max():.2f}; an orthogonal "
                "matrix has all of them equal to 1. Which factorisation gives one from a random matrix?")
    return None


def _orthogonal_hidden(fn, rng):
    """Other sizes (2 to 12, and 65 to 100) and seeds: shape, the seed's use, all singular values 1."""
    seed = int(rng.integers(2 ** 31))
    for n in (int(rng.integers(2, 13)), int(rng.integers(65, 101))):
        Q = np.asarray(fn(n, np.random.default_rng(seed)), dtype=float)
        if Q.shape != (n, n):
            return f"For n = {n} (drawn by the grader) your matrix has shape {Q.shape}."
        again, other = fn(n, np.random.default_rng(seed)), fn(n, np.random.default_rng(seed + 1))
        if not np.allclose(Q, again) or np.allclose(Q, other):
            return f"For n = {n} (drawn by the grader) your matrix does not come from the `rng` you are given."
        if not np.allclose(np.linalg.svd(Q, compute_uv=False), 1.0, atol=1e-8):
            return f"For n = {n} (drawn by the grader) your matrix is not orthogonal."
    return None


def _remedy_test(remedy):
    if not isinstance(remedy, dict) or not set(remedy) <= set(REMEDY_KEYS):
        return f"Give a dict whose keys are some of: {', '.join(REMEDY_KEYS)}."
    config = NetConfig(depth=REMEDY_DEPTH, width=DEFAULT_WIDTH, **{**BROKEN, **remedy})
    run = numpy_train(config, *insurance_batch(DEFAULT_BATCH), rng=np.random.default_rng(0))
    first, last = run.grad_norms[0][0], run.grad_norms[0][-1]
    if not np.isfinite(run.grad_norms[0]).all() or not 0.1 <= first / last <= 10:
        return f"At initialisation the first layer gets {first / last:.2g} times the last layer's gradient."
    if not run.loss[-1] < 0.97 * run.loss[0]:
        return "Gradients are balanced, but the loss does not fall in 20 steps."
    return None


EXERCISES = [
    Exercise("07.1", "orthogonal initialisation", "my_orthogonal", _orthogonal_test, hidden=_orthogonal_hidden),
    Exercise("07.2", "a remedy for a 30-layer sigmoid network", "my_remedy", _remedy_test),
]
