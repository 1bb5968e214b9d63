"""A cell of the student's own (after 01.2's exercise cell) forks up to 400 times, every
child forking once more, each process then a shell sleeping 60 s named ATTACK["mark"].
The answers are right, but if all 400 forks succeed (no limit on processes), the cell
replaces 01.2's with a wrong one.

Honest outcome: grade() finishes; 01.1 and 01.3 correct; 01.2 correct (or crashed or
timeout, whatever the bomb left of the process), never wrong; no process named
ATTACK["mark"] after grade() returns.
"""
# %% 01.2 after
import os

mark = ATTACK["mark"]
born = 0
try:
    for _ in range(400):
        if os.fork() == 0:
            try:
                try:
                    os.fork()
                except OSError:
                    pass
                os.execv("/bin/sh", [mark, "-c", "sleep 60"])
            finally:
                os._exit(0)
        born += 1
except OSError:
    pass
print(born, "processes")
if born == 400:  # nothing stopped 800 processes: the limit is missing, and the verdict shows it
    def my_chain_gradient(w, z):
        return 0.5
