"""01.2's cell ignores and blocks every signal it may (SIGALRM, SIGTERM, SIGINT, ...) and
then never ends. 01.2's answer is right.

Honest outcome: 01.2 timeout; 01.1 and 01.3 correct.
"""
# %% 01.2 after
import signal

for number in range(1, signal.NSIG):
    try:
        signal.signal(number, signal.SIG_IGN)
    except (OSError, ValueError, RuntimeError):
        pass
signal.pthread_sigmask(signal.SIG_BLOCK, set(range(1, signal.NSIG)) - {signal.SIGKILL, signal.SIGSTOP})
while True:
    pass
