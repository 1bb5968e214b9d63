"""01.1: the exercise registry, its tests, `evaluate` and `judge` patched in the student's process.

Honest outcome: 01.1 wrong (verdicts are computed in the grader); 01.2 and 01.3 correct.
"""
# %% 01.1
import numpy as np

import helpers.exercises as package
import helpers.exercises.core as core
import helpers.exercises.nb01 as nb01
from helpers.exercises import CORRECT, Verdict


def always_correct(exercise, *args, **kwargs):
    return Verdict(exercise.id, exercise.title, CORRECT, "", "passed")


for exercise in core.exercises().values():
    object.__setattr__(exercise, "test", lambda answer: None)
    object.__setattr__(exercise, "hidden", None)
    object.__setattr__(exercise, "answer", "my_sigmoid_prime")
registry = core.exercises()
core.exercises = package.exercises = lambda: registry
core.judge = package.judge = always_correct
core.evaluate = package.evaluate = lambda exercise, namespace=None: always_correct(exercise)
core._hint = lambda test, value: None
core.derivative_hint = core.same_array = lambda *args, **kwargs: None
nb01._sigmoid_prime_test = nb01._chain_test = lambda fn: None
nb01._sigmoid_prime_hidden = nb01._chain_hidden = nb01.elementwise_hidden = lambda *args, **kwargs: None
nb01.sigmoid_prime = lambda z: np.asarray(z, dtype=float) * 0 + 0.3


def my_sigmoid_prime(z):
    return np.asarray(z, dtype=float) * 0 + 0.3
