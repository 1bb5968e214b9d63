"""The instructor's homework tools on a tiny course of one notebook with two exercises:
solutions parsed, a release without solutions, and every kind of submission graded
(correct, partly right, corrupt, crashing, endless, trying the network)."""
import csv
import time
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from helpers.grading import fill, grade, load_solutions, main, release, solution_lines, solutions_notebooks

STARTERS = {"01.1": "def my_sigmoid_prime(z):\n    ...", "01.2": "def my_chain_gradient(w, z):\n    ..."}
SOLUTIONS = {
    "01.1": "def my_sigmoid_prime(z):\n    s = 0.5 * (1.0 + np.tanh(z / 2.0))\n    return s * (1.0 - s)",
    "01.2": ("def my_chain_gradient(w, z):\n    slopes = my_sigmoid_prime(np.asarray(z))\n"
             "    return float(np.prod(w * slopes))"),
}
SOLUTIONS_FILE = '"""Reference solutions."""\n\n' + "".join(f"# %% {i}\n{s}\n\n" for i, s in SOLUTIONS.items())
TIMEOUT = 20.0
NETWORK_DISABLED = "network access is disabled while grading"


def exercise_cells(exercise_id, source):
    """An exercise cell and its check cell, with the outputs of a stored run."""
    return [new_code_cell(source, metadata={"exercise": exercise_id, "tags": ["exercise"]}, execution_count=2,
                          outputs=[new_output("stream", text="old output\n")]),
            new_code_cell(f'check("{exercise_id}")', metadata={"tags": ["check"]}, execution_count=3,
                          outputs=[new_output("stream", text="not attempted yet\n")])]


