"""Activation functions and their derivatives, in numpy and torch.

Every numpy function here is elementwise: it takes a scalar or an array ``z``
of any shape ``(...)`` and returns float64 of the same shape (a numpy scalar
when ``z`` is a scalar). They never emit RuntimeWarnings: an infinite input
gives the limiting value and NaN propagates, because the course deliberately
feeds them extreme values (huge weights, very deep networks).

Derivatives at the kinks of relu and leaky_relu follow torch's convention
(the slope of the left-hand piece at z = 0), so numpy and autograd agree.
"""
import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from helpers.validation import check_number

ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
LEAKY_SLOPE = 0.01


def _elementwise(kernel):
    """Make kernel (float64 array of ndim >= 1 -> same shape) accept any input.

    Scalars and 0-d arrays go through as shape (1,) and come back as a numpy
    scalar, so kernels can use in-place ufuncs (out=...) freely.
    """

    @functools.wraps(kernel)
    def wrapper(z):
        z = np.asarray(z, dtype=np.float64)
        if z.ndim == 0:
            return kernel(z.reshape(1))[0]
        return kernel(z)

    return wrapper


def _exp_minus_abs(z: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """exp(-scale * |z|), a fresh array in [0, 1]: it can never overflow."""
    # In-place steps: these run on every slider move, so fewer temporaries.
    e = np.abs(z)
    np.multiply(e, -scale, out=e)
    return np.exp(e, out=e)


def _sigmoid_with_slope(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sigmoid(z), sigmoid'(z)) for float64 ``z`` of ndim >= 1, from one exp; stable for any z."""
    with np.errstate(all="ignore"):
        # With e = exp(-|z|) in [0, 1]: sigmoid is 1 / (1 + e) for z >= 0 and
        # e / (1 + e) for z < 0. Neither exponentiates a large positive number, so
        # nothing overflows, and tiny results keep full precision. The derivative
        # e / (1 + e)^2 is even; unlike s * (1 - s) it does not cancel to 0 when s
        # rounds to 1.
        e = _exp_minus_abs(z)
        d = e + 1.0
        r = np.reciprocal(d)
        value = np.where(z >= 0, r, e * r)
        np.square(d, out=d)
        np.divide(e, d, out=e)
        # Near z = 0 the three roundings of e / (1 + e)^2 can land an ulp above the
        # true maximum 1/4 (0.25000000000000006 at z = 1e-9). The true value is never
        # above 1/4, so clipping there only moves a result closer to it, and keeps
        # the bound max_slope = 1/4 exact. np.minimum keeps NaN.
        return value, np.minimum(e, 0.25, out=e)


@_elementwise
def sigmoid(z):
    """1 / (1 + exp(-z)), shape of ``z``; stable for any z including +-inf."""
    return _sigmoid_with_slope(z)[0]


@_elementwise
def sigmoid_prime(z):
    """sigmoid(z) * (1 - sigmoid(z)), shape of ``z``; maximum 1/4 at z = 0."""
    return _sigmoid_with_slope(z)[1]


@_elementwise
def tanh(z):
    """Hyperbolic tangent, shape of ``z``."""
    return np.tanh(z)


@_elementwise
def tanh_prime(z):
    """1 - tanh(z)^2, shape of ``z``; maximum 1 at z = 0."""
    with np.errstate(all="ignore"):
        # 1 / cosh(z)^2 = 4e / (1 + e)^2 with e = exp(-2|z|): no overflow for
        # large |z| and no cancellation in 1 - tanh^2 near saturation.
        e = _exp_minus_abs(z, 2.0)
        d = e + 1.0
        np.square(d, out=d)
        np.divide(e, d, out=e)
        np.multiply(e, 4.0, out=e)
        # As for sigmoid': rounding can give 1.0000000000000002 near z = 0, and
        # clipping at the true maximum 1 is exact there and changes nothing elsewhere.
        return np.minimum(e, 1.0, out=e)


@_elementwise
def relu(z):
    """max(z, 0), shape of ``z`` (NaN stays NaN)."""
    return np.maximum(z, 0.0)


@_elementwise
def relu_prime(z):
    """1 where z > 0, else 0 (so 0 at z = 0, as in torch); NaN stays NaN."""
    # The Heaviside step is exactly this, and unlike np.where it keeps NaN.
    return np.heaviside(z, 0.0)


@_elementwise
def leaky_relu(z):
    """z where z > 0, else LEAKY_SLOPE * z; shape of ``z``."""
    with np.errstate(all="ignore"):
        return np.where(z > 0, z, LEAKY_SLOPE * z)


@_elementwise
def leaky_relu_prime(z):
    """1 where z > 0, else LEAKY_SLOPE (also at z = 0, as in torch); NaN stays NaN."""
    step = np.heaviside(z, 0.0)
    return LEAKY_SLOPE + (1.0 - LEAKY_SLOPE) * step


@_elementwise
def linear(z):
    """The identity, as float64 of the shape of ``z``."""
    return z.copy()


@_elementwise
def linear_prime(z):
    """1 everywhere, shape of ``z``; NaN stays NaN."""
    # heaviside(|z|, 1) is 1 for every number (|z| > 0 or z = 0) and NaN for NaN.
    return np.heaviside(np.abs(z), 1.0)


def _torch_leaky_relu(t: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.leaky_relu(t, negative_slope=LEAKY_SLOPE)


def _torch_linear(t: torch.Tensor) -> torch.Tensor:
    return t


@dataclass(frozen=True)
class Activation:
    """One activation: numpy ``f`` and ``df``, torch ``torch_f``, and sup|f'|.

    ``max_slope`` is the largest possible local derivative; a chain of n units
    with weight w can multiply a gradient by at most (|w| * max_slope)^n.
    ``f_and_df(z)`` is (f(z), df(z)) for a float64 array ``z`` (ndim >= 1), what a
    forward pass keeps for the backward pass; one exp instead of two for sigmoid.
    """

    name: str
    f: Callable
    df: Callable
    max_slope: float
    torch_f: Callable
    f_and_df: Callable = None

    def __post_init__(self):
        if self.f_and_df is None:
            object.__setattr__(self, "f_and_df", lambda z: (self.f(z), self.df(z)))


_ACTIVATIONS = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_prime, 0.25, torch.sigmoid, _sigmoid_with_slope),
    "tanh": Activation("tanh", tanh, tanh_prime, 1.0, torch.tanh),
    "relu": Activation("relu", relu, relu_prime, 1.0, torch.relu),
    "leaky_relu": Activation("leaky_relu", leaky_relu, leaky_relu_prime, 1.0, _torch_leaky_relu),
    "linear": Activation("linear", linear, linear_prime, 1.0, _torch_linear),
}


def get_activation(name) -> Activation:
    """The Activation called ``name`` (case-insensitive); an Activation passes through."""
    if isinstance(name, Activation):
        return name
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; choose one of: {', '.join(ACTIVATION_NAMES)}"
        )
    return _ACTIVATIONS[key]


