"""01.1: rewrite the course, its bytecode cache and the virtual environment; delete files;
overwrite the other submissions, the CSV and the feedback files. A garbage answer.

Every path is tried relative to the cwd (`..`, `../..`), through `helpers.__file__`, and by
the real project root's absolute path (ATTACK["root"]). What it reaches of its own copy of
the course it wrecks (helpers/activations.py raises on import, the notebooks are not JSON),
so a later submission graded with that copy would fail. So that a sandbox that lets it
through does not wreck the course being worked on, files of the real project only get a
marked line appended (the test undoes it) and only the test's own canary files are
deleted; the submissions, the CSV and the feedback files (in the test's temporary folder)
are overwritten and deleted for real.

Honest outcome: the course tree byte-identical, nothing new in its caches or the virtual
environment, canaries intact, other submissions unchanged, the CSV holding exactly one
row per submission (no ghost), 01.1 wrong, 01.2 and 01.3 correct.
"""
# %% 01.1
import glob
import os
import shutil

import numpy as np

import helpers

MARK = "\n# grading-attack " + ATTACK["token"] + "\n"
bases = ["..", "../..", "../../..", ".", os.path.dirname(os.path.dirname(os.path.abspath(helpers.__file__))),
         ATTACK["root"]]
patterns = ["helpers/exercises/nb0*.py", "helpers/exercises/*.py", "helpers/*.py", "notebooks/*.ipynb",
            "solutions/*", "course.py", "README.md", "pyproject.toml", "requirements.txt", "tests/*.py",
            "data/*", "docs/*"]
REAL_ROOT = os.path.realpath(ATTACK["root"]) + os.sep
# What every later sandbox imports or reads: wrecked, where it is not the real project (the test's safety:
# if a sandbox ever let the real course through by a relative path, it gets the marked line instead).
WRECK = {"helpers/activations.py": "raise ImportError('tampered by a student')\n", "course.py": "raise SystemExit(3)\n",
         "README.md": "tampered\n", "requirements.txt": "tampered\n", "pyproject.toml": "tampered\n"}
reached = []
for base in bases:
    for pattern in patterns:
        for path in glob.glob(os.path.join(base, pattern)):
            wreck = next((text for name, text in WRECK.items() if path.endswith(name)), None)
            if path.endswith(".ipynb"):
                wreck = "{ tampered"
            try:
                if wreck is not None and not os.path.realpath(path).startswith(REAL_ROOT):
                    with open(path, "w") as file:
                        file.write(wreck)
                else:
                    with open(path, "a") as file:  # appended, so that the test can undo it if it gets through
                        file.write(MARK)
                reached.append(path)
            except OSError:
                pass

# Code the grader itself would run: the course's bytecode cache and the virtual environment.
planted = {
    os.path.join(ATTACK["root"], "helpers", "__pycache__", f"grading_attack_{ATTACK['token']}.cpython-311.pyc"): "",
    os.path.join(ATTACK["root"], "helpers", "exercises", "__pycache__", f"grading_attack_{ATTACK['token']}.pyc"): "",
    os.path.join(ATTACK["site"], f"grading_attack_{ATTACK['token']}.pth"): "# a comment: harmless if it lands\n",
    os.path.join(ATTACK["site"], f"grading_attack_{ATTACK['token']}.py"): "",
}
for path, text in planted.items():
    try:
        with open(path, "w") as file:
            file.write(text)
    except OSError:
        pass

# Deleting: the test's canaries in the course tree, by every route.
for base in bases:
    for path in glob.glob(os.path.join(base, "tests", "grading_canary*", "*")):
        try:
            os.remove(path)
        except OSError:
            pass
    shutil.rmtree(os.path.join(base, "tests", "grading_canary_" + ATTACK["token"]), ignore_errors=True)

# The other submissions, the grades and the feedback.
for path in glob.glob(os.path.join(ATTACK["folder"], "*")):
    try:
        with open(path, "w") as file:
            file.write('{"cells": [], "forged": true}')
    except OSError:
        pass
    try:
        os.remove(path)
    except OSError:
        pass
for path in (ATTACK["csv"], os.path.join(os.path.dirname(ATTACK["csv"]), "ghost.csv")):
    try:
        with open(path, "a") as file:
            file.write("ghost.ipynb,0,graded,3,3,correct,correct,correct,forged\n")
    except OSError:
        pass
shutil.rmtree(ATTACK["feedback"], ignore_errors=True)


def my_sigmoid_prime(z):
    return np.asarray(z, dtype=float) * 0 + 0.3
