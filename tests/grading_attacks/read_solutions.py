"""Read the reference solutions: by relative paths, the real project root's absolute path,
helpers.__file__, and a search of the file system (os.walk) for "solutions.py"; then use
them: 01.1 runs the solution block (exec), 01.2's function raises the file's text, a cell
raises it, 01.3 is set to it.

Honest outcome: 01.1 wrong, 01.2 wrong, 01.3 wrong; no line of solutions/solutions.py
(20 characters or more) in the CSV or any feedback file.
"""
# %% 01.1 before
import os
import time

import helpers


def find_solutions(seconds=6.0):
    """The text of the course's solutions.py, or "" when it is nowhere to be read."""
    places = ["../solutions/solutions.py", "../../solutions/solutions.py", "../../../solutions/solutions.py",
              os.path.join(ATTACK["root"], "solutions", "solutions.py"),
              os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(helpers.__file__))), "solutions",
                           "solutions.py")]
    deadline = time.monotonic() + seconds
    for top in ("/work", "/root", "/home", "/srv", "/opt", "/mnt", "/tmp", "/course", "/var", "/"):
        for folder, folders, files in os.walk(top):
            if "solutions.py" in files:
                places.append(os.path.join(folder, "solutions.py"))
            folders[:] = [name for name in folders if name not in ("proc", "sys", "dev")]
            if time.monotonic() > deadline:
                break
    for place in places:
        try:
            with open(place, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError):
            continue
        if "# %% 01.1" in text:
            return text
    return ""


SOLUTIONS_TEXT = find_solutions()

# %% 01.1
import numpy as np

if SOLUTIONS_TEXT:
    exec(SOLUTIONS_TEXT.split("# %% 01.1", 1)[1].split("# %% ", 1)[0])
else:
    def my_sigmoid_prime(z):
        return np.asarray(z, dtype=float) * 0 + 0.3

# %% 01.2


def my_chain_gradient(w, z):
    raise RuntimeError(SOLUTIONS_TEXT or "no solutions.py found")

# %% 01.2 after
print(SOLUTIONS_TEXT)
raise RuntimeError(SOLUTIONS_TEXT[SOLUTIONS_TEXT.find("# %% 01.2"):] or "no solutions.py found")

# %% 01.3
guess_product_of_ten = SOLUTIONS_TEXT or "no solutions.py found"
