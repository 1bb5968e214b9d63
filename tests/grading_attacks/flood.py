"""A cell of the student's own (before 01.1) writes 500 MB to stdout and 500 MB to stderr.
The answers are right.

Honest outcome: 01.1 correct or crashed; 01.2 and 01.3 correct; the CSV stays small.
"""
# %% 01.1 before
import os
import sys

block = "flood " * (1 << 18)  # 1.5 MB
for _ in range(340):
    try:
        sys.stdout.write(block)
    except Exception:
        break
for _ in range(340):
    try:
        os.write(2, block.encode())
    except OSError:
        break
