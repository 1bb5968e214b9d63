"""01.1's cell never ends (after defining a right answer).

Honest outcome: 01.1 timeout (the detail names it); 01.2 and 01.3 correct.
"""
# %% 01.1
import numpy as np


def my_sigmoid_prime(z):
    s = 0.5 * (1.0 + np.tanh(np.asarray(z, dtype=float) / 2.0))
    return s * (1.0 - s)


while True:
    pass
