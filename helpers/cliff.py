"""The "cliff" of Pascanu, Mikolov & Bengio (2013, section 3, Figure 6): one recurrent unit.

A `Cliff` is one sigmoid unit run for T steps, with its two parameters w and b:

    x_0 = x0,   x_t = w * sigmoid(x_{t-1}) + b,   E(w, b) = (sigmoid(x_T) - target)^2

PASCANU_CLIFF is the paper's setup: x0 = 0.5, T = 50, target 0.7.

For w > 1 / sigmoid'(x0) (about 4.25 here) the map x -> w sigmoid(x) + b can have two
attractors, one low and one high, and x_T ends near the one whose basin x0 lies in.
The boundary between the basins passes through x0 where x0 is the map's (unstable)
fixed point, on the line b = x0 - w sigmoid(x0) (`wall_bias`). Across that line
x_T jumps from one attractor to the other within a sliver of (w, b): the error
surface has a wall whose gradient grows like (w sigmoid'(x0))^T, from a norm of
about 160 at w = 4.5 to 7e3 at w = 5 and 3e10 at w = 7, while its median over
CLIFF_WINDOW is 0.04. The valley of small error runs into the wall and on along its
side, so gradient descent is drawn to the wall, and a step that lands on its face
can be thrown far away. Clipping the gradient's norm (Algorithm 1 of the paper,
helpers.clipping.clip_by_global_norm) bounds every step instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from helpers.clipping import clip_by_global_norm
from helpers.gradcheck import norm
from helpers.validation import as_float_array, check_int, check_number, check_optional_number

MAX_T = 1000  # the longest unit a Cliff allows: each evaluation loops over T steps


@dataclass(frozen=True)
class Cliff:
    """One sigmoid unit: x_t = w sigmoid(x_{t-1}) + b for t = 1..T from x_0 = x0; error (sigmoid(x_T) - target)^2.

    T: int from 1 to MAX_T; x0: finite number; target: a number strictly between 0 and 1
    (the range of sigmoid, so the error can reach 0).
    """

    T: int
    x0: float
    target: float

    def __post_init__(self):
        object.__setattr__(self, "T", check_int(self.T, "T", 1, MAX_T))
        object.__setattr__(self, "x0", check_number(self.x0, "x0"))
        target = check_number(self.target, "target")
        if not 0.0 < target < 1.0:
            raise ValueError(f"target must be a finite number strictly between 0 and 1, got {self.target!r}")
        object.__setattr__(self, "target", target)


PASCANU_CLIFF = Cliff(T=50, x0=0.5, target=0.7)

# Where PASCANU_CLIFF's wall shows, as (w from, w to, b from, b to): the wall runs from
# the cusp near (4.25, -2.15) to (7, -3.86), the valley of small error joins it from
# the left, and the two plains lie on either side.
CLIFF_WINDOW = (3.0, 7.0, -4.0, 0.0)
# A descent that meets the wall: starting on the low plain just under it, plain gradient
# descent bounces across it and at update 18 lands on its steep face (||g|| = 45),
# which throws (w, b) 45 away onto the high plain, where it stays. Clipped at the
# threshold it moves 0.3 instead and goes on along the wall into the valley.
CLIFF_START = (5.25, -3.0)
CLIFF_LR = 1.0
CLIFF_THRESHOLD = 0.3
CLIFF_STEPS = 100


@dataclass(frozen=True, eq=False)
class Descent:
    """One run of gradient descent on a cliff's error (what `descend` returns).

    path:      (steps+1, 2) (w, b) before update k in row k; the last row is where it ended
    loss:      (steps+1,) E at each row of `path`: step k is the error before update k
    grad_norm: (steps,) ||(dE/dw, dE/db)|| at update k, before any clipping
    clipped:   (steps,) bool, True where Algorithm 1 rescaled update k (grad_norm >= threshold)
    lr, threshold: the settings (threshold None: no clipping)
    """

    path: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray
    clipped: np.ndarray
    lr: float
    threshold: float | None

    @property
    def step_lengths(self) -> np.ndarray:
        """(steps,) how far update k moved (w, b): lr times the (clipped) gradient's norm."""
        return norm(np.diff(self.path, axis=0), axis=1)


def _check_cliff(cliff) -> Cliff:
    if not isinstance(cliff, Cliff):
        raise ValueError(f"cliff must be a Cliff (e.g. PASCANU_CLIFF), got {type(cliff).__name__}")
    return cliff


def _sigmoid_and_slope_float(x: float) -> tuple[float, float]:
    """(sigmoid(x), sigmoid'(x)) for one Python float, from exp(-|x|), which never overflows."""
    e = math.exp(-abs(x))
    r = 1.0 / (1.0 + e)
    return (r if x >= 0 else e * r), e * r * r


