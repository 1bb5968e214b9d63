"""01.1's function asks for 50 GB when it is checked; a cell of 01.2 then allocates (and
touches) 256 MB blocks, up to 12 GB, far beyond the sandbox's 4 GB. 01.2's answer is right,
but if all 12 GB were granted (no memory limit), the cell replaces it with a wrong one.

Honest outcome: 01.1 wrong or crashed; 01.2 correct (MemoryError), crashed (killed at the
limit) or timeout (a machine that hands out memory slowly), never wrong; 01.3 correct.
"""
# %% 01.1
import numpy as np


def my_sigmoid_prime(z):
    hog = np.ones(50 * 2 ** 30 // 8)
    return hog[: np.size(z)].reshape(np.shape(z)) * 0.25

# %% 01.2 after


def grow(blocks=48):
    held = []
    for _ in range(blocks):
        held.append(np.ones(32 * 2 ** 20))  # 256 MB, every page written
    return len(held)


try:
    granted = grow()
except MemoryError:
    granted = 0
if granted == 48:  # nothing stopped 12 GB: the limit is missing, and the verdict shows it
    def my_chain_gradient(w, z):
        return 0.5
