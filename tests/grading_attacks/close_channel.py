"""A cell of 01.2 closes every file descriptor above 2 (the channel to the grader with them).
The answers are right.

Honest outcome: 01.2 crashed; 01.1 and 01.3 correct.
"""
# %% 01.2 after
import os

os.closerange(3, 65536)