# Activations that flatten out far from 0: only these can saturate. relu, leaky_relu
# and linear are straight lines on each side of 0, so their slope never fades.
SATURATING = ("sigmoid", "tanh")
# Activations with a piece of slope exactly 0: only relu (leaky_relu keeps a slope
# of LEAKY_SLOPE there, so a leaky unit is never inactive).
CAN_BE_INACTIVE = ("relu",)


def saturated(z, activation, tol=0.1):
    """Boolean array, shape of ``z``: where a sigmoid or tanh unit is saturated.

    Saturated: |f'(z)| < tol * max_slope on an activation that flattens out
    (SATURATING): its input landed on a flat tail, so it passes back less than
    ``tol`` of the most it could. Far in the tails the slope may round to 0 in
    float64; such a unit is still saturated, not inactive. relu, leaky_relu and linear are never
    saturated (see ``inactive`` for relu's flat side). NaN counts as not saturated.
    """
    act = get_activation(activation)
    tol = check_number(tol, "tol", 0.0)
    slope = np.abs(act.df(z))
    if act.name not in SATURATING:
        return np.zeros_like(slope, dtype=bool)[()]  # [()]: a scalar stays a scalar
    return slope < tol * act.max_slope


def inactive(z, activation):
    """Boolean array, shape of ``z``: where a relu unit is inactive ('dead'), z <= 0.

    Inactive: the slope is exactly 0 by design, so the unit passes back exactly
    nothing. Only relu has such a side (CAN_BE_INACTIVE); a saturated sigmoid is
    not inactive even where its slope underflows to 0. NaN counts as not inactive.
    """
    act = get_activation(activation)
    slope = act.df(z)
    if act.name not in CAN_BE_INACTIVE:
        return np.zeros_like(slope, dtype=bool)[()]
    return slope == 0


def saturation_fraction(z, activation, tol=0.1) -> float:
    """Fraction (0..1) of the entries of ``z`` where the unit is saturated (``saturated``)."""
    mask = saturated(z, activation, tol)
    if np.size(mask) == 0:
        raise ValueError("z must contain at least one pre-activation, got an empty array")
    return float(np.mean(mask))


def inactive_fraction(z, activation) -> float:
    """Fraction (0..1) of the entries of ``z`` where the unit is inactive (``inactive``)."""
    mask = inactive(z, activation)
    if np.size(mask) == 0:
        raise ValueError("z must contain at least one pre-activation, got an empty array")
    return float(np.mean(mask))
