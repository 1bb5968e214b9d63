"""Exercises of notebook 01 (the chain rule)."""
import numpy as np

from helpers.activations import sigmoid_prime
from helpers.exercises.core import Exercise, within_factor

# Large |z| included: a formula that overflows there is a wrong answer.
Z_POINTS = np.concatenate([np.linspace(-12, 12, 49), [-800.0, -40.0, 40.0, 800.0]])


def derivative_hint(fn, reference, name: str) -> str | None:
    """Test `fn` against `reference` elementwise, at 0 first, then everywhere (incl. large |z|)."""
    at_zero = float(np.asarray(fn(np.array([0.0])), dtype=float).ravel()[0])
    if not np.isclose(at_zero, float(reference(np.array([0.0]))[0]), rtol=1e-6):
        return (f"At z = 0 your {name} gives {at_zero:.4g}. Work out the slope at that one point by hand "
                "and compare.")
    z = Z_POINTS.reshape(-1, 1) * np.ones((1, 2))  # (53, 2): any shape must work
    got = np.asarray(fn(z), dtype=float)
    if got.shape != z.shape:
        return f"For an input of shape {z.shape} your function returns shape {got.shape}: work elementwise."
    if not np.isfinite(got).all():
        return "Right near 0, but it gives inf or NaN for very large |z| (try z = -800)."
    if not np.allclose(got, reference(z), rtol=1e-6, atol=1e-12):
        return "Right at 0 but not everywhere: check a point far from 0, where the curve is flat."
    return None


def _sigmoid_prime_test(fn):
    return derivative_hint(fn, sigmoid_prime, "derivative")


def _chain_test(fn):
    rng = np.random.default_rng(1)
    w, z = rng.normal(0, 2, 12), rng.normal(0, 2, 12)
    expected = np.prod(w * sigmoid_prime(z))
    got = float(np.asarray(fn(w, z), dtype=float))
    if np.isclose(got, np.sum(w * sigmoid_prime(z)), rtol=1e-8, atol=0):
        return "You added the local derivatives. How do derivatives combine along a chain?"
    if np.isclose(got, np.prod(sigmoid_prime(z)), rtol=1e-8, atol=0):
        return "The weights are missing: each unit's input is its weight times the previous output."
    if not np.isclose(got, expected, rtol=1e-8, atol=0):
        return "Not the derivative of the last output with respect to the first input; try a chain of 1 unit."
    return None


EXERCISES = [
    Exercise("01.1", "the sigmoid's derivative", "my_sigmoid_prime", _sigmoid_prime_test),
    Exercise("01.2", "the gradient through a chain", "my_chain_gradient", _chain_test),
    Exercise("01.3", "predict: ten factors of 1/4", "guess_product_of_ten",
             lambda guess: within_factor(guess, 0.25 ** 10, 2.0, "Your guess")),
]
