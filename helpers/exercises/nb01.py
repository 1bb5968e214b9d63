"""Exercises of notebook 01 (the chain rule)."""
import numpy as np

from helpers.activations import sigmoid, sigmoid_prime
from helpers.exercises.core import Exercise, derivative_hint, number, within_factor

SIGMOID_SLIPS = {
    "That is the sigmoid itself, the curve; the exercise asks for its slope at every z.": sigmoid,
}


def _sigmoid_prime_test(fn):
    return derivative_hint(fn, sigmoid_prime, "derivative", SIGMOID_SLIPS)


def _chain_test(fn):
    rng = np.random.default_rng(1)
    w, z = rng.normal(0, 2, 12), rng.normal(0, 2, 12)
    expected = np.prod(w * sigmoid_prime(z))
    got = np.asarray(fn(w, z), dtype=float)
    if got.shape == w.shape:
        return "Return one number, the derivative of the whole chain, not one value per unit."
    got = float(got)
    if np.isclose(got, np.sum(w * sigmoid_prime(z)), rtol=1e-8, atol=0):
        return "You added the local derivatives. How do derivatives combine along a chain?"
    if np.isclose(got, np.prod(sigmoid_prime(z)), rtol=1e-8, atol=0):
        return "The weights are missing: each unit's input is its weight times the previous output."
    if np.isclose(got, np.prod(w * sigmoid(z)), rtol=1e-8, atol=0):
        return "You multiplied the units' outputs sigma(z); each local derivative is the sigmoid's slope at z."
    if not np.isclose(got, expected, rtol=1e-8, atol=0):
        return "Not the derivative of the last output with respect to the first input; try a chain of 1 unit."
    return None


def elementwise_hidden(fn, reference, rng, name: str) -> str | None:
    """`fn` against `reference`, as the check compares them, on drawn arrays: 3-D/4-D with large |z|, 1 entry, empty."""
    shape = tuple(int(k) for k in rng.integers(1, 6, size=int(rng.integers(3, 5))))
    z = rng.normal(0, rng.uniform(1, 8), shape)
    far = rng.random(shape) < 0.2
    z[far] = rng.choice([-1.0, 1.0], far.sum()) * rng.uniform(30, 1000, far.sum())
    for z in (z, rng.uniform(-20, 20, 1), np.zeros((0, int(rng.integers(1, 4))))):
        want, got = reference(z), np.asarray(fn(z.copy()), dtype=float)
        if got.shape != z.shape:
            return (f"For a {z.shape} input drawn by the grader your function returns shape {got.shape}: "
                    "work elementwise.")
        if not np.isfinite(got).all():
            return f"For a {z.shape} input drawn by the grader your {name} gives inf or NaN where it should be finite."
        if not np.allclose(got, want, rtol=1e-6, atol=1e-12):
            return f"For a {z.shape} input drawn by the grader your values differ from the {name}'s."
    return None


def _sigmoid_prime_hidden(fn, rng):
    """The sigmoid's slope on arrays of other shapes (3-D/4-D with large |z|, one entry, empty)."""
    return elementwise_hidden(fn, sigmoid_prime, rng, "derivative")


def _chain_hidden(fn, rng):
    """Chains of 1 unit and of 2 to 40 units, with other scales of weights and pre-activations."""
    for n in (1, int(rng.integers(2, 41))):
        w = rng.normal(0, rng.uniform(0.5, 4), n)
        z = np.clip(rng.normal(0, rng.uniform(0.5, 3), n), -10, 10)  # |z| <= 10: s (1 - s) stays exact enough
        expected = np.prod(w * sigmoid_prime(z))
        if not np.isclose(number(fn(w.copy(), z.copy()), "The derivative"), expected, rtol=1e-8, atol=0):
            return (f"For a chain of {n} unit{'s' * (n > 1)} drawn by the grader your result is not the derivative "
                    "of its last output with respect to its first input.")
    return None


EXERCISES = [
    Exercise("01.1", "the sigmoid's derivative", "my_sigmoid_prime", _sigmoid_prime_test,
             hidden=_sigmoid_prime_hidden),
    Exercise("01.2", "the gradient through a chain", "my_chain_gradient", _chain_test, hidden=_chain_hidden),
    Exercise("01.3", "predict: ten factors of 1/4", "guess_product_of_ten",
             lambda guess: within_factor(guess, 0.25 ** 10, 2.0, "Your guess")),
]
