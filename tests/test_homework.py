"""The homework workflow on the real course: solutions pass every check, the release holds none of them.

Both tests grade all nine notebooks with the real grader, each in a sandbox of its own
(about 20 s each); tests/test_grading.py grades hostile submissions.
"""
from pathlib import Path

import nbformat

from helpers import sandbox
from helpers.exercises import CORRECT, NOT_ATTEMPTED, exercises
from helpers.grading import exercise_cells, grade, load_solutions, release, solutions_notebooks

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = load_solutions(ROOT / "solutions" / "solutions.py")
TIMEOUT = 300.0
# The reference solutions and the starter cells are the course's own code: they need no sandbox where there is none.
SANDBOX = "auto" if sandbox.available() else "none"


def graded_by_notebook(rows: list) -> dict:
    """{notebook stem: row} for all nine notebooks: every one of them has exercises."""
    by_stem = {Path(row["submission"]).stem: row for row in rows}
    assert sorted(by_stem) == sorted(path.stem for path in (ROOT / "notebooks").glob("0*.ipynb"))
    return by_stem


def test_with_the_reference_solutions_every_check_in_every_notebook_passes(tmp_path):
    solutions_notebooks(tmp_path / "solved")
    graded = grade(tmp_path / "solved" / "notebooks", tmp_path / "grades.csv", TIMEOUT, sandbox=SANDBOX)
    rows = graded_by_notebook(graded)
    seen = []
    for stem, row in rows.items():
        assert row["status"] == "graded", (stem, row["detail"])
        assert row["score"] == row["max_score"], (stem, row)
        seen += [exercise_id for exercise_id in exercises() if row.get(exercise_id) == CORRECT]
    assert seen == list(exercises())


def solution_body(exercise_id: str) -> str:
    """The lines of a solution after its answer's `def` line and docstring, or its assignment line."""
    lines = SOLUTIONS[exercise_id].rstrip().splitlines()
    name = exercises()[exercise_id].answer
    start = next(k for k, line in enumerate(lines) if line.startswith((f"def {name}(", f"{name} =")))
    body = lines[start + 1:] or lines[start:]
    if body and body[0].strip().startswith('"""'):
        close = next(k for k, line in enumerate(body) if line.strip().endswith('"""') and (k or line.count('"""') == 2))
        body = body[close + 1:]
    return "\n".join(body).strip()


def test_the_student_release_runs_shows_not_attempted_and_holds_no_solution(tmp_path):
    dest = tmp_path / "release"
    release(dest)
    assert not (dest / "solutions").exists() and not (dest / "tests").exists()
    texts = {path: path.read_text(encoding="utf-8") for path in dest.rglob("*")
             if path.is_file() and path.suffix in (".py", ".md", ".txt", ".toml")}
    for path in dest.rglob("*.ipynb"):  # as the cells' text, not JSON strings
        texts[path] = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    for exercise_id in exercises():
        body = solution_body(exercise_id)
        assert len(body) > 10, exercise_id
        assert not [p for p, text in texts.items() if body in text], exercise_id
    for path in sorted((dest / "notebooks").glob("*.ipynb")):
        course = exercise_cells(nbformat.read(ROOT / "notebooks" / path.name, as_version=4))
        for exercise_id, cell in exercise_cells(nbformat.read(path, as_version=4)).items():
            assert cell.source == course[exercise_id].source and not cell.outputs, exercise_id

    rows = graded_by_notebook(grade(dest / "notebooks", tmp_path / "grades.csv", TIMEOUT, root=dest, sandbox=SANDBOX))
    for stem, row in rows.items():
        assert row["status"] == "graded" and row["score"] == 0, (stem, row["detail"])
    assert [e for row in rows.values() for e in exercises() if row.get(e) == NOT_ATTEMPTED] == list(exercises())
