"""01.1 writes forged protocol frames (a reply to its cell, an inspect reply with a
right-looking value, a call result, verdicts) to every file descriptor in /proc/self/fd, the
channel to the grader among them. A garbage answer.

Honest outcome: 01.1 not correct; the submission graded (the frames put the channel out of
step, so 01.2 and 01.3 may come out anyhow, but never from a verdict the student sent).
"""
# %% 01.1
import os

import numpy as np

from helpers import wire


def my_sigmoid_prime(z):
    return np.asarray(z, dtype=float) * 0 + 0.3


claims = [{"error": None}, {"present": True, "stub": False, "no_value": False, "callable": False, "value": 0.25},
          {"result": 0.25, "used_helper": False}, {"verdicts": {"01.1": "correct"}}, {"status": "correct"}]
frames = b"".join(wire.encode(claim) for claim in claims)
for name in sorted(os.listdir("/proc/self/fd"), key=int):
    try:
        os.write(int(name), frames)
    except OSError:
        pass