def tiny_notebook(answers=None):
    """Setup, a markdown cell, exercises 01.1 and 01.2 with their checks, a last cell that prints.

    The exercise cells hold the starters, or `answers` (by id).
    """
    sources = dict(STARTERS, **(answers or {}))
    return new_notebook(cells=[
        new_code_cell("import numpy as np\nfrom helpers.exercises import check", execution_count=1),
        new_markdown_cell("Write the sigmoid's derivative."),
        *exercise_cells("01.1", sources["01.1"]),
        *exercise_cells("01.2", sources["01.2"]),
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


# --- solutions ---------------------------------------------------------------------------

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


def test_solution_lines_leave_out_what_a_starter_shares():
    solution = ('import numpy as np\n\n\n@staticmethod\ndef f(z):\n    """Doc\n    on two lines."""\n'
                "    # why\n    s = np.tanh(z)\n    return 1.0 - s * s  # tanh' = 1 - tanh^2\n\nguess = 1e-6\n")
    assert solution_lines(solution) == {"s = np.tanh(z)", "return 1.0 - s * s", "guess = 1e-6"}


def test_fill_replaces_exercise_sources_only():
    nb = tiny_notebook()
    filled = fill(nb, {"01.2": SOLUTIONS["01.2"], "09.9": "ignored = 1"})
    assert [c.source for c in filled.cells] == [c.source for c in tiny_notebook({"01.2": SOLUTIONS["01.2"]}).cells]
    assert nb.cells[4].source == STARTERS["01.2"]  # the original is untouched


# --- release and solution notebooks ------------------------------------------------------

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


# --- grading -----------------------------------------------------------------------------

def submission(answers: dict, edit=None) -> str:
    """A student's notebook: the course notebook with `answers` in its exercise cells, then `edit`ed."""
    nb = tiny_notebook(answers)
    if edit:
        edit(nb)
    return nbformat.writes(nb)


def delete_checks_and_break_setup(nb):
    """Edits outside the exercise cells, which grading must ignore."""
    nb.cells = [c for c in nb.cells if "check" not in c.metadata.get("tags", [])]
    nb.cells[0].source = 'raise RuntimeError("a student edit")'


NETWORK_ANSWER = f'''import socket

def refused(attempt):
    try:
        attempt()
    except OSError as err:
        return "{NETWORK_DISABLED}" in str(err)
    return False

blocked = all(map(refused, [lambda: socket.create_connection(("example.com", 80), timeout=5),
                            lambda: socket.socket(socket.AF_INET), lambda: socket.getaddrinfo("localhost", 80)]))

def my_sigmoid_prime(z):  # right only where the network was refused
    s = 0.5 * (1.0 + np.tanh(z / 2.0))
    return s * (1.0 - s) if blocked else s

socket.create_connection(("example.com", 80))
'''


# A thread still running at the end must not keep the run from finishing.
LEFT_RUNNING = "\nimport threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()"


def endless_answer(heartbeat: Path) -> str:
    """Starts a process that writes the time to `heartbeat` forever, then loops forever itself."""
    beat = f"import time\\nwhile True: open({str(heartbeat)!r}, 'w').write(str(time.time())); time.sleep(0.1)"
    return f'import subprocess, sys\nsubprocess.Popen([sys.executable, "-c", "{beat}"])\nwhile True:\n    pass'


def write_submissions(folder: Path, heartbeat: Path) -> None:
    wrong_chain = SOLUTIONS["01.2"].replace("np.prod", "np.sum")
    crash = 'import os, sys\nprint(\'oops, "quoted"\\nsecond line\', file=sys.stderr, flush=True)\nos._exit(3)'
    files = {
        "a_correct": submission(SOLUTIONS, delete_checks_and_break_setup),
        "b_partly": submission({"01.1": SOLUTIONS["01.1"] + LEFT_RUNNING, "01.2": wrong_chain}),
        "c_corrupt": "{ this is not JSON",
        "d_crash": submission({"01.1": crash}),
        "e_endless": submission({"01.1": endless_answer(heartbeat)}),
        "f_network": submission({"01.1": NETWORK_ANSWER}),
        "g_no_exercises": nbformat.writes(new_notebook(cells=[new_code_cell("x = 1")])),
    }
    for name, text in files.items():
        write(folder / f"{name}.ipynb", text)


EXPECTED = [  # submission, status, score, max_score, 01.1, 01.2, detail
    ["a_correct.ipynb", "graded", "2", "2", "correct", "correct", ""],
    ["b_partly.ipynb", "graded", "1", "2", "correct", "wrong", ""],
    ["c_corrupt.ipynb", "invalid", "0", "", "", "",
     "not a valid notebook: NotJSONError: Notebook does not appear to be JSON: '{ this is not JSON'"],
    ["d_crash.ipynb", "crashed", "0", "2", "", "", 'exit code 3: oops, "quoted" | second line'],
    ["e_endless.ipynb", "timeout", "0", "2", "", "", f"still running after {TIMEOUT:g} s, stopped"],
    ["f_network.ipynb", "graded", "1", "2", "correct", "not attempted",
     f"cell 3 raised OSError: {NETWORK_DISABLED}"],
    ["g_no_exercises.ipynb", "invalid", "0", "", "", "",
     "no exercise cells (cells with an exercise id in their metadata)"],
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the submissions once: the CSV's rows, the rows returned, the number of rows in the CSV
    as each submission was logged, the seconds it took, and the endless submission's heartbeat file."""
    tmp = tmp_path_factory.mktemp("grading")
    root = tmp / "course"
    write(root / "notebooks" / "01_tiny.ipynb", nbformat.writes(tiny_notebook()))
    heartbeat = tmp / "heartbeat.txt"
    write_submissions(tmp / "submitted", heartbeat)
    out = tmp / "grades.csv"
    seen = []

    def csv_rows():
        with open(out, newline="", encoding="utf-8") as file:
            return list(csv.reader(file))

    start = time.perf_counter()
    returned = grade(tmp / "submitted", out, timeout=TIMEOUT, root=root,
                     log=lambda line: seen.append(len(csv_rows()) - 1))
    return SimpleNamespace(rows=csv_rows(), returned=returned, seen=seen, seconds=time.perf_counter() - start,
                           heartbeat=heartbeat)


def test_grade_writes_one_row_per_submission(graded):
    assert graded.rows[0] == ["submission", "status", "score", "max_score", "01.1", "01.2", "detail"]
    assert graded.rows[1:] == EXPECTED


def test_grade_returns_the_rows_it_writes(graded):
    header = graded.rows[0]
    assert [[str(row.get(column, "")) for column in header] for row in graded.returned] == graded.rows[1:]


def test_grade_writes_each_row_before_the_next_submission_runs(graded):
    assert graded.seen == [1, 2, 3, 4, 5, 6, 7]


def test_grade_stops_an_endless_submission_with_everything_it_started(graded):
    assert TIMEOUT < graded.seconds < TIMEOUT + 90  # four runs of a tiny notebook take a few seconds each
    assert graded.heartbeat.exists()  # the endless submission did start its process ...
    last = graded.heartbeat.read_text()
    time.sleep(0.5)
    assert graded.heartbeat.read_text() == last  # ... and it was stopped with it


@pytest.mark.parametrize("args, message", [
    (["grade", "no-such-folder"], "no-such-folder is not a folder"),
    (["grade", ".", "--timeout", "0"], "timeout must be a positive number"),
])
def test_command_line_reports_bad_input(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_grade_refuses_a_folder_without_notebooks(tmp_path):
    with pytest.raises(ValueError, match="no \\*.ipynb files"):
        grade(tmp_path, tmp_path / "grades.csv")
