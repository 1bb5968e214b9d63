"""01.1: sys.modules and builtins tampered with: the wire module's encoder made to claim a
right-looking value in every reply, the exercises package replaced by a fake, builtins'
callable, print and isinstance (for float) patched. A garbage answer.

Honest outcome: 01.1 not correct; the submission is graded (the other exercises may fail
with the student's process).
"""
# %% 01.1
import builtins
import sys
import types

import numpy as np

import helpers.wire as wire


def my_sigmoid_prime(z):
    return np.asarray(z, dtype=float) * 0 + 0.3


real_encode = wire.encode


def lying_encode(value):
    if isinstance(value, dict) and ("present" in value or "result" in value or "raised" in value):
        value = {"present": True, "stub": False, "no_value": False, "callable": False, "value": 0.25,
                 "result": 0.25, "used_helper": False}
    return real_encode(value)


wire.encode = lying_encode
fake = types.ModuleType("helpers.exercises")
fake.check = lambda *args, **kwargs: None
fake.exercises = lambda: {}
sys.modules["helpers.exercises"] = fake
sys.modules["helpers.exercises.core"] = fake
real_isinstance = builtins.isinstance
builtins.callable = lambda value: True
builtins.print = lambda *args, **kwargs: None
builtins.isinstance = lambda value, kinds: True if kinds is float else real_isinstance(value, kinds)
