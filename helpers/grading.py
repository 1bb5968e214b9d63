"""Homework for instructors: a student release, notebooks with the solutions, and a grader.

    python -m helpers.grading release DEST      # the course as students get it, without solutions
    python -m helpers.grading solutions DEST    # the notebooks with the reference solutions filled in
    python -m helpers.grading grade FOLDER [--out grades.csv] [--jobs 2] [--timeout 60] [--resume]

An exercise is a code cell with its id in `metadata["exercise"]` ("01.1": notebook 01)
followed by a check cell `check("01.1")`. The reference solutions are blocks of
solutions/solutions.py, each a line `# %% 01.1` and then the solved cell.

Grading: each submission runs in a sandbox (`helpers.sandbox`) holding a throwaway
copy of the student release; which of its cells run is `helpers.program`'s choice,
and `helpers.grader` judges every answer here, in the grader, from the data the
sandbox sends back (`helpers.wire`). This module writes the CSV and feedback files.
"""
from __future__ import annotations

import argparse
import ast
import copy
import csv
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import nbformat

from helpers import sandbox as sandboxes
from helpers.exercises import CORRECT, exercises
from helpers.grader import one_line
from helpers.grader import run as run_program
from helpers.program import program

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = Path("solutions") / "solutions.py"
RELEASED = ("README.md", "requirements.txt", "pyproject.toml", "course.py", "helpers", "data", "docs", "notebooks")
NOT_RELEASED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
EXERCISE_ID = re.compile(r"\d\d\.\d+")
BLOCK_START = "# %% "
# Shorter lines ("return s", "x = 0") are everyday code, not a sign of a leaked solution.
MIN_SOLUTION_LINE = 8
COMMENT = re.compile(r"(^|\s)#.*")  # crude ("#" in a string), but the same for solutions and files


# --- notebooks and solutions ------------------------------------------------------------

