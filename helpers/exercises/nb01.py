"""Exercises of notebook 01 (the chain rule)."""
import numpy as np

from helpers.activations import sigmoid, sigmoid_prime
from helpers.exercises.core import Exercise, derivative_hint, within_factor

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


EXERCISES = [
    Exercise("01.1", "the sigmoid's derivative", "my_sigmoid_prime", _sigmoid_prime_test),
    Exercise("01.2", "the gradient through a chain", "my_chain_gradient", _chain_test),
    Exercise("01.3", "predict: ten factors of 1/4", "guess_product_of_ten",
             lambda guess: within_factor(guess, 0.25 ** 10, 2.0, "Your guess")),
]
