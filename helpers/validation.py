"""Argument checks shared by the compute modules: each error says what was given and what is allowed."""
from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def check_int(value, name: str, low: int, high: int | None = None) -> int:
    """`value` as an int in [low, high] (no upper limit when high is None); bools are refused."""
    allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    is_int = isinstance(value, Integral) and not isinstance(value, bool)
    if not is_int or value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def _allowed_number(low: float | None, strict: bool) -> str:
    return "a finite number" if low is None else f"a finite number {'>' if strict else '>='} {low:g}"


def check_number(value, name: str, low: float | None = None, strict: bool = False) -> float:
    """`value` as a finite float, at least `low` (more than `low` when strict).

    Strings, bools, None, NaN, +-inf and ints too large for a float are refused.
    """
    ok = isinstance(value, Real) and not isinstance(value, bool)
    try:
        ok = ok and math.isfinite(value)
    except OverflowError:  # a Python int beyond float's range
        ok = False
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        raise ValueError(f"{name} must be {_allowed_number(low, strict)}, got {value!r}")
    return float(value)


def check_optional_number(value, name: str, low: float | None = None, strict: bool = False) -> float | None:
    """None, or `value` as check_number allows it."""
    if value is None:
        return None
    try:
        return check_number(value, name, low, strict)
    except ValueError:
        raise ValueError(f"{name} must be None or {_allowed_number(low, strict)}, got {value!r}") from None


def check_choice(value, name: str, choices: tuple) -> str:
    """`value` if it is one of the strings `choices`, else a ValueError listing them."""
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def as_float_array(value, name: str, allowed: str) -> np.ndarray:
    """`value` as a float64 numpy array; anything numpy cannot read as numbers is refused."""
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {allowed}, got {value!r}") from None


def check_rng(rng) -> None:
    """Refuse anything but a numpy Generator: callers decide reproducibility explicitly."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(
            f"rng must be a np.random.Generator (e.g. np.random.default_rng(0)), got {type(rng).__name__}"
        )