def load_solutions(path) -> dict[str, str]:
    """The reference solutions by exercise id, from blocks `# %% <id>` + the solved cell's source."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no solutions file at {path}")
    blocks: dict[str, list[str]] = {}
    current = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith(BLOCK_START):
            current = line[len(BLOCK_START):].strip()
            if not EXERCISE_ID.fullmatch(current):
                raise ValueError(f"{path}:{number}: {line!r} does not name an exercise id such as 01.1")
            if current in blocks:
                raise ValueError(f"{path}:{number}: exercise {current} has a second solution block")
            blocks[current] = []
        elif current is not None:  # lines before the first block are the file's docstring
            blocks[current].append(line)
    if not blocks:
        raise ValueError(f"{path} holds no solution blocks (a line '# %% 01.1', then the solved cell)")
    solutions = {exercise_id: "\n".join(lines).strip("\n") for exercise_id, lines in blocks.items()}
    empty = [exercise_id for exercise_id, source in solutions.items() if not source.strip()]
    if empty:
        raise ValueError(f"{path}: empty solution block for {', '.join(empty)}")
    return solutions


def exercise_cells(nb) -> dict:
    """The exercise cells of a notebook by exercise id, in notebook order."""
    cells = {}
    for cell in nb.cells:
        exercise_id = cell.get("metadata", {}).get("exercise")
        if cell.cell_type != "code" or exercise_id is None:
            continue
        if exercise_id in cells:
            raise ValueError(f"exercise {exercise_id} has more than one exercise cell")
        cells[exercise_id] = cell
    return cells


def fill(nb, sources: dict[str, str]):
    """A copy of `nb` whose exercise cells hold `sources` (by id); ids not in the notebook are ignored."""
    filled = copy.deepcopy(nb)
    for exercise_id, cell in exercise_cells(filled).items():
        if exercise_id in sources:
            cell.source = sources[exercise_id]
    return filled


def clear_exercise_outputs(nb) -> int:
    """Clear the outputs of the exercise and check cells of `nb` in place; return how many cells."""
    cells = [cell for cell in nb.cells
             if cell.cell_type == "code" and ("exercise" in cell.metadata or "check" in cell.metadata.get("tags", []))]
    for cell in cells:
        cell.outputs, cell.execution_count = [], None
    return len(cells)


def course_notebooks(root) -> dict[str, Path]:
    """The course notebooks of `root` by number ("01" -> notebooks/01_chain_rule.ipynb)."""
    return {path.name[:2]: path for path in sorted((Path(root) / "notebooks").glob("[0-9][0-9]_*.ipynb"))}


def id_order(exercise_id: str) -> tuple:
    """Sort key that puts 01.10 after 01.9."""
    return tuple(int(part) for part in exercise_id.split("."))


# --- finding solution code ---------------------------------------------------------------

def solution_lines(solution: str) -> set[str]:
    """The lines of a solution that give it away, as `code_of` them.

    A starter cell keeps the solution's imports, `def` lines and docstrings and puts
    `...` for the rest, so those lines are left out, as are comments and short lines.
    """
    try:
        tree = ast.parse(solution)
    except SyntaxError as err:
        raise ValueError(f"a solution does not parse (line {err.lineno}: {err.msg}):\n{solution}") from None
    shared = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            shared.update(range(node.lineno, node.end_lineno + 1))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            first = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
            shared.update(range(first, node.body[0].lineno))
            if ast.get_docstring(node) is not None:
                shared.update(range(node.body[0].lineno, node.body[0].end_lineno + 1))
    lines = (code_of(line) for number, line in enumerate(solution.splitlines(), 1) if number not in shared)
    return {line for line in lines if len(line) >= MIN_SOLUTION_LINE}


def solutions_in(lines: set[str], distinctive: dict[str, set[str]], every_line: bool) -> list[str]:
    """What `lines` (`code_lines`) hold of the solutions, given each one's `solution_lines`.

    With `every_line`, only whole solutions count: the course's own helpers may well
    share a line with a solution (the same QR step), a leaked solution brings all of them.
    """
    found = []
    for exercise_id, wanted in distinctive.items():
        shared = wanted & lines
        if shared and (shared == wanted or not every_line):
            found.append(f"{'the solution' if shared == wanted else 'a line'} of {exercise_id}: "
                         + "; ".join(sorted(shared)))
    return found


def code_of(line: str) -> str:
    """A line without indentation and comment, so a copy with other comments still matches."""
    return COMMENT.sub("", line).strip()


def code_lines(text: str) -> set[str]:
    return {code_of(line) for line in text.splitlines()}


def _strings(value) -> Iterator[str]:
    """Every string inside parsed JSON."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def file_lines(path: Path) -> set[str]:
    """The `code_lines` of a text file; of a notebook, of every source and output in it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:  # an image or other binary file cannot hold a line of code
        return set()
    if path.suffix == ".ipynb":
        text = "\n".join(_strings(json.loads(text)))
    return code_lines(text)


# --- release and solution notebooks ------------------------------------------------------

def _empty_folder(dest) -> Path:
    """`dest`, created; refuse a file or a folder that holds anything."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest} exists and is not an empty folder; choose a new one")
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def release(dest, root=PROJECT_ROOT) -> str:
    """Write the course as students get it to `dest`: no solutions, tests or benchmarks.

    Outputs of exercise and check cells are cleared. Refuses when an exercise cell of
    the course still holds solution code, and checks every released file for it after.
    """
    root = Path(root)
    distinctive = {exercise_id: solution_lines(solution)
                   for exercise_id, solution in load_solutions(root / SOLUTIONS).items()}
    held = [f"{path.relative_to(root).as_posix()}, exercise cell {exercise_id}: {found}"
            for path in course_notebooks(root).values()
            for exercise_id, cell in exercise_cells(nbformat.read(path, as_version=4)).items()
            for found in solutions_in(code_lines(cell.source), distinctive, every_line=False)]
    if held:
        raise ValueError("exercise cells hold solution code; put the starter code back first:\n  "
                         + "\n  ".join(held))
    dest = _empty_folder(dest)
    for name in RELEASED:
        if (root / name).is_dir():
            shutil.copytree(root / name, dest / name, ignore=NOT_RELEASED)
        elif (root / name).is_file():
            shutil.copy2(root / name, dest / name)
    cleared = 0
    for path in course_notebooks(dest).values():
        nb = nbformat.read(path, as_version=4)
        cleared += clear_exercise_outputs(nb)
        nbformat.write(nb, path)
    files = sorted(path for path in dest.rglob("*") if path.is_file())
    leaks = [f"{path.relative_to(dest).as_posix()}: {found}" for path in files
             for found in solutions_in(file_lines(path), distinctive, every_line=True)]
    if leaks:
        shutil.rmtree(dest)
        dest.mkdir()
        raise ValueError(f"released files held solution lines, so {dest} was emptied again:\n  " + "\n  ".join(leaks))
    return (f"Released {len(files)} files to {dest} ({len(course_notebooks(dest))} notebooks, outputs of "
            f"{cleared} exercise and check cells cleared); none of the {len(distinctive)} solutions in them.")


