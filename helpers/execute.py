"""Restart & Run All for course notebooks, saving outputs in the form the tests compare.

    python -m helpers.execute                       # every notebook in notebooks/
    python -m helpers.execute notebooks/01_*.ipynb  # some of them

Outputs are stored so a reader without a kernel sees every figure and number;
metadata is kept free of timings, widget state and machine details.
"""
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def clean_metadata(nb) -> None:
    """Keep only what a reader needs: the kernel's name and the language."""
    nb.metadata = nbformat.from_dict({
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)


def execute(path: Path, timeout: int = 600) -> None:
    """Run every cell of the notebook at `path` in a fresh kernel and save it in place."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            store_widget_state=False, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    clean_metadata(nb)
    nbformat.write(nb, path)


def main(args: list) -> int:
    os.environ.pop("MPLBACKEND", None)  # a non-interactive backend would silence every figure
    paths = [Path(a) for a in args] or sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        execute(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
