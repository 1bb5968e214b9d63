"""The classroom view: one notebook served by Voila with no code on screen.

    python course.py present 03            # notebook 03 in the browser, figures at projector scale
    python course.py present 03 --dark     # dark page and dark figures, for a dark room
    python course.py present 03 --no-browser --port 8870   # further options go to Voila

The view shows the narrative, the equations, the live figures and their controls, and
the printed results; it leaves out code, the exercise and check cells (every cell still
runs, so a later cell finds what an earlier one made), and collapses each exercise's
prompt under its heading. The kernel is a normal one: the sliders work as in JupyterLab.
Nothing is fetched from the network.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

# Read by helpers.plots when a kernel imports it: how its figures are drawn.
from helpers.plots import SCALE_VARIABLE, THEME_VARIABLE

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
# Voila looks for templates in <each JUPYTER_PATH entry>/voila/templates/<name>.
TEMPLATES = Path(__file__).resolve().parent / "share"
TEMPLATE = "classroom"



def find_notebook(name: str, folder: Path = NOTEBOOK_DIR) -> Path:
    """The notebook `name` names: its number ("3", "03"), its file name with or
    without ".ipynb", or a path to it. Raises ValueError listing the notebooks."""
    notebooks = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    path = Path(name)
    if path.suffix == ".ipynb" and path.is_file():
        return path.resolve()
    stem = path.name.removesuffix(".ipynb")
    if stem.isdigit():
        stem = f"{int(stem):02d}"
    found = [nb for nb in notebooks if nb.stem == stem or nb.stem.split("_", 1)[0] == stem]
    if len(found) != 1:
        known = ", ".join(nb.stem for nb in notebooks)
        raise ValueError(f"no notebook {name!r}; give a number or a name: {known}")
    return found[0]


def present_env(dark: bool = False, base: dict | None = None) -> dict:
    """The environment Voila and its kernels get: the course's template found, figures at
    projector scale (and dark when `dark`), a non-interactive matplotlib backend unset."""
    env = dict(os.environ if base is None else base)
    env.pop("MPLBACKEND", None)  # it would silence every figure
    env["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(TEMPLATES), env.get("JUPYTER_PATH")) if p)
    env[SCALE_VARIABLE] = "projector"
    env[THEME_VARIABLE] = "dark" if dark else "light"
    return env


def voila_command(notebook: Path, dark: bool = False, extra: tuple = ()) -> list[str]:
    """The command that serves `notebook` in the classroom view (`extra`: more Voila options)."""
    return [sys.executable, "-m", "voila", str(notebook), f"--template={TEMPLATE}",
            f"--theme={'dark' if dark else 'light'}", *extra]


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python course.py present", description=__doc__.split("\n\n")[0],
                                     epilog="Other options (--no-browser, --port N, ...) are passed to Voila.")
    parser.add_argument("notebook", help="a notebook's number (03) or name (03_deep_network_vanishing)")
    parser.add_argument("--dark", action="store_true", help="a dark page and dark figures")
    args, extra = parser.parse_known_args(argv)
    try:
        notebook = find_notebook(args.notebook)
    except ValueError as err:
        parser.error(str(err))
    print(f"Presenting {notebook.name}; stop with Ctrl+C. The notebook itself: python course.py lab", flush=True)
    try:
        return subprocess.run(voila_command(notebook, args.dark, tuple(extra)), cwd=ROOT,
                              env=present_env(args.dark)).returncode
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