def solutions_notebooks(dest, root=PROJECT_ROOT) -> str:
    """Write the course notebooks with the reference solutions filled in to `dest`/notebooks (not run)."""
    root = Path(root)
    solutions = load_solutions(root / SOLUTIONS)
    folder = _empty_folder(dest) / "notebooks"
    folder.mkdir()
    filled = []
    for path in course_notebooks(root).values():
        nb = nbformat.read(path, as_version=4)
        filled += [exercise_id for exercise_id in exercise_cells(nb) if exercise_id in solutions]
        nb = fill(nb, solutions)
        clear_exercise_outputs(nb)
        nbformat.write(nb, folder / path.name)
    unused = sorted(set(solutions) - set(filled), key=id_order)
    return (f"Wrote {len(course_notebooks(root))} notebooks with {len(filled)} solutions to {folder}"
            + (f"; solutions with no exercise cell: {', '.join(unused)}" if unused else ""))


# --- grading -----------------------------------------------------------------------------

MAX_NOTEBOOK = 20 << 20  # bytes: a saved notebook with every output is well below this
FIXED_COLUMNS = ("submission", "sha256", "status", "score", "max_score")
POINTS = Path("solutions") / "points.csv"


def load_points(path, known: dict) -> dict[str, float]:
    """Points per exercise id from a CSV file `exercise,points` (default 1 for an exercise not listed)."""
    points = {exercise_id: 1.0 for exercise_id in known}
    if path is None or not Path(path).is_file():
        return points
    with open(path, newline="", encoding="utf-8") as file:
        for number, row in enumerate(csv.DictReader(file), 2):
            exercise_id, value = (row.get("exercise") or "").strip(), (row.get("points") or "").strip()
            if exercise_id not in known:
                raise ValueError(f"{path}:{number}: {exercise_id!r} is not an exercise id of the course")
            try:
                points[exercise_id] = float(value)
            except ValueError:
                raise ValueError(f"{path}:{number}: points must be a number, not {value!r}") from None
            if not 0 <= points[exercise_id] < 1e6:
                raise ValueError(f"{path}:{number}: points must be 0 or more, not {value}")
    return points


