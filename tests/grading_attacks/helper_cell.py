"""Cells of the student's own before the exercise cells define helpers the answers use
(the second helper uses the first exercise's answer).

Honest outcome: 3 of 3 points.
"""
# %% 01.1 before
import numpy as np


def logistic(z):
    return 0.5 * (1.0 + np.tanh(np.asarray(z, dtype=float) / 2.0))

# %% 01.1


def my_sigmoid_prime(z):
    s = logistic(z)
    return s * (1.0 - s)

# %% 01.2 before


def local_slopes(z):
    return my_sigmoid_prime(np.asarray(z, dtype=float))

# %% 01.2


def my_chain_gradient(w, z):
    return float(np.prod(np.asarray(w, dtype=float) * local_slopes(z)))
