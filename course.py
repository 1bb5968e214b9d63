"""Set up and run the course with nothing but Python (3.10+) on any OS.

    python course.py lab    # install into .venv (first time), open notebook 00 in JupyterLab
    python course.py test   # install into .venv (first time), run the whole test suite
    python course.py execute [NOTEBOOK ...]   # Restart & Run All, saved when portable (after editing)
    python course.py present 03 [--dark]      # notebook 03 as a classroom view: no code, projector-sized figures

For instructors (see "For instructors" in README.md):

    python course.py release DEST       # the course as students get it, without solutions
    python course.py solutions DEST     # the notebooks with the reference solutions filled in
    python course.py grade FOLDER [--out CSV] [--jobs N] ...  # grade every *.ipynb in FOLDER (--help)

Extra arguments after `test` go to pytest, e.g. `python course.py test -k chain`.
Paths are relative to the course folder.
"""
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / "installed-requirements.txt"
GRADING = ("release", "solutions", "grade")  # subcommands of helpers.grading


def venv_python() -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return VENV / scripts / ("python.exe" if os.name == "nt" else "python")


def ensure_installed() -> Path:
    """Create .venv and install requirements.txt into it, again only when it changes."""
    python = venv_python()
    if not python.exists():
        print(f"Creating a virtual environment in {VENV.name}/ ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = (ROOT / "requirements.txt").read_text()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        print("Installing the pinned requirements (a few minutes the first time) ...", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-r", "requirements.txt"], cwd=ROOT, check=True)
        STAMP.write_text(wanted)
    return python


def clean_env() -> dict:
    env = dict(os.environ)
    # A non-interactive backend inherited from the shell would silence every figure.
    env.pop("MPLBACKEND", None)
    return env


def main(argv: list) -> int:
    if not argv or argv[0] not in ("lab", "test", "execute", "present", *GRADING):
        print(__doc__)
        return 2
    python = ensure_installed()
    if argv[0] == "lab":
        cmd = [str(python), "-m", "jupyterlab", "notebooks/00_start_here.ipynb", *argv[1:]]
    elif argv[0] == "execute":
        cmd = [str(python), "-m", "helpers.execute", *argv[1:]]
    elif argv[0] == "present":
        cmd = [str(python), "-m", "helpers.present", *argv[1:]]
    elif argv[0] in GRADING:
        cmd = [str(python), "-m", "helpers.grading", *argv]
    else:
        cmd = [str(python), "-m", "pytest", *argv[1:]]
    return subprocess.run(cmd, cwd=ROOT, env=clean_env()).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