def submission_bytes(path: Path) -> bytes:
    """The bytes of a submitted file; ValueError for a link, a device, a pipe or a file over MAX_NOTEBOOK."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise ValueError(f"cannot be opened as a file of its own ({err.strerror}): links are not graded") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_NOTEBOOK:
            raise ValueError(f"larger than {MAX_NOTEBOOK >> 20} MB")
        return file.read(MAX_NOTEBOOK + 1)[:MAX_NOTEBOOK]


def sha256_of(path: Path) -> str:
    """The sha256 of a submitted file, or "" when it is not one (see submission_bytes)."""
    try:
        return hashlib.sha256(submission_bytes(path)).hexdigest()
    except ValueError:
        return ""


def read_submission(path: Path, pristine: dict[str, Path]):
    """(the path of the course notebook it answers, the submitted notebook); ValueError says why it is invalid."""
    data = submission_bytes(path)
    try:
        submitted = nbformat.reads(data.decode("utf-8"), as_version=4)
        # Extra keys are tolerated, as Jupyter does: cell ids in a 4.4 notebook, for one.
        nbformat.validate(submitted, relax_add_props=True)
        numbers = sorted({str(exercise_id)[:2] for exercise_id in exercise_cells(submitted)})
    except Exception as err:  # whatever is wrong with a student's file makes it invalid, not the run
        raise ValueError(one_line(f"not a valid notebook: {type(err).__name__}: {err}")) from None
    if not numbers:
        raise ValueError("no exercise cells (cells with an exercise id in their metadata)")
    if len(numbers) > 1 or numbers[0] not in pristine:
        raise ValueError(one_line(f"exercise cells of notebooks {', '.join(numbers)}, not of one course notebook"))
    return pristine[numbers[0]], submitted


@dataclass(frozen=True)
class Job:
    """Everything one grading job needs (pickled to a worker process with --jobs)."""
    path: Path
    pristine: dict
    sandbox: str | None
    release: Path
    timeout: float
    seed: int
    points: dict


def grade_one(job: Job, slot: int = 0) -> tuple[dict, str]:
    """(the CSV row, the feedback in Markdown) for one submission."""
    row = {"submission": job.path.name, "sha256": sha256_of(job.path)}
    try:
        course_path, submitted = read_submission(job.path, job.pristine)
    except ValueError as invalid:
        row.update(status="invalid", score=0, max_score="", detail=str(invalid))
        return row, f"# Feedback on {_markdown(job.path.name)}\n\nNot graded: {_markdown(str(invalid))}\n"
    course = nbformat.read(course_path, as_version=4)
    steps, notes = program(course, submitted)
    outcome = run_program(steps, job.sandbox, job.release, job.timeout, job.seed, slot)
    ids = list(exercise_cells(course))
    statuses = {i: outcome.verdicts[i].status for i in ids if i in outcome.verdicts}
    statuses.update({i: status for i, (status, _) in outcome.failed.items() if i in ids})
    score = sum(job.points[i] for i in ids if statuses.get(i) == CORRECT)
    details = [f"{i} {status}: {why}" for i, (status, why) in outcome.failed.items() if i in ids]
    details += notes + outcome.notes + [f"raised: {error}" for error in outcome.errors]
    row.update(status="graded", score=_number(score), max_score=_number(sum(job.points[i] for i in ids)),
               **statuses, detail=one_line("; ".join(details), 1000))
    return row, feedback(job.path.name, ids, outcome, statuses, job.points)


def _number(value: float):
    return int(value) if float(value).is_integer() else round(value, 3)


def feedback(name: str, ids: list, outcome, statuses: dict, points: dict) -> str:
    """The feedback file of one submission: per exercise its points, verdict, hint and hidden cases."""
    registry = exercises()
    earned = sum(points[i] for i in ids if statuses.get(i) == CORRECT)
    lines = [f"# Feedback on {_markdown(name)}", "",
             f"{_number(earned)} of {_number(sum(points[i] for i in ids))} points.", "",
             "| exercise | points | verdict |", "|---|---|---|"]
    for i in ids:
        got = points[i] if statuses.get(i) == CORRECT else 0
        lines.append(f"| {i} {_markdown(registry[i].title)} | {_number(got)} of {_number(points[i])} | "
                     f"{statuses.get(i, 'not checked')} |")
    for i in ids:
        lines += ["", f"## {i} {_markdown(registry[i].title)}: {statuses.get(i, 'not checked')}", ""]
        verdict = outcome.verdicts.get(i)
        if i in outcome.failed:
            status, why = outcome.failed[i]
            lines.append(f"This exercise was stopped ({status}): {_markdown(why)}. The other exercises were "
                         "graded without it.")
        elif verdict is not None:
            lines.append(_markdown(verdict.message) or "Right.")
            if verdict.hidden:
                lines += ["", "Hidden cases (inputs chosen by the grader, not shown in the notebook): "
                          + ("passed." if verdict.hidden == "passed" else _markdown(verdict.hidden))]
        else:
            lines.append("Not checked: the notebook's check for it did not run.")
    return "\n".join(lines) + "\n"


def _markdown(text: str) -> str:
    """Text on one line, with what Markdown or HTML would act on escaped (part of it comes from the student)."""
    return one_line(text, 2000).replace("&", "&amp;").replace("<", "&lt;").replace("|", "\\|")


class Progress:
    """A progress bar on a terminal (else nothing): submissions done of all, how many running, time."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.stream, self.start = total, stream, time.monotonic()
        self.live = getattr(stream, "isatty", lambda: False)()

    def show(self, done: int, running: int) -> None:
        if not self.live:
            return
        filled = int(30 * done / max(self.total, 1))
        elapsed = time.monotonic() - self.start
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} graded, "
                          f"{running} running, {elapsed:.0f} s ")
        self.stream.flush()

    def end(self) -> None:
        if self.live:
            self.stream.write("\n")


