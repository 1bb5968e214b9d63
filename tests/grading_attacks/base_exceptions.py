"""Exceptions that are not errors: 01.1's function raises KeyboardInterrupt, 01.2's raises
SystemExit, a cell of the student's own (after 01.2) raises GeneratorExit.

Honest outcome: 01.1 and 01.2 wrong (each a hint), 01.3 correct; the grading goes on.
"""
# %% 01.1


def my_sigmoid_prime(z):
    raise KeyboardInterrupt("pressed Ctrl-C")

# %% 01.2


def my_chain_gradient(w, z):
    raise SystemExit(0)

# %% 01.2 after
raise GeneratorExit("not an error either")
