"""01.1: every exercise's `guard` replaced, in the student's process, by one that always
reports a forbidden call, so each call's reply says "used_helper" (the grader then raises
UsedCourseHelper, a BaseException, inside the exercise's test). A garbage answer.

Honest outcome: grade() finishes; 01.1 wrong or crashed; the submission graded.
"""
# %% 01.1
import contextlib

import numpy as np

import helpers.exercises.core as core


@contextlib.contextmanager
def always_used():
    yield [True]


for exercise in core.exercises().values():
    object.__setattr__(exercise, "guard", always_used)


def my_sigmoid_prime(z):
    return np.asarray(z, dtype=float) * 0 + 0.3