class Results:
    """The CSV file, written by the grader alone, one flushed row at a time; on resume, the rows kept."""

    def __init__(self, path: Path, columns: list, resume: bool, hashes: dict):
        self.path, self.columns = Path(path), columns
        self.kept: dict[str, dict] = {}
        if self.path.exists():
            if not resume:
                raise ValueError(f"{self.path} exists: pass --resume to go on with it, or choose another --out")
            self.kept = self._finished(hashes)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w", newline="", encoding="utf-8") as file:
            writer = csv.DictWriter(file, columns)
            writer.writeheader()
            writer.writerows(self.kept.values())
        os.replace(temporary, self.path)
        self.file = open(self.path, "a", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.file, columns)

    def _finished(self, hashes: dict) -> dict:
        """The rows of the existing file whose submission is still there, unchanged (same sha256)."""
        with open(self.path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            if reader.fieldnames != self.columns:
                raise ValueError(f"{self.path} has other columns than this grading run: choose another --out")
            return {row["submission"]: row for row in reader if hashes.get(row["submission"]) == row["sha256"]}

    def write(self, row: dict) -> None:
        self.writer.writerow({column: row.get(column, "") for column in self.columns})
        self.file.flush()
        os.fsync(self.file.fileno())  # a crash of the grader loses no finished row

    def close(self) -> None:
        self.file.close()


def grade(submissions_dir, out_csv, timeout: float = 60.0, root=PROJECT_ROOT,
          log: Callable[[str], None] | None = None, jobs: int = 1, resume: bool = False, sandbox: str = "auto",
          seed: int | None = None, points_file=None, feedback_dir=None) -> list[dict]:
    """Grade every *.ipynb in `submissions_dir` into `out_csv` and one feedback file per submission.

    Columns: submission, sha256, status (graded, invalid), score and max_score (points),
    one per exercise id (correct, wrong, not attempted, timeout, crashed), detail.
    `timeout` is seconds per exercise. `sandbox` is "auto", "bwrap", "unshare" or "none".
    """
    folder, root = Path(submissions_dir), Path(root)
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder")
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout}")
    if not (isinstance(jobs, int) and jobs >= 1):
        raise ValueError(f"jobs must be a whole number of 1 or more, not {jobs}")
    kind = _sandbox_kind(sandbox)
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no *.ipynb files in {folder}")
    pristine = course_notebooks(root)
    points = load_points(root / POINTS if points_file is None else points_file, exercises())
    notebooks = {_notebook_of(path, pristine) for path in paths} - {None}
    ids = sorted({i for nb in notebooks for i in exercise_cells(nbformat.read(nb, as_version=4))}, key=id_order)
    hashes = {path.name: sha256_of(path) for path in paths}
    results = Results(Path(out_csv), [*FIXED_COLUMNS, *ids, "detail"], resume, hashes)
    feedback_dir = Path(feedback_dir) if feedback_dir else Path(out_csv).with_name(Path(out_csv).stem + "-feedback")
    feedback_dir.mkdir(parents=True, exist_ok=True)
    seed = secrets.randbits(63) if seed is None else int(seed)
    rows = list(results.kept.values())
    if log:
        log(f"{sandboxes.describe(kind)}. {len(paths) - len(results.kept)} to grade, {len(results.kept)} kept.")
    with tempfile.TemporaryDirectory(prefix="grading-release-") as tmp:
        student_release = _student_release(root, Path(tmp) / "release")
        todo = [Job(path, pristine, kind, student_release, timeout, seed, points)
                for path in paths if path.name not in results.kept]
        progress = Progress(len(todo))
        try:
            for row, text in _run_jobs(todo, jobs, progress):
                results.write(row)
                (feedback_dir / (Path(row["submission"]).stem + ".md")).write_text(text, encoding="utf-8")
                rows.append(row)
                if log:
                    log(f"{row['submission']}: {row['status']} {row['score']}/{row['max_score'] or '-'}"
                        + (f"  {row['detail']}" if row.get("detail") else ""))
        finally:
            progress.end()
            results.close()
    return rows


