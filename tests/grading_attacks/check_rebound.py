"""01.1: `check` rebound every way a student can reach it, with a garbage answer.

Honest outcome: 01.1 wrong (the grader's own check runs, in the grader); 01.2 and 01.3 correct.
"""
# %% 01.1
import builtins

import numpy as np

import helpers.exercises as exercises_package
import helpers.exercises.core as core
from helpers.exercises import CORRECT, Verdict

check = lambda *args, **kwargs: Verdict("01.1", "the sigmoid's derivative", CORRECT, "")  # noqa: E731


def always_correct(exercise_id="01.1", *args, **kwargs):
    return Verdict(exercise_id, "the sigmoid's derivative", CORRECT, "", "passed")


for owner in (builtins, exercises_package, core):  # wherever `check` is looked up
    try:
        setattr(owner, "check", always_correct)
    except Exception:
        pass
for registry in ("_results", "_verdicts", "RESULTS"):  # where a check could keep what it found
    try:
        getattr(core, registry)["01.1"] = always_correct()
    except Exception:
        pass
get_ipython().user_ns["check"] = always_correct
check = always_correct


def my_sigmoid_prime(z):
    return np.asarray(z, dtype=float) * 0 + 0.3
