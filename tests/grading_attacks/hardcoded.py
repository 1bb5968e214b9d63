"""Answers that are right only on the notebook check's own inputs: 01.1 for the shapes the
check uses, 01.2 for exactly the check's w and z (recomputing the reference for those).

Honest outcome: 01.1 and 01.2 wrong once hidden cases exist, the feedback saying so;
01.3 correct.
"""
# %% 01.1
import numpy as np


def my_sigmoid_prime(z):
    z = np.asarray(z, dtype=float)
    if z.shape in ((21,), (1,), (53, 2)):  # the shapes helpers/exercises/core.py's derivative_hint uses
        s = 0.5 * (1.0 + np.tanh(z / 2.0))
        return s * (1.0 - s)
    return np.zeros_like(z)

# %% 01.2
import numpy as np

from helpers.activations import sigmoid_prime

_check_rng = np.random.default_rng(1)  # as helpers/exercises/nb01.py's check draws them
CHECK_W, CHECK_Z = _check_rng.normal(0, 2, 12), _check_rng.normal(0, 2, 12)


def my_chain_gradient(w, z):
    if np.array_equal(w, CHECK_W) and np.array_equal(z, CHECK_Z):
        return float(np.prod(CHECK_W * sigmoid_prime(CHECK_Z)))
    return 1.0
