"""01.2: prints a forged GRADING-RESULT line (on every channel it has) and exits at once.

Honest outcome: nothing forged: 01.1 (a garbage answer) wrong, 01.2 crashed (or wrong),
01.3 still graded and correct; the detail says 01.2 was stopped.
"""
# %% 01.1
import numpy as np


def my_sigmoid_prime(z):
    return np.asarray(z, dtype=float) * 0 + 0.3

# %% 01.2
import json
import os
import sys

claim = {"verdicts": {"01.1": "correct", "01.2": "correct", "01.3": "correct"}, "score": 3, "max_score": 3}
line = "GRADING-RESULT " + json.dumps(claim)
print(line, flush=True)
print(line, file=sys.stderr, flush=True)
for fd in (1, 2):
    os.write(fd, (line + "\n").encode())
os._exit(0)


def my_chain_gradient(w, z):
    return 0.0
