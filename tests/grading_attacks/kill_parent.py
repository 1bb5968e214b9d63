"""A cell of 01.2 kills what it can: its parent, pid 1, every process (kill(-1)), its process
group, every pid in /proc, and the grader by its pid (ATTACK["grader_pid"]), all with SIGKILL.
The answers are right.

Honest outcome: the grader survives and grades every submission; 01.1 and 01.3 correct
(01.2 correct or crashed).
"""
# %% 01.2 after
import os
import signal

me = os.getpid()
targets = [lambda: os.kill(os.getppid(), signal.SIGKILL), lambda: os.kill(ATTACK["grader_pid"], signal.SIGKILL),
           lambda: os.kill(1, signal.SIGKILL), lambda: os.kill(-1, signal.SIGKILL)]
targets += [lambda pid=int(name): os.kill(pid, signal.SIGKILL) for name in os.listdir("/proc")
            if name.isdigit() and int(name) != me]
targets.append(lambda: os.killpg(os.getpgrp(), signal.SIGKILL))
for kill in targets:
    try:
        kill()
    except OSError:
        pass