def _student_release(root: Path, dest: Path) -> Path:
    """The student release of `root` at `dest`: what each sandbox gets a fresh copy of."""
    if (root / SOLUTIONS).is_file():
        release(dest, root)
    else:  # `root` is a release already
        for name in RELEASED:
            if (root / name).is_dir():
                shutil.copytree(root / name, dest / name, ignore=NOT_RELEASED)
    return dest


def _notebook_of(path: Path, pristine: dict) -> Path | None:
    """The course notebook a submission answers (None for one that is invalid)."""
    try:
        return read_submission(path, pristine)[0]
    except ValueError:
        return None


def _sandbox_kind(choice: str) -> str | None:
    """The sandbox to use for `choice` ("auto", "bwrap", "unshare", "none"); refuse what is not there."""
    if choice == "none":
        return None
    if choice not in ("auto", *sandboxes.KINDS):
        raise ValueError(f"sandbox must be auto, {', '.join(sandboxes.KINDS)} or none, not {choice!r}")
    found = sandboxes.available()
    if choice == "auto":
        if found is None:
            raise ValueError("this machine offers no sandbox for students' code (Linux with bubblewrap, "
                             "`apt-get install bubblewrap`, or unshare as root). To grade anyway, pass --no-sandbox: "
                             f"then {sandboxes.UNPROTECTED}.")
        return found
    if found != choice and not sandboxes.works(choice):
        raise ValueError(f"the {choice} sandbox does not work on this machine")
    return choice


_SLOT = 0  # a worker process's job slot (its sandbox's user id under unshare)


def _start_worker(slots) -> None:
    global _SLOT
    _SLOT = slots.get()


def _work(job: Job) -> tuple[dict, str]:
    return grade_one(job, _SLOT)


def _run_jobs(todo: list[Job], jobs: int, progress: Progress):
    """(row, feedback) of each job as it finishes, `jobs` at a time (in worker processes when more than one)."""
    if jobs == 1 or len(todo) <= 1:
        for done, job in enumerate(todo):
            progress.show(done, 1)
            yield grade_one(job)
        progress.show(len(todo), 0)
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    context = multiprocessing.get_context("spawn")
    slots = context.Queue()
    for slot in range(jobs):
        slots.put(slot)
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(slots,)) as pool:
        pending = {pool.submit(_work, job) for job in todo}
        done = 0
        while pending:
            progress.show(done, min(jobs, len(pending)))
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                done += 1
                yield future.result()
        progress.show(done, 0)


# --- command line -----------------------------------------------------------------------

def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.grading", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("release", help="write the student release to DEST").add_argument("dest")
    commands.add_parser("solutions", help="write the notebooks with solutions to DEST").add_argument("dest")
    grading = commands.add_parser("grade", help="grade every *.ipynb in FOLDER into a CSV file and feedback files")
    grading.add_argument("folder")
    grading.add_argument("--out", default="grades.csv", help="the CSV file to write (default: grades.csv)")
    grading.add_argument("--timeout", type=float, default=60.0, help="seconds per exercise (default: 60)")
    grading.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default: 1)")
    grading.add_argument("--resume", action="store_true", help="go on with an existing --out file")
    grading.add_argument("--points", help=f"a CSV file exercise,points (default: {POINTS.as_posix()})")
    grading.add_argument("--feedback", help="the folder of feedback files (default: OUT's name + -feedback)")
    grading.add_argument("--seed", type=int, help="the hidden cases' seed (default: a new random one)")
    grading.add_argument("--sandbox", default="auto", choices=("auto", *sandboxes.KINDS),
                         help="how to isolate submissions (default: the best this machine offers)")
    grading.add_argument("--no-sandbox", action="store_true",
                         help=f"grade without isolation (macOS, Windows): {sandboxes.UNPROTECTED}")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            print(release(args.dest))
        elif args.command == "solutions":
            print(solutions_notebooks(args.dest))
        else:
            kind = "none" if args.no_sandbox else args.sandbox
            if kind == "none":
                print(f"warning: no sandbox: {sandboxes.UNPROTECTED}", file=sys.stderr)
            rows = grade(args.folder, args.out, args.timeout, log=lambda line: print(line, flush=True),
                         jobs=args.jobs, resume=args.resume, sandbox=kind, seed=args.seed,
                         points_file=args.points, feedback_dir=args.feedback)
            print(f"Wrote {len(rows)} rows to {args.out}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