def _sigmoid_and_slope_array(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sigmoid(x), sigmoid'(x)) elementwise for an array, as _sigmoid_and_slope_float."""
    e = np.exp(-np.abs(x))
    r = 1.0 / (1.0 + e)
    return np.where(x >= 0, r, e * r), e * r * r


def _unit(w, b, cliff: Cliff, sigmoid_and_slope) -> tuple:
    """(x_T, dx_T/dw, dx_T/db) by forward-mode differentiation, for floats or arrays.

    The derivatives follow x_t step by step:
        dx_t/dw = sigmoid(x_{t-1}) + w sigmoid'(x_{t-1}) dx_{t-1}/dw
        dx_t/db = 1                + w sigmoid'(x_{t-1}) dx_{t-1}/db
    so one pass over the T steps gives them exactly, for a whole grid at once.
    """
    x, dx_dw, dx_db = cliff.x0, 0.0, 0.0
    for _ in range(cliff.T):
        s, slope = sigmoid_and_slope(x)
        gain = w * slope  # dx_t / dx_{t-1}: above 1 for many steps on the wall
        dx_dw = s + gain * dx_dw
        dx_db = 1.0 + gain * dx_db
        x = w * s + b
    return x, dx_dw, dx_db


def _error(w, b, cliff: Cliff, sigmoid_and_slope) -> tuple:
    """(E, dE/dw, dE/db) for floats or arrays (chain rule through sigmoid(x_T))."""
    x, dx_dw, dx_db = _unit(w, b, cliff, sigmoid_and_slope)
    s, slope = sigmoid_and_slope(x)
    residual = s - cliff.target
    outer = 2.0 * residual * slope  # dE / dx_T
    return residual * residual, outer * dx_dw, outer * dx_db


def _float_array(value, name: str) -> np.ndarray:
    """`value` as a float64 array; None is refused (numpy would read it as NaN)."""
    allowed = "a number or an array of numbers"
    if value is None:
        raise ValueError(f"{name} must be {allowed}, got None")
    return as_float_array(value, name, allowed)


def _grids(w, b) -> tuple[np.ndarray, np.ndarray]:
    """w and b as float64 arrays broadcast to one shape."""
    w, b = _float_array(w, "w"), _float_array(b, "b")
    try:
        return tuple(np.broadcast_arrays(w, b))
    except ValueError:
        raise ValueError(f"w and b must have shapes that broadcast together, got {w.shape} and {b.shape}") from None


def final_state(w, b, cliff: Cliff = PASCANU_CLIFF) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x_T, dx_T/dw, dx_T/db) for every (w, b): arrays (or numbers) of shapes that broadcast together.

    Each result has the broadcast shape, float64. Each step multiplies the derivatives
    by at most |w|/4, so for PASCANU_CLIFF they are finite for |w| up to 1e6 (and b of
    ordinary size); beyond that, or for non-finite inputs, inf and NaN come out silently.
    """
    cliff = _check_cliff(cliff)
    w, b = _grids(w, b)
    with np.errstate(over="ignore", invalid="ignore"):
        x, dx_dw, dx_db = _unit(w, b, cliff, _sigmoid_and_slope_array)
    return tuple(np.broadcast_to(v, w.shape).astype(np.float64) for v in (x, dx_dw, dx_db))


def cliff_error(w, b, cliff: Cliff = PASCANU_CLIFF) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E, dE/dw, dE/db) for every (w, b), exact (forward mode through the T steps).

    w, b: numbers or arrays of shapes that broadcast together (e.g. a meshgrid).
    Returns three float64 arrays of the broadcast shape. Finite as final_state says.
    """
    cliff = _check_cliff(cliff)
    w, b = _grids(w, b)
    with np.errstate(over="ignore", invalid="ignore"):
        parts = _error(w, b, cliff, _sigmoid_and_slope_array)
    return tuple(np.broadcast_to(v, w.shape).astype(np.float64) for v in parts)


def wall_bias(w, cliff: Cliff = PASCANU_CLIFF) -> np.ndarray:
    """(shape of w) the bias b at which x0 is a fixed point of x -> w sigmoid(x) + b: b = x0 - w sigmoid(x0).

    Where w sigmoid'(x0) > 1 that fixed point is unstable and separates the two
    attractors' basins: this line is the wall. NaN where w sigmoid'(x0) <= 1 (no wall there).
    """
    cliff = _check_cliff(cliff)
    w = _float_array(w, "w")
    s, slope = _sigmoid_and_slope_float(cliff.x0)
    with np.errstate(invalid="ignore"):
        return np.where(w * slope > 1.0, cliff.x0 - w * s, np.nan)


def descend(w0, b0, lr, steps, threshold=None, cliff: Cliff = PASCANU_CLIFF) -> Descent:
    """Gradient descent on E from (w0, b0): `steps` updates (w, b) <- (w, b) - lr g.

    threshold: None (plain gradient descent), or Algorithm 1 of Pascanu et al. (2013):
    if ||g|| >= threshold, g <- threshold g / ||g|| (helpers.clipping.clip_by_global_norm),
    so no update moves (w, b) further than lr * threshold, and each keeps the
    gradient's direction. A run whose parameters overflow carries on with inf and
    NaN, silently. Returns a Descent (path (steps+1, 2), loss (steps+1,), ...).
    """
    w = check_number(w0, "w0")
    b = check_number(b0, "b0")
    lr = check_number(lr, "lr", 0.0, strict=True)
    steps = check_int(steps, "steps", 0)
    threshold = check_optional_number(threshold, "threshold", 0.0, strict=True)
    cliff = _check_cliff(cliff)
    path, loss = np.empty((steps + 1, 2)), np.empty(steps + 1)
    grad_norm, clipped = np.empty(steps), np.zeros(steps, dtype=bool)
    for k in range(steps):
        # Python floats, not numpy: a live figure reruns this on every slider move.
        loss[k], g_w, g_b = _error(w, b, cliff, _sigmoid_and_slope_float)
        path[k] = w, b
        if threshold is None:
            grad_norm[k] = norm([g_w, g_b])
        else:
            result = clip_by_global_norm([g_w, g_b], threshold)
            grad_norm[k] = result.norm_before
            clipped[k] = result.norm_before >= threshold
            g_w, g_b = (float(g) for g in result.grads)
        w, b = w - lr * g_w, b - lr * g_b
    path[steps] = w, b
    loss[steps] = _error(w, b, cliff, _sigmoid_and_slope_float)[0]
    return Descent(path, loss, grad_norm, clipped, lr, threshold)
