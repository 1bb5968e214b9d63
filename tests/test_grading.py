"""The instructor's homework tools, and the grader against students who attack it.

First the tools on a tiny course of their own (solutions parsed, a release without
solutions, notebooks with solutions). Then the grader on the real course: ordinary
submissions (the CSV, feedback, --resume, points, --jobs, the sandbox choice), and the
adversarial suite: each attack is a real submission, notebook 01 with the reference
solutions and the attack's cells, graded end to end by `grade()` with the real course
root. The attacks' cells are in tests/grading_attacks/*.py, one file per attack, in the
format of solutions/solutions.py: a docstring (what the attack does and the honest
outcome), then blocks

    # %% 01.1           the exercise cell 01.1 holds this
    # %% 01.1 before    a cell of the student's own, inserted right before exercise cell 01.1
    # %% 01.1 after     ... inserted right after it

A block that mentions ATTACK gets a first line `ATTACK = {...}`: the test's port numbers,
paths, markers. All attacks are graded together in one run (`attacks`, two jobs); those
about isolation are graded again under each sandbox that works on this machine
(`isolated`). An attack that gets through makes its test fail: the tests say what an
honest grader does, not what this one happens to do.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers import sandbox as sandboxes
from helpers.grading import (PROJECT_ROOT, _sandbox_kind, exercise_cells, fill, grade, load_solutions, main, release,
                             solution_lines, solutions_notebooks)

# --- the tools on a tiny course ------------------------------------------------------------

STARTERS = {"01.1": "def my_sigmoid_prime(z):\n    ...", "01.2": "def my_chain_gradient(w, z):\n    ..."}
SOLUTIONS = {
    "01.1": "def my_sigmoid_prime(z):\n    s = 0.5 * (1.0 + np.tanh(z / 2.0))\n    return s * (1.0 - s)",
    "01.2": ("def my_chain_gradient(w, z):\n    slopes = my_sigmoid_prime(np.asarray(z))\n"
             "    return float(np.prod(w * slopes))"),
}
SOLUTIONS_FILE = '"""Reference solutions."""\n\n' + "".join(f"# %% {i}\n{s}\n\n" for i, s in SOLUTIONS.items())


def tiny_exercise_cells(exercise_id, source):
    """An exercise cell and its check cell, with the outputs of a stored run."""
    return [new_code_cell(source, metadata={"exercise": exercise_id, "tags": ["exercise"]}, execution_count=2,
                          outputs=[new_output("stream", text="old output\n")]),
            new_code_cell(f'check("{exercise_id}")', metadata={"tags": ["check"]}, execution_count=3,
                          outputs=[new_output("stream", text="not attempted yet\n")])]


def tiny_notebook(answers=None):
    """Setup, a markdown cell, exercises 01.1 and 01.2 with their checks, a last cell that prints."""
    sources = dict(STARTERS, **(answers or {}))
    return new_notebook(cells=[
        new_code_cell("import numpy as np\nfrom helpers.exercises import check", execution_count=1),
        new_markdown_cell("Write the sigmoid's derivative."),
        *tiny_exercise_cells("01.1", sources["01.1"]),
        *tiny_exercise_cells("01.2", sources["01.2"]),
        new_code_cell('print("the end")', execution_count=4, outputs=[new_output("stream", text="the end\n")]),
    ])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def course(tmp_path):
    """A course folder with what students get and what they must not get."""
    root = tmp_path / "course"
    for name in ("README.md", "requirements.txt", "pyproject.toml", "course.py", "helpers/__init__.py",
                 "helpers/__pycache__/x.pyc", "data/tiny.csv", "tests/test_tiny.py", "benchmarks/bench.py",
                 ".ci/run", ".venv/marker", ".git/HEAD"):
        write(root / name, "")
    write(root / "solutions" / "solutions.py", SOLUTIONS_FILE)
    write(root / "notebooks" / "01_tiny.ipynb", nbformat.writes(tiny_notebook()))
    return root


def read_notebook(path):
    return nbformat.read(path, as_version=4)


def test_load_solutions_reads_blocks_and_ignores_the_docstring(tmp_path):
    assert load_solutions(write(tmp_path / "s.py", SOLUTIONS_FILE)) == SOLUTIONS


@pytest.mark.parametrize("text, message", [
    ("", "holds no solution blocks"),
    ('"""Only a docstring."""\n', "holds no solution blocks"),
    ("# %% 01.1\nx = 1\n# %% 01.1\nx = 2\n", "01.1 has a second solution block"),
    ("# %% one\nx = 1\n", "does not name an exercise id"),
    ("# %% 01.1\n\n# %% 01.2\nx = 2\n", "empty solution block for 01.1"),
])
def test_load_solutions_refuses_bad_files(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_solutions(write(tmp_path / "s.py", text))


def test_load_solutions_refuses_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no solutions file"):
        load_solutions(tmp_path / "missing.py")


def test_the_course_solutions_file_has_a_block_for_every_exercise_cell():
    ids = {i for path in sorted((PROJECT_ROOT / "notebooks").glob("0*.ipynb"))
           for i in exercise_cells(read_notebook(path))}
    assert set(REFERENCE) == ids


def test_solution_lines_leave_out_what_a_starter_shares():
    solution = ('import numpy as np\n\n\n@staticmethod\ndef f(z):\n    """Doc\n    on two lines."""\n'
                "    # why\n    s = np.tanh(z)\n    return 1.0 - s * s  # tanh' = 1 - tanh^2\n\nguess = 1e-6\n")
    assert solution_lines(solution) == {"s = np.tanh(z)", "return 1.0 - s * s", "guess = 1e-6"}


def test_fill_replaces_exercise_sources_only():
    nb = tiny_notebook()
    filled = fill(nb, {"01.2": SOLUTIONS["01.2"], "09.9": "ignored = 1"})
    assert [c.source for c in filled.cells] == [c.source for c in tiny_notebook({"01.2": SOLUTIONS["01.2"]}).cells]
    assert nb.cells[4].source == STARTERS["01.2"]  # the original is untouched


def test_release_holds_the_course_without_solutions_and_exercise_outputs(course, tmp_path):
    dest = tmp_path / "release"
    summary = release(dest, root=course)
    assert sorted(p.name for p in dest.iterdir()) == [
        "README.md", "course.py", "data", "helpers", "notebooks", "pyproject.toml", "requirements.txt"]
    assert not list(dest.rglob("__pycache__"))
    cells = read_notebook(dest / "notebooks" / "01_tiny.ipynb").cells
    assert [(c.get("outputs"), c.get("execution_count")) for c in cells[2:6]] == [([], None)] * 4
    assert cells[6].outputs[0].text == "the end\n" and cells[6].execution_count == 4
    assert [c.source for c in cells] == [c.source for c in tiny_notebook().cells]
    assert "outputs of 4 exercise and check cells cleared" in summary


def test_release_refuses_when_an_exercise_cell_holds_its_solution(course, tmp_path):
    write(course / "notebooks" / "01_tiny.ipynb", nbformat.writes(tiny_notebook({"01.2": SOLUTIONS["01.2"]})))
    with pytest.raises(ValueError, match=r"notebooks/01_tiny.ipynb, exercise cell 01.2: the solution of 01.2"):
        release(tmp_path / "release", root=course)
    assert not (tmp_path / "release").exists()


def test_release_finds_a_solution_copied_into_a_released_file(course, tmp_path):
    write(course / "helpers" / "answers.py", SOLUTIONS["01.1"] + "  # with a comment of its own")
    with pytest.raises(ValueError, match=r"helpers/answers.py: the solution of 01.1"):
        release(tmp_path / "release", root=course)
    assert list((tmp_path / "release").iterdir()) == []


@pytest.mark.parametrize("existing", ["folder with a file", "file"])
def test_release_refuses_a_destination_that_is_not_empty(course, tmp_path, existing):
    dest = write(tmp_path / "release" / "keep.txt" if existing == "folder with a file" else tmp_path / "release", "x")
    with pytest.raises(ValueError, match="is not an empty folder"):
        release(tmp_path / "release", root=course)
    assert dest.read_text() == "x"


def test_solutions_notebooks_hold_the_reference_solutions(course, tmp_path):
    solutions_notebooks(tmp_path / "instructor", root=course)
    nb = read_notebook(tmp_path / "instructor" / "notebooks" / "01_tiny.ipynb")
    assert [nb.cells[i].source for i in (2, 4)] == [SOLUTIONS["01.1"], SOLUTIONS["01.2"]]


# --- the real course: submissions --------------------------------------------------------

ROOT = PROJECT_ROOT
NOTEBOOK_01 = ROOT / "notebooks" / "01_chain_rule.ipynb"
NOTEBOOK_02 = ROOT / "notebooks" / "02_sigmoid_saturation.ipynb"
SOLUTIONS_PATH = ROOT / "solutions" / "solutions.py"
REFERENCE = load_solutions(SOLUTIONS_PATH)
IDS = ("01.1", "01.2", "01.3")
COLUMNS = ["submission", "sha256", "status", "score", "max_score", *IDS, "detail"]
CORRECT, WRONG, NOT_ATTEMPTED, TIMEOUT, CRASHED = "correct", "wrong", "not attempted", "timeout", "crashed"
STATUSES = {CORRECT, WRONG, NOT_ATTEMPTED, TIMEOUT, CRASHED}
SEED = 20240607
SECONDS = 20.0  # per exercise: the endless attacks stop after this
TOKEN = secrets.token_hex(8)  # this session's markers: processes, files, lines appended to the course

GARBAGE = {  # wrong answers that are not one of the checks' known slips
    "01.1": "import numpy as np\n\n\ndef my_sigmoid_prime(z):\n    return np.asarray(z, dtype=float) * 0 + 0.3\n",
    "01.2": "def my_chain_gradient(w, z):\n    return 0.5\n",
    "01.3": "guess_product_of_ten = 0.5\n",
}
SLIPS = {  # wrong answers the checks have a hint for
    "01.1": "from helpers.activations import sigmoid\n\n\ndef my_sigmoid_prime(z):\n    return sigmoid(z)\n",
    "01.2": ("import numpy as np\n\nfrom helpers.activations import sigmoid_prime\n\n\n"
             "def my_chain_gradient(w, z):\n    return float(np.sum(w * sigmoid_prime(z)))\n"),
    "01.3": "guess_product_of_ten = 0.5\n",
}
SLIP_HINTS = {"01.1": "That is the sigmoid itself", "01.2": "You added the local derivatives",
              "01.3": "Your guess is too large by more than a factor of 2"}


def course_notebook(path=NOTEBOOK_01):
    return nbformat.read(path, as_version=4)


def solved(answers=None, path=NOTEBOOK_01):
    """Notebook `path` with the reference solutions, then `answers` (by id), in its exercise cells."""
    return fill(course_notebook(path), {**REFERENCE, **(answers or {})})


def save(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def statuses(row: dict) -> tuple:
    return tuple(row.get(i) for i in IDS)


def by_name(rows) -> dict:
    return {row["submission"]: row for row in rows}


def as_strings(rows) -> list[dict]:
    """Rows as the CSV holds them (every value a string), in submission order."""
    return sorted(({column: str(row.get(column, "")) for column in COLUMNS} for row in rows),
                  key=lambda row: row["submission"])


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """Three ordinary submissions (right, slips, only 01.1), graded with --jobs 1 and again with --jobs 2."""
    tmp = tmp_path_factory.mktemp("plain")
    folder = tmp / "submitted"
    save(solved(), folder / "right.ipynb")
    save(solved(SLIPS), folder / "slips.ipynb")
    save(fill(course_notebook(), {"01.1": REFERENCE["01.1"]}), folder / "partly.ipynb")
    one, two = tmp / "one" / "grades.csv", tmp / "two" / "grades.csv"
    seen = []
    returned = grade(folder, one, timeout=SECONDS, seed=SEED, jobs=1,
                     log=lambda line: seen.append((line.split(":")[0], len(read_rows(one)))))
    returned_two = grade(folder, two, timeout=SECONDS, seed=SEED, jobs=2)
    feedback = {path.name: path.read_text(encoding="utf-8") for path in (tmp / "one" / "grades-feedback").iterdir()}
    feedback_two = {path.name: path.read_text(encoding="utf-8")
                    for path in (tmp / "two" / "grades-feedback").iterdir()}
    return SimpleNamespace(tmp=tmp, folder=folder, csv=one, rows=by_name(read_rows(one)), returned=returned,
                           seen=seen, feedback=feedback, rows_two=read_rows(two), returned_two=returned_two,
                           feedback_two=feedback_two)


def test_grade_writes_a_row_per_submission_with_every_exercise(plain):
    with open(plain.csv, newline="", encoding="utf-8") as file:
        assert next(csv.reader(file)) == COLUMNS
    rows = plain.rows
    assert sorted(rows) == ["partly.ipynb", "right.ipynb", "slips.ipynb"]
    assert statuses(rows["right.ipynb"]) == (CORRECT, CORRECT, CORRECT)
    assert statuses(rows["slips.ipynb"]) == (WRONG, WRONG, WRONG)
    assert statuses(rows["partly.ipynb"]) == (CORRECT, NOT_ATTEMPTED, NOT_ATTEMPTED)
    assert [(rows[n]["status"], rows[n]["score"], rows[n]["max_score"]) for n in sorted(rows)] == [
        ("graded", "1", "3"), ("graded", "3", "3"), ("graded", "0", "3")]
    for name, row in rows.items():
        assert row["sha256"] == hashlib.sha256((plain.folder / name).read_bytes()).hexdigest()


def test_grade_returns_the_rows_it_writes(plain):
    assert as_strings(plain.returned) == as_strings(read_rows(plain.csv))


def test_grade_writes_each_row_before_the_next_submission_runs(plain):
    assert plain.seen == [("sandbox", 0), ("partly.ipynb", 1), ("right.ipynb", 2), ("slips.ipynb", 3)]


def test_two_jobs_give_the_same_rows_and_feedback_as_one(plain):
    assert as_strings(plain.rows_two) == as_strings(plain.rows.values())
    assert as_strings(plain.returned_two) == as_strings(plain.returned)
    assert plain.feedback_two == plain.feedback


def test_feedback_gives_each_exercise_its_points_verdict_and_hint(plain):
    assert sorted(plain.feedback) == ["partly.md", "right.md", "slips.md"]
    right, slips, partly = (plain.feedback[f"{name}.md"] for name in ("right", "slips", "partly"))
    assert right.startswith("# Feedback on right.ipynb\n\n3 of 3 points.\n")
    assert "| 01.2 the gradient through a chain | 1 of 1 | correct |" in right
    assert "## 01.1 the sigmoid's derivative: correct" in right
    assert right.count("Hidden cases (inputs chosen by the grader, not shown in the notebook): passed.") == 2
    assert "0 of 3 points." in slips
    for exercise_id, hint in SLIP_HINTS.items():
        section = slips.split(f"## {exercise_id} ")[1].split("\n## ")[0]
        assert section.splitlines()[0].endswith(": wrong") and hint in section, section
    assert "| 01.1 the sigmoid's derivative | 1 of 1 | correct |" in partly
    assert "## 01.2 the gradient through a chain: not attempted" in partly
    assert "Replace the `...` in `my_chain_gradient` with your answer" in partly


def test_resume_keeps_finished_rows_and_grades_changed_submissions_again(plain, tmp_path):
    folder, out = tmp_path / "submitted", tmp_path / "grades.csv"
    shutil.copytree(plain.folder, folder)
    shutil.copy(plain.csv, out)
    save(solved(), folder / "slips.ipynb")  # corrected since the first run
    before = by_name(read_rows(out))
    graded = []
    returned = grade(folder, out, timeout=SECONDS, seed=SEED, resume=True, log=graded.append)
    after = by_name(read_rows(out))
    assert graded[0].startswith("sandbox: ") and graded[0].endswith("1 to grade, 2 kept.")  # says how it isolates
    assert [line.split(":")[0] for line in graded[1:]] == ["slips.ipynb"]
    assert after["right.ipynb"] == before["right.ipynb"] and after["partly.ipynb"] == before["partly.ipynb"]
    assert statuses(after["slips.ipynb"]) == (CORRECT, CORRECT, CORRECT)
    assert after["slips.ipynb"]["sha256"] == hashlib.sha256((folder / "slips.ipynb").read_bytes()).hexdigest()
    assert as_strings(returned) == as_strings(after.values())


def test_without_resume_an_existing_csv_is_refused(plain, tmp_path, capsys):
    out = tmp_path / "grades.csv"
    shutil.copy(plain.csv, out)
    with pytest.raises(ValueError, match="exists: pass --resume"):
        grade(plain.folder, out, timeout=SECONDS, seed=SEED)
    assert main(["grade", str(plain.folder), "--out", str(out)]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert out.read_bytes() == plain.csv.read_bytes()


def test_a_points_file_sets_each_exercise_points(plain, tmp_path):
    folder = tmp_path / "submitted"
    shutil.copytree(plain.folder, folder, ignore=shutil.ignore_patterns("right.*", "slips.*"))
    points = write(tmp_path / "points.csv", "exercise,points\n01.1,2.5\n01.2,0.5\n")
    rows = grade(folder, tmp_path / "grades.csv", timeout=SECONDS, seed=SEED, points_file=points)
    assert [(row["submission"], row["score"], row["max_score"]) for row in read_rows(tmp_path / "grades.csv")] == [
        ("partly.ipynb", "2.5", "4")]  # 01.3 not listed: 1 point
    assert as_strings(rows)[0]["score"] == "2.5"
    assert "2.5 of 4 points." in (tmp_path / "grades-feedback" / "partly.md").read_text()


@pytest.mark.parametrize("text, message", [
    ("exercise,points\n01.1,2\n09.9,1\n", r"points.csv:3: '09.9' is not an exercise id of the course"),
    ("exercise,points\n01.1,two\n", r"points.csv:2: points must be a number, not 'two'"),
    ("exercise,points\n01.1,1\n01.2,-1\n", r"points.csv:3: points must be 0 or more"),
])
def test_a_bad_points_file_is_refused_with_its_line(plain, tmp_path, text, message, capsys):
    points = write(tmp_path / "points.csv", text)
    with pytest.raises(ValueError, match=message):
        grade(plain.folder, tmp_path / "grades.csv", timeout=SECONDS, seed=SEED, points_file=points)
    assert not (tmp_path / "grades.csv").exists()
    assert main(["grade", str(plain.folder), "--out", str(tmp_path / "cli.csv"), "--points", str(points)]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_without_a_sandbox_grading_runs_when_asked_for(tmp_path, capsys):
    folder = tmp_path / "submitted"
    save(solved(), folder / "right.ipynb")
    save(solved(SLIPS), folder / "slips.ipynb")
    debris = sandbox_debris()
    rows = by_name(grade(folder, tmp_path / "api.csv", timeout=SECONDS, seed=SEED, sandbox="none"))
    assert statuses(rows["right.ipynb"]) == (CORRECT, CORRECT, CORRECT)
    assert statuses(rows["slips.ipynb"]) == (WRONG, WRONG, WRONG)
    out = tmp_path / "cli.csv"
    assert main(["grade", str(folder), "--out", str(out), "--no-sandbox", "--seed", str(SEED),
                 "--timeout", str(SECONDS)]) == 0
    captured = capsys.readouterr()
    assert "warning: no sandbox" in captured.err and "Wrote 2 rows" in captured.out
    assert as_strings(read_rows(out)) == as_strings(read_rows(tmp_path / "api.csv"))
    assert sandbox_debris() - debris == set(), "work folders or control groups were left behind"


def test_auto_refuses_on_a_machine_without_a_sandbox(tmp_path, monkeypatch):
    save(solved(), tmp_path / "submitted" / "right.ipynb")
    monkeypatch.setattr(sandboxes, "available", lambda: None)
    with pytest.raises(ValueError, match=r"no sandbox for students' code .*bubblewrap.*--no-sandbox"):
        _sandbox_kind("auto")
    with pytest.raises(ValueError, match="bubblewrap"):
        grade(tmp_path / "submitted", tmp_path / "grades.csv", timeout=SECONDS, seed=SEED)
    assert not (tmp_path / "grades.csv").exists()
    assert _sandbox_kind("none") is None
    with pytest.raises(ValueError, match="sandbox must be auto, bwrap, unshare or none, not 'docker'"):
        _sandbox_kind("docker")


@pytest.mark.parametrize("args, message", [
    (["grade", "no-such-folder"], "no-such-folder is not a folder"),
    (["grade", ".", "--timeout", "0"], "timeout must be a positive number"),
    (["grade", ".", "--jobs", "0"], "jobs must be a whole number of 1 or more"),
    (["grade", "."], r"no \*.ipynb files in ."),
])
def test_command_line_reports_bad_input(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert re.search(message, capsys.readouterr().err)


# --- the adversarial suite -----------------------------------------------------------------

ATTACKS = Path(__file__).parent / "grading_attacks"
BLOCK = re.compile(r"# %% (\d\d\.\d+)(?: (before|after))?")
ANY = STATUSES
NOT_CORRECT = STATUSES - {CORRECT}
# Each graded submission: the statuses an honest grader may give 01.1, 01.2, 01.3.
OUTCOMES = {
    "check_rebound": (WRONG, CORRECT, CORRECT),
    "registry_patched": (WRONG, CORRECT, CORRECT),
    "numpy_patched": (CORRECT, WRONG, CORRECT),
    "forged_result": (WRONG, {CRASHED, WRONG}, CORRECT),
    "tamper": (WRONG, CORRECT, CORRECT),
    "daemon": (CORRECT, CORRECT, CORRECT),
    "read_solutions": (WRONG, WRONG, WRONG),
    "network": (CORRECT, CORRECT, CORRECT),
    "endless_cell": (TIMEOUT, CORRECT, CORRECT),
    "endless_call": (CORRECT, TIMEOUT, CORRECT),
    "helper_cell": (CORRECT, CORRECT, CORRECT),
    "hardcoded": (WRONG, WRONG, CORRECT),
    # 01.2 is wrong only if nothing limited the processes (fork_bomb) or the memory (memory_bomb); the
    # memory one touches 256 MB blocks until the sandbox's 4 GB run out: killed, or stopped by the time
    # limit first where a machine hands out memory slowly (about 1 s per block on a small VM).
    "fork_bomb": (CORRECT, {CORRECT, CRASHED, TIMEOUT}, CORRECT),
    "memory_bomb": ({WRONG, CRASHED}, {CORRECT, CRASHED, TIMEOUT}, CORRECT),
    "flood": ({CORRECT, CRASHED}, CORRECT, CORRECT),
    "fake_objects": (WRONG, WRONG, WRONG),
    "in_place": (WRONG, CORRECT, CORRECT),
    "modules_builtins": (NOT_CORRECT, ANY, ANY),
    "signals": (CORRECT, TIMEOUT, CORRECT),
    "kill_parent": (CORRECT, {CORRECT, CRASHED}, CORRECT),
    "fake_frames": (NOT_CORRECT, ANY, ANY),
    "close_channel": (CORRECT, CRASHED, CORRECT),
    "feedback_injection": (CORRECT, WRONG, CORRECT),
    "base_exceptions": (WRONG, WRONG, CORRECT),
    "extra_id": (CORRECT, CORRECT, CORRECT),  # a cell with an exercise id the course does not have
    "z_right": (CORRECT, CORRECT, CORRECT),  # graded after the attacks: still right ...
    "z_wrong": (WRONG, WRONG, WRONG),  # ... and still wrong
}
FILE_NAMES = {"feedback_injection": "feedback_injection <img src=x onerror=alert(1)> |.ipynb"}
INVALID = {  # submission: what the detail says
    "invalid_not_json.ipynb": "not a valid notebook: NotJSONError",
    "invalid_not_utf8.ipynb": "not a valid notebook: UnicodeDecodeError",
    "invalid_not_a_notebook.ipynb": "not a valid notebook",
    "invalid_30_mb.ipynb": "larger than 20 MB",
    "invalid_mixed.ipynb": "exercise cells of notebooks 01, 02, not of one course notebook",
    "invalid_unknown_notebook.ipynb": "exercise cells of notebooks 99, not of one course notebook",
    "invalid_list_id.ipynb": "not a valid notebook",
    "invalid_twice.ipynb": "not a valid notebook: ValueError: exercise 01.1 has more than one exercise cell",
    "invalid_no_exercises.ipynb": "no exercise cells (cells with an exercise id in their metadata)",
    "invalid_link_to_solutions.ipynb": "",  # a reason, whichever (test_a_linked_submission_shows_nothing...)
    "invalid_link_to_secret.ipynb": "",
}
ISOLATION = ("tamper", "daemon", "read_solutions", "network", "kill_parent", "fork_bomb", "z_right", "z_wrong")
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
SKIPPED_FOLDERS = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"}
WORKING_KINDS = [kind for kind in sandboxes.KINDS if sandboxes.works(kind)]
NO_SANDBOX = ("no sandbox works on this machine, so students' code cannot be graded safely: install bubblewrap "
              "(`apt-get install bubblewrap`), or run as root where `unshare` and `setpriv` exist")


def attack_blocks(name: str) -> list[tuple[str, str | None, str]]:
    """(exercise id, None / "before" / "after", source) of each block of tests/grading_attacks/<name>.py."""
    blocks, current = [], None
    for line in (ATTACKS / f"{name}.py").read_text(encoding="utf-8").splitlines():
        match = BLOCK.fullmatch(line)
        if match:
            current = [match.group(1), match.group(2), []]
            blocks.append(current)
        elif current is not None:
            current[2].append(line)
    assert blocks, f"{name}.py holds no blocks"
    return [(i, where, "\n".join(lines).strip("\n") + "\n") for i, where, lines in blocks]


def student_cell(source: str):
    cell = new_code_cell(source)
    cell.pop("id", None)  # the course's notebooks are nbformat 4.4: no cell ids
    return cell


def attack_notebook(name: str, params: dict):
    """Notebook 01 with the reference solutions and the cells of attack `name` (ATTACK = `params`)."""
    nb = solved()
    after: dict[str, int] = {}  # cells inserted after each exercise cell so far (they keep their order)
    for exercise_id, where, source in attack_blocks(name):
        if "ATTACK" in source:
            source = f"ATTACK = {json.dumps(params)}\n" + source
        index = next(k for k, cell in enumerate(nb.cells) if cell.metadata.get("exercise") == exercise_id)
        if where is None:
            nb.cells[index].source = source
        elif where == "before":
            nb.cells.insert(index, student_cell(source))
        else:
            after[exercise_id] = after.get(exercise_id, 0) + 1
            nb.cells.insert(index + after[exercise_id], student_cell(source))
    return nb


def write_attacks(folder: Path, names, params_of) -> None:
    """The submissions `names` (attack files, plus the special ones) in `folder`."""
    for name in names:
        if name == "z_right":
            nb = solved()
        elif name == "z_wrong":
            nb = solved(GARBAGE)
        elif name == "extra_id":
            nb = solved()
            nb.cells.append(new_code_cell('raise SystemExit("an exercise the course does not have")',
                                          metadata={"exercise": "01.9", "tags": ["exercise"]}))
            nb.cells[-1].pop("id", None)
        else:
            nb = attack_notebook(name, params_of(name))
        save(nb, folder / FILE_NAMES.get(name, f"{name}.ipynb"))


def write_invalid(folder: Path, secret: Path) -> None:
    """Submissions that are not notebooks of one course notebook; each must be an `invalid` row."""
    write(folder / "invalid_not_json.ipynb", "{ this is not JSON")
    (folder / "invalid_not_utf8.ipynb").write_bytes(b'{"cells": "\xff\xfe not UTF-8"}')
    write(folder / "invalid_not_a_notebook.ipynb", json.dumps({"cells": [{"exercise": "01.1"}], "nbformat": 4}))
    huge = solved()
    huge.cells[1].outputs = [new_output("stream", text="x" * (30 << 20))]
    save(huge, folder / "invalid_30_mb.ipynb")
    mixed = solved()
    mixed.cells += [cell for cell in course_notebook(NOTEBOOK_02).cells if cell.metadata.get("exercise") == "02.1"]
    save(mixed, folder / "invalid_mixed.ipynb")
    unknown = new_notebook(cells=[new_code_cell("x = 1", metadata={"exercise": "99.1"})])
    save(unknown, folder / "invalid_unknown_notebook.ipynb")
    listed = solved()
    next(c for c in listed.cells if c.metadata.get("exercise") == "01.1").metadata["exercise"] = ["01.1"]
    save(listed, folder / "invalid_list_id.ipynb")
    twice = solved()
    twice.cells.append(student_cell(REFERENCE["01.1"]))
    twice.cells[-1].metadata["exercise"] = "01.1"
    save(twice, folder / "invalid_twice.ipynb")
    save(new_notebook(cells=[new_code_cell("x = 1")]), folder / "invalid_no_exercises.ipynb")
    # Archives keep symbolic links (unzip restores them): a "notebook" that points at other files.
    os.symlink(SOLUTIONS_PATH, folder / "invalid_link_to_solutions.ipynb")
    os.symlink(secret, folder / "invalid_link_to_secret.ipynb")


# --- what the attacks could reach -----------------------------------------------------------

class Listener:
    """TCP and UDP on 127.0.0.1 and an abstract Unix socket, each recording whatever reaches it."""

    def __init__(self):
        self.seen: list[tuple[str, object]] = []
        self.stopped = threading.Event()
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.unix_name = f"grading-listener-{TOKEN}"
        self.unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.unix.bind("\0" + self.unix_name)
        self.unix.listen()
        self.threads = [threading.Thread(target=self._accept, args=("tcp", self.tcp), daemon=True),
                        threading.Thread(target=self._accept, args=("unix", self.unix), daemon=True),
                        threading.Thread(target=self._receive, daemon=True)]
        for thread in self.threads:
            thread.start()

    @property
    def params(self) -> dict:
        return {"port": self.tcp.getsockname()[1], "udp": self.udp.getsockname()[1], "unix": self.unix_name}

    def _accept(self, kind, server):
        server.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                connection, address = server.accept()
            except OSError:
                continue
            self.seen.append((kind, address))
            connection.close()

    def _receive(self):
        self.udp.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                data, address = self.udp.recvfrom(1024)
            except OSError:
                continue
            self.seen.append(("udp", (address, data)))

    def close(self):
        self.stopped.set()
        for thread in self.threads:
            thread.join(2)
        for server in (self.tcp, self.udp, self.unix):
            server.close()


@pytest.fixture(scope="module")
def listener():
    server = Listener()
    yield server
    server.close()


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` but the virtual environment, git and caches."""
    hashes = {}
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if name not in SKIPPED_FOLDERS]
        for name in files:
            path = Path(folder) / name
            try:
                hashes[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as err:
                hashes[path.relative_to(root).as_posix()] = f"unreadable: {err}"
    return hashes


def folder_hashes(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


def planted_files() -> list[str]:
    """Files the tamper attack would have created in the caches and the virtual environment."""
    places = [ROOT / "helpers" / "__pycache__", ROOT / "helpers" / "exercises" / "__pycache__", Path(SITE_PACKAGES)]
    return sorted(str(path) for place in places if place.is_dir() for path in place.glob(f"grading_attack_{TOKEN}*"))


def undo_tamper() -> list[str]:
    """Take the tamper attack's appended lines out of the course and delete what it planted; say what was undone."""
    undone = []
    mark = f"\n# grading-attack {TOKEN}\n".encode()
    for folder, folders, files in os.walk(ROOT):
        folders[:] = [name for name in folders if name not in (".git", ".venv")]
        for name in files:
            path = Path(folder) / name
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if mark in data:
                path.write_bytes(data.replace(mark, b""))
                undone.append(f"appended to {path}")
    for path in planted_files():
        os.remove(path)
        undone.append(f"planted {path}")
    return undone


def processes_with(text: str) -> list[str]:
    """'pid: command line' of every process whose command line or environment holds `text`."""
    found = []
    needle = text.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry}: {command[:200]}")
    return found


def sandbox_debris() -> set[str]:
    """The sandboxes' work folders (helpers.sandbox: a temporary folder grading-*) and control groups that exist now."""
    return ({str(path) for path in Path(tempfile.gettempdir()).glob("grading-*") if path.is_dir()}
            | {str(path) for path in Path("/sys/fs/cgroup").glob("*/grading-*")})


def kill_marked(text: str) -> None:
    """SIGKILL, by pid, the processes an attack left behind (they are this test's own)."""
    for line in processes_with(text):
        try:
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
        except OSError:
            pass


def run_attacks(tmp: Path, names, kind: str, listener: Listener, with_invalid: bool) -> SimpleNamespace:
    """Grade the submissions `names` (and the invalid ones) under sandbox `kind`; what happened, and after."""
    folder, out, markers = tmp / "submitted", tmp / "grades.csv", tmp / "markers"
    markers.mkdir()
    secret = write(tmp / "secret.txt", f"SECRET-{TOKEN} the TA's private notes\nsecond line of the secret\n")

    def params_of(name):
        return {"token": TOKEN, "root": str(ROOT), "folder": str(folder), "csv": str(out),
                "feedback": str(tmp / "grades-feedback"), "site": SITE_PACKAGES, "grader_pid": os.getpid(),
                "mark": f"grading-{name}-{TOKEN}", "marker": str(markers / f"grading-{name}-{TOKEN}"),
                **listener.params}

    write_attacks(folder, names, params_of)
    if with_invalid:
        write_invalid(folder, secret)
    canary = write(ROOT / "tests" / f"grading_canary_{TOKEN}" / "canary.txt", "the tamper attack deletes this\n")
    submitted = folder_hashes(folder)
    before = tree_hashes(ROOT)
    seen_before = len(listener.seen)
    debris_before = sandbox_debris()
    rows, error, start = [], None, time.perf_counter()
    try:
        rows = grade(folder, out, timeout=SECONDS, jobs=2, seed=SEED, sandbox=kind)
    except BaseException as err:  # a grader that crashes is a finding: recorded, each test then fails on it
        error = "".join(traceback.format_exception(err))
    seconds = time.perf_counter() - start
    time.sleep(5)  # the daemons' ghost writes come 3 s after they start
    survivors = processes_with(TOKEN)
    debris = sorted(sandbox_debris() - debris_before)
    after = tree_hashes(ROOT)
    canary_text = canary.read_text() if canary.exists() else None
    undone = undo_tamper()
    shutil.rmtree(canary.parent, ignore_errors=True)
    host_markers = sorted(str(p) for p in [*markers.iterdir(), *Path("/tmp").glob(f"grading-*-{TOKEN}")])
    feedback_dir = tmp / "grades-feedback"
    feedback = ({path.name: path.read_text(encoding="utf-8") for path in feedback_dir.iterdir()}
                if feedback_dir.is_dir() else {})
    return SimpleNamespace(
        kind=kind, folder=folder, csv=out, rows=rows, error=error, seconds=seconds, survivors=survivors,
        debris=debris,
        changed=sorted(set(before.items()) ^ set(after.items())), canary=canary_text, undone=undone,
        markers=host_markers, csv_text=out.read_text(encoding="utf-8") if out.exists() else "",
        csv_rows=read_rows(out) if out.exists() else [], feedback=feedback, submitted=submitted,
        submitted_after=folder_hashes(folder), names=names, connections=listener.seen[seen_before:],
        secret=secret)


def needs_a_sandbox() -> None:
    """Skip on macOS and Windows, which offer no sandbox (grade refuses there: test_auto_...); fail on Linux."""
    if not sys.platform.startswith("linux"):
        pytest.skip("students' code is graded safely on Linux only; on this OS grade refuses without --no-sandbox")
    if not WORKING_KINDS:
        pytest.fail(NO_SANDBOX)


@pytest.fixture(scope="module")
def attacks(tmp_path_factory, listener):
    """Every attack, and the invalid submissions, graded in one run (two jobs, the best sandbox there is)."""
    needs_a_sandbox()
    run = run_attacks(tmp_path_factory.mktemp("attacks"), list(OUTCOMES), "auto", listener, with_invalid=True)
    yield run
    kill_marked(TOKEN)


@pytest.fixture(scope="module", params=WORKING_KINDS or ["none works"])
def isolated(request, tmp_path_factory, listener):
    """The isolation attacks graded under one sandbox kind (None when the machine offers none: the tests fail)."""
    if request.param == "none works":
        needs_a_sandbox()
    run = run_attacks(tmp_path_factory.mktemp(f"isolated-{request.param}"), ISOLATION, request.param, listener,
                      with_invalid=False)
    yield run
    kill_marked(TOKEN)


def row_of(run, name: str) -> dict:
    assert run.error is None, f"grade() raised:\n{run.error}"
    rows = by_name(run.csv_rows)
    file_name = FILE_NAMES.get(name, f"{name}.ipynb")
    assert file_name in rows, f"no row for {file_name} in the CSV"
    return rows[file_name]


def feedback_of(run, name: str) -> str:
    stem = Path(FILE_NAMES.get(name, f"{name}.ipynb")).stem
    assert f"{stem}.md" in run.feedback, f"no feedback file for {name}"
    return run.feedback[f"{stem}.md"]


def expect(run, name: str) -> dict:
    """The row of `name`, asserted to hold statuses an honest grader gives (OUTCOMES), its score with them."""
    row = row_of(run, name)
    assert row["status"] == "graded", row
    for exercise_id, got, allowed in zip(IDS, statuses(row), OUTCOMES[name]):
        allowed = {allowed} if isinstance(allowed, str) else allowed
        assert got in allowed, f"{name}: {exercise_id} is {got!r}, an honest grader says {sorted(allowed)}; {row}"
    assert row["score"] == str(sum(status == CORRECT for status in statuses(row))) and row["max_score"] == "3"
    return row


# Each attack's own row.

def test_the_grading_run_finishes(attacks):
    assert attacks.error is None, f"grade() raised:\n{attacks.error}"


@pytest.mark.parametrize("name", list(OUTCOMES))
def test_each_attack_gets_an_honest_verdict(attacks, name):
    expect(attacks, name)


def test_rebinding_check_changes_no_verdict(attacks):
    assert "| 01.1 the sigmoid's derivative | 0 of 1 | wrong |" in feedback_of(attacks, "check_rebound")


def test_a_forged_result_line_is_not_read_and_the_rest_is_graded(attacks):
    row = expect(attacks, "forged_result")
    assert row["score"] == "1"
    if row["01.2"] == CRASHED:
        assert "01.2 crashed" in row["detail"], row["detail"]


@pytest.mark.parametrize("name, exercise_id", [("endless_cell", "01.1"), ("endless_call", "01.2"),
                                               ("signals", "01.2")])
def test_an_endless_exercise_alone_times_out_and_is_named(attacks, name, exercise_id):
    row = expect(attacks, name)
    assert f"{exercise_id} timeout" in row["detail"], row["detail"]
    assert f"## {exercise_id} " in feedback_of(attacks, name)
    assert "This exercise was stopped (timeout)" in feedback_of(attacks, name)


def test_answers_written_for_the_check_inputs_fail_the_hidden_cases(attacks):
    expect(attacks, "hardcoded")
    text = feedback_of(attacks, "hardcoded")
    for exercise_id in ("01.1", "01.2"):
        section = text.split(f"## {exercise_id} ")[1].split("\n## ")[0]
        assert "Right on the check's own inputs, but not on the grader's other inputs." in section, section
        assert "Hidden cases (inputs chosen by the grader" in section, section
        assert "drawn by the grader" in section, section


def test_an_answer_that_changes_its_input_fails_the_hidden_cases(attacks):
    expect(attacks, "in_place")
    assert "Hidden cases (inputs chosen by the grader" in feedback_of(attacks, "in_place")


def test_a_flood_of_output_stays_out_of_the_csv(attacks):
    row = expect(attacks, "flood")
    assert len(row["detail"]) <= 1000
    assert attacks.csv.stat().st_size < 100_000


def test_feedback_shows_the_student_text_as_text(attacks):
    expect(attacks, "feedback_injection")
    text = feedback_of(attacks, "feedback_injection")
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert len(headings) == 4 and headings[0].startswith("# Feedback on feedback_injection "), headings
    assert [heading.split()[1] + " " + heading.split()[-1] for heading in headings[1:]] == [
        "01.1 correct", "01.2 wrong", "01.3 correct"], headings
    rows = [line for line in text.splitlines() if line.startswith("| 0")]
    assert [(row.split()[1], row.split("|")[-2].strip()) for row in rows] == [
        ("01.1", CORRECT), ("01.2", WRONG), ("01.3", CORRECT)], rows
    assert "<script" not in text and "<img" not in text and "2 of 3 points." in text


def test_a_notebook_that_is_not_one_is_an_invalid_row_with_its_reason(attacks):
    assert attacks.error is None, attacks.error
    rows = by_name(attacks.csv_rows)
    for name, reason in INVALID.items():
        assert name in rows, f"no row for {name}"
        row = rows[name]
        assert (row["status"], row["score"], row["max_score"]) == ("invalid", "0", ""), row
        assert row["detail"].strip() and reason in row["detail"], (name, row["detail"])
        assert statuses(row) == ("", "", ""), row
        assert "Not graded: " in attacks.feedback[f"{Path(name).stem}.md"]


def test_a_linked_submission_shows_nothing_of_the_file_it_points_at(attacks):
    secret = f"SECRET-{TOKEN}"
    start = SOLUTIONS_PATH.read_text(encoding="utf-8")[:20]
    for where, text in [("the CSV", attacks.csv_text), *attacks.feedback.items()]:
        assert secret not in text and start not in text, f"{where} shows the linked file: {text[:400]}"


def test_every_submission_has_exactly_one_row(attacks):
    assert attacks.error is None, attacks.error
    assert sorted(row["submission"] for row in attacks.csv_rows) == sorted(attacks.submitted)
    assert as_strings(attacks.csv_rows) == as_strings(attacks.rows)


# Isolation: in the all-attacks run and under each sandbox kind.

def assert_course_unchanged(run):
    assert not run.undone, f"the attack got through to the course (undone by the test): {run.undone}"
    assert not run.changed, ("files of the course changed while grading (none holds the attack's mark; if someone "
                             f"edited them meanwhile, run the test again): {sorted({path for path, _ in run.changed})}")
    assert run.canary == "the tamper attack deletes this\n", "the tamper attack deleted the canary in tests/"
    assert planted_files() == []


def assert_submissions_and_rows_intact(run):
    assert run.error is None, f"grade() raised:\n{run.error}"
    assert run.submitted_after == run.submitted, "the submissions folder changed while grading"
    assert sorted(row["submission"] for row in run.csv_rows) == sorted(run.submitted), "rows != submissions"
    assert "ghost.ipynb" not in run.csv_text, "a ghost row reached the CSV"
    assert as_strings(run.csv_rows) == as_strings(run.rows)
    header = run.csv_text.splitlines()[0]
    assert header == ",".join(COLUMNS)
    for name in ("z_right", "z_wrong", "tamper"):
        expect(run, name)


def assert_nothing_outlives_grading(run):
    assert run.survivors == [], f"processes outlived grading: {run.survivors}"
    assert run.markers == [], f"processes outlived their sandbox and wrote: {run.markers}"
    assert run.debris == [], ("sandboxes left their work folders or control groups behind (or someone else graded "
                              f"at the same time): {run.debris}")
    assert "ghost.ipynb" not in run.csv_text, "a ghost row reached the CSV"
    expect(run, "daemon")
    expect(run, "fork_bomb")
    assert run.seconds < 600


def assert_solutions_unread(run):
    expect(run, "read_solutions")
    lines = {line.strip() for line in SOLUTIONS_PATH.read_text(encoding="utf-8").splitlines()}
    lines = {line for line in lines if len(line) >= 20}
    for where, text in [("the CSV", run.csv_text), *run.feedback.items()]:
        leaked = sorted(line for line in lines if line in text)
        assert not leaked, f"{where} holds lines of solutions.py: {leaked}"


def assert_no_network(run):
    expect(run, "network")
    assert run.connections == [], f"the sandbox reached the grader's machine: {run.connections}"


def assert_grader_survives_kills(run):
    expect(run, "kill_parent")
    assert_submissions_and_rows_intact(run)


def test_attacks_leave_the_course_unchanged(attacks):
    assert_course_unchanged(attacks)


def test_attacks_leave_other_submissions_and_rows_intact(attacks):
    assert_submissions_and_rows_intact(attacks)


def test_attacks_leave_no_process_behind(attacks):
    assert_nothing_outlives_grading(attacks)


def test_attacks_cannot_read_the_solutions(attacks):
    assert_solutions_unread(attacks)


def test_attacks_reach_no_network(attacks):
    assert_no_network(attacks)


def test_attacks_cannot_kill_the_grader(attacks):
    assert_grader_survives_kills(attacks)


def test_each_sandbox_keeps_the_course_unchanged(isolated):
    assert_course_unchanged(isolated)


def test_each_sandbox_keeps_other_submissions_and_rows_intact(isolated):
    assert_submissions_and_rows_intact(isolated)


def test_each_sandbox_leaves_no_process_behind(isolated):
    assert_nothing_outlives_grading(isolated)


def test_each_sandbox_keeps_the_solutions_unread(isolated):
    assert_solutions_unread(isolated)


def test_each_sandbox_reaches_no_network(isolated):
    assert_no_network(isolated)


def test_each_sandbox_keeps_the_grader_alive(isolated):
    assert_grader_survives_kills(isolated)


# Attacks graded on their own: they might stop the whole run.

def test_a_forged_forbidden_call_report_does_not_stop_the_grading(tmp_path):
    folder = tmp_path / "submitted"
    save(attack_notebook("used_helper_forged", {}), folder / "a_used_helper_forged.ipynb")
    save(solved(), folder / "b_right.ipynb")
    try:
        rows = grade(folder, tmp_path / "grades.csv", timeout=SECONDS, seed=SEED)
    except BaseException as err:
        pytest.fail(f"grade() raised {type(err).__name__} ({err}): one student stopped the grading of all")
    rows = by_name(read_rows(tmp_path / "grades.csv"))
    assert rows["a_used_helper_forged.ipynb"]["status"] == "graded"
    assert rows["a_used_helper_forged.ipynb"]["01.1"] in (WRONG, CRASHED)
    assert statuses(rows["b_right.ipynb"]) == (CORRECT, CORRECT, CORRECT)


def grade_in_subprocess(folder: Path, out: Path, seconds: float) -> tuple[int | None, str]:
    """(exit code or None when stopped after `seconds`, stderr) of the command line grading `folder`,
    with a soft limit of 3 GB of address space (so a grader that reads without end fails instead of filling the machine)."""
    def limit():
        import resource  # Unix only, as this test is
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))

    process = subprocess.Popen(
        [sys.executable, "-m", "helpers.grading", "grade", str(folder), "--out", str(out), "--seed", str(SEED),
         "--timeout", str(SECONDS)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        preexec_fn=limit, start_new_session=True)
    try:
        _, err = process.communicate(timeout=seconds)
        return process.returncode, err.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group this test started
        process.communicate()
        return None, ""


@pytest.mark.parametrize("kind", ["a link to /dev/zero", "a named pipe"])
def test_a_submission_that_is_not_a_file_is_an_invalid_row(tmp_path, kind):
    folder = tmp_path / "submitted"
    save(solved(), folder / "right.ipynb")
    if kind == "a named pipe":
        os.mkfifo(folder / "strange.ipynb")
    else:
        os.symlink("/dev/zero", folder / "strange.ipynb")
    code, err = grade_in_subprocess(folder, tmp_path / "grades.csv", 45)
    assert code is not None, f"the grader still ran after 45 s on {kind}"
    assert code == 0, f"the grader failed on {kind}: {err[-1500:]}"
    rows = by_name(read_rows(tmp_path / "grades.csv"))
    assert rows["strange.ipynb"]["status"] == "invalid" and rows["strange.ipynb"]["detail"]
    assert statuses(rows["right.ipynb"]) == (CORRECT, CORRECT, CORRECT)
