"""The "cliff" of Pascanu, Mikolov & Bengio (2013, section 2.3), in one recurrent unit.

A `Cliff` is one tanh unit run for T steps with its weight w, a fixed bias and start state:

    h_0 = h0,   h_t = tanh(w * h_{t-1} + bias),   L(w) = (h_T - target)^2

For small w the unit settles near -1; past a critical w (about 1.96 for TANH_CLIFF)
it settles near +1 instead. Between the two the final state jumps within a sliver of
w: the loss surface has a wall whose gradient is hundreds of times larger than
anywhere else. The minimum sits just beside the wall, so gradient descent that
approaches it can be thrown far away by a single step; clipping the gradient's size
prevents that. TANH_CLIFF is the course's adaptation (a tanh unit); every function
takes the unit as an argument.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.validation import check_int, check_number, check_optional_number


@dataclass(frozen=True)
class Cliff:
    """One tanh unit: h_t = tanh(w h_{t-1} + bias) for t = 1..T from h_0 = h0, loss (h_T - target)^2."""

    T: int
    bias: float
    h0: float
    target: float

    def __post_init__(self):
        object.__setattr__(self, "T", check_int(self.T, "T", 1))
        for name in ("bias", "h0", "target"):
            object.__setattr__(self, name, check_number(getattr(self, name), name))


TANH_CLIFF = Cliff(T=10, bias=-0.5, h0=0.6, target=0.8)


def _check_cliff(cliff) -> Cliff:
    if not isinstance(cliff, Cliff):
        raise ValueError(f"cliff must be a Cliff (e.g. TANH_CLIFF), got {type(cliff).__name__}")
    return cliff


def final_state(w, cliff: Cliff = TANH_CLIFF) -> tuple[np.ndarray, np.ndarray]:
    """h_T and dh_T/dw for every w in `w` (any shape), by forward-mode differentiation.

    d h_t/dw = f'(z_t) (h_{t-1} + w dh_{t-1}/dw) follows h_t step by step, so one
    pass over T steps gives the exact derivative for a whole grid of w at once.
    """
    cliff = _check_cliff(cliff)
    w = np.asarray(w, dtype=np.float64)
    h = np.full_like(w, cliff.h0)
    dh = np.zeros_like(w)
    for _ in range(cliff.T):
        a = np.tanh(w * h + cliff.bias)
        dh = (1.0 - a * a) * (h + w * dh)
        h = a
    return h, dh


def cliff_loss(w, cliff: Cliff = TANH_CLIFF) -> tuple[np.ndarray, np.ndarray]:
    """L(w) = (h_T - target)^2 and dL/dw, each shaped like `w`."""
    h, dh = final_state(w, cliff)
    return (h - cliff.target) ** 2, 2.0 * (h - cliff.target) * dh


def descend(w0, lr, steps, clip=None, cliff: Cliff = TANH_CLIFF) -> tuple[np.ndarray, np.ndarray]:
    """Gradient descent on L from w0: (w (steps+1,), L (steps+1,)).

    clip: None, or the largest gradient size allowed: a larger gradient is scaled
    down to that size, keeping its sign (Pascanu et al. 2013, Algorithm 1, in 1-D).
    """
    w0 = check_number(w0, "w0")
    lr = check_number(lr, "lr", 0.0, strict=True)
    clip = check_optional_number(clip, "clip", 0.0, strict=True)
    steps = check_int(steps, "steps", 0)
    path = np.empty(steps + 1)
    path[0] = w0
    for k in range(steps):
        _, grad = cliff_loss(path[k], cliff)
        if clip is not None and abs(grad) > clip:
            grad = clip * np.sign(grad)
        path[k + 1] = path[k] - lr * grad
    return path, cliff_loss(path, cliff)[0]
