"""The "cliff" of Pascanu, Mikolov & Bengio (2013, section 2.3), in one recurrent unit.

One tanh unit runs for T steps with its weight w, a fixed bias and start state:

    h_0 = H0,   h_t = tanh(w * h_{t-1} + BIAS),   L(w) = (h_T - TARGET)^2

For small w the unit settles near -1; past a critical w (about 1.96 here) it settles
near +1 instead. Between the two the final state jumps within a sliver of w: the
loss surface has a wall whose gradient is hundreds of times larger than anywhere
else. The minimum sits just beside the wall, so gradient descent that approaches it
can be thrown far away by a single step; clipping the gradient's size prevents that.
"""
from __future__ import annotations

import numpy as np

T_STEPS = 10
BIAS = -0.5
H0 = 0.6
TARGET = 0.8


def final_state(w, T: int = T_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """h_T and dh_T/dw for every w in `w` (any shape), by forward-mode differentiation.

    d h_t/dw = f'(z_t) (h_{t-1} + w dh_{t-1}/dw) follows h_t step by step, so one
    pass over T steps gives the exact derivative for a whole grid of w at once.
    """
    w = np.asarray(w, dtype=np.float64)
    h = np.full_like(w, H0)
    dh = np.zeros_like(w)
    for _ in range(T):
        a = np.tanh(w * h + BIAS)
        dh = (1.0 - a * a) * (h + w * dh)
        h = a
    return h, dh


def cliff_loss(w, T: int = T_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """L(w) = (h_T - TARGET)^2 and dL/dw, each shaped like `w`."""
    h, dh = final_state(w, T)
    return (h - TARGET) ** 2, 2.0 * (h - TARGET) * dh


def descend(w0: float, lr: float, steps: int, clip: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gradient descent on L from w0: (w (steps+1,), L (steps+1,)).

    clip: None, or the largest gradient size allowed: a larger gradient is scaled
    down to that size, keeping its sign (Pascanu et al. 2013, Algorithm 1, in 1-D).
    """
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if clip is not None and not (np.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be None or a finite number > 0, got {clip!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
    path = np.empty(int(steps) + 1)
    path[0] = w0
    for k in range(int(steps)):
        _, grad = cliff_loss(path[k])
        if clip is not None and abs(grad) > clip:
            grad = clip * np.sign(grad)
        path[k + 1] = path[k] - lr * grad
    return path, cliff_loss(path)[0]
