"""Exercises of notebook 02 (sigmoid saturation)."""
import math

import numpy as np

from helpers.activations import saturation_fraction, sigmoid_prime, tanh_prime
from helpers.exercises.core import Exercise, derivative_hint, number
from helpers.exercises.nb01 import elementwise_hidden

SATURATION_TOL = 0.1  # a unit is saturated where f'(z) < 10% of the largest f'


def _saturated_test(fn):
    rng = np.random.default_rng(2)
    for z in (rng.normal(0, 4, 5000), rng.normal(0, 0.5, (40, 30)), np.array([0.0, 3.0, -10.0])):
        got = number(fn(z), "The fraction")
        expected = saturation_fraction(z, "sigmoid", SATURATION_TOL)
        if got > 1:
            return "Give a fraction between 0 and 1, not a percentage or a count."
        if np.isclose(got, float(np.mean(np.abs(z) > 4))) and not np.isclose(got, expected):
            return "Compare the slope with 10% of its largest value, not |z| with a fixed number."
        if np.isclose(got, float(np.mean(tanh_prime(z) < SATURATION_TOL))) and not np.isclose(got, expected):
            return "That is the tanh's slope; this exercise is about the sigmoid."
        if np.isclose(got, 1 - expected) and not np.isclose(got, expected):
            return "That is the share of units that are not saturated: the slope should be below the threshold."
        if np.isclose(got, float(np.mean(sigmoid_prime(z) < SATURATION_TOL))) and not np.isclose(got, expected):
            return ("You compared the slope with 0.1 itself; the threshold is 10% of the sigmoid's largest "
                    "slope, which is not 1.")
        if not np.isclose(got, expected, atol=1e-9):
            return ("Not the share of entries whose slope is below 10% of the sigmoid's largest slope. "
                    "What is that largest slope?")
    return None


def _saturated_hidden(fn, rng):
    """Other shapes (3-D, one entry) and spreads, and arrays whose entries are all or none saturated."""
    shape = tuple(int(k) for k in rng.integers(2, 9, size=3))
    signs = rng.choice([-1.0, 1.0], (int(rng.integers(2, 30)), int(rng.integers(2, 30))))
    cases = [(rng.normal(rng.uniform(-3, 3), rng.uniform(0.5, 12), shape), f"a {shape} array"),
             (rng.normal(0, 6, 1), "a single entry"),
             (signs * rng.uniform(6, 50, signs.shape), "an array whose entries are all far from 0"),
             (rng.uniform(-1, 1, signs.shape), "an array whose entries are all near 0")]
    for z, case in cases:
        got = number(fn(z.copy()), "The fraction")
        if not np.isclose(got, saturation_fraction(z, "sigmoid", SATURATION_TOL), atol=1e-9):
            return f"For {case} drawn by the grader your fraction is not the share of saturated entries."
    return None


def scale_10_saturated_percent() -> float:
    """% of sigmoid units with f'(z) < 0.1 max f' when z ~ N(0, 10^2), the figure's scale 10, spread 1."""
    slope = SATURATION_TOL * 0.25  # the sigmoid's largest slope is 1/4
    s = (1 + math.sqrt(1 - 4 * slope)) / 2  # sigma(z*), from sigma (1 - sigma) = slope
    z_star = math.log(s / (1 - s))
    return 100 * math.erfc(z_star / 10.0 / math.sqrt(2))


def _percent_test(guess):
    value = number(guess, "Your guess")
    if 0 < value < 1:
        return "Give a percentage between 0 and 100, not a fraction."
    truth = scale_10_saturated_percent()
    if abs(value - truth) > 10:
        return f"More than 10 percentage points {'too high' if value > truth else 'too low'}."
    return None


TANH_SLIPS = {
    "That is tanh itself, the curve; the exercise asks for its slope at every z.": np.tanh,
    ("Your formula uses z where it needs tanh(z): it is right at 0 but goes below 0 for |z| > 1, "
     "and no slope of tanh, a rising curve, does that."): lambda z: 1 - z ** 2,
    ("Compare your slope at z = 1 and at z = -1: tanh(-z) = -tanh(z), so its slope is the same at both, "
     "and yours is not."): lambda z: 1 - np.tanh(z),
}


def _tanh_prime_hidden(fn, rng):
    """The tanh's slope on arrays of other shapes (3-D/4-D with large |z|, one entry, empty)."""
    return elementwise_hidden(fn, tanh_prime, rng, "derivative")


EXERCISES = [
    Exercise("02.1", "the tanh's derivative", "my_tanh_prime",
             lambda fn: derivative_hint(fn, tanh_prime, "derivative", TANH_SLIPS), hidden=_tanh_prime_hidden),
    Exercise("02.2", "the share of saturated units", "my_saturated_fraction", _saturated_test,
             hidden=_saturated_hidden),
    Exercise("02.3", "predict: saturation at weight scale 10", "guess_saturated_percent", _percent_test),
]
