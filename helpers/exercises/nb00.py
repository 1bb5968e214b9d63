"""Exercises of notebook 00 (start here)."""
import math

from helpers.exercises.core import Exercise, number

FACTOR, LEFT = 0.9, 0.01  # how many factors of 0.9 until less than 1% is left?


def factors_until_left() -> int:
    """The first whole k with FACTOR**k < LEFT: ln(LEFT) / ln(FACTOR), rounded up."""
    return math.ceil(math.log(LEFT) / math.log(FACTOR))


def _factors_test(guess):
    value = number(guess, "Your answer")
    truth = factors_until_left()
    if value != round(value):
        return "Give a whole number of factors: the first one after which less than 1% is left."
    if value == truth - 1:
        return f"After {int(value)} factors {FACTOR ** value:.4f} is left: still just above 1%."
    if value != truth:
        return (f"{'Too many' if value > truth else 'Too few'}: after {int(value)} factors "
                f"{FACTOR ** value:.2g} is left. Solve 0.9^k = 0.01 with logarithms.")
    return None


EXERCISES = [
    Exercise("00.1", "predict: when is less than 1% left?", "guess_factors_until_one_percent", _factors_test),
]
