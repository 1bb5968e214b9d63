"""Restart & Run All for course notebooks, stored only when their text is the same on other CPUs.

    python -m helpers.execute                       # every notebook in notebooks/
    python -m helpers.execute notebooks/01_*.ipynb  # some of them
    python -m helpers.execute --check [NOTEBOOK ...]  # compare fresh runs under every
                                                      # CPU setting with what is stored

Outputs are stored so a reader without a kernel sees every figure and number;
metadata is kept free of timings, widget state and machine details.

Portability: torch and numpy pick vector kernels for the processor they run on
(AVX-512, AVX2, NEON, plain C), and these round differently in the last bit. A
notebook is executed twice, once as this machine computes and once as another
CPU would (`OTHER_CPU`: torch's and MKL's kernels switched, numpy's AVX-512 loops
off), and it is saved only when every text output of the two runs is the same.
Otherwise the cells that differ are printed and the file is left as it was.
"""
import argparse
import configparser
import difflib
import os
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
SANITIZE = Path(__file__).resolve().parent / "nbval_sanitize.cfg"

# numpy's dispatch targets beyond AVX2 (x86-64 builds; other builds ignore the names).
_NUMPY_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512_SKX AVX512_CLX AVX512_CNL"

# Environment settings that make this machine compute as other processors do. Each is
# read by the library when it loads, so it must be set before the kernel starts.
CPU_SETTINGS = {
    "own": {},
    "torch-default": {"ATEN_CPU_CAPABILITY": "default"},  # torch without vector kernels
    "torch-avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "mkl-avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2"},  # MKL's kernels for an AVX2 processor
    "numpy-avx2": {"NPY_DISABLE_CPU_FEATURES": _NUMPY_AVX512},
}
# One setting as unlike this machine as the settings allow: the second pass of the tests.
OTHER_CPU = {**CPU_SETTINGS["torch-default"], **CPU_SETTINGS["mkl-avx2"], **CPU_SETTINGS["numpy-avx2"]}
CPU_SETTINGS["other-cpu"] = OTHER_CPU


def clean_metadata(nb) -> None:
    """Keep only what a reader needs: the kernel's name and the language."""
    nb.metadata = nbformat.from_dict({
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)


def kernel_env(setting: dict) -> dict:
    """This process's environment with `setting` on top, for a kernel to start in."""
    env = {**os.environ, **setting}
    env.pop("MPLBACKEND", None)  # a non-interactive backend would silence every figure
    return env


def run(path: Path, setting: dict | None = None, timeout: int = 600):
    """The notebook at `path` after Restart & Run All in a kernel started with `setting`."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            store_widget_state=False, resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=kernel_env(setting or {}))
    clean_metadata(nb)
    return nb


def _sanitizers() -> list:
    """(pattern, replacement) pairs from the file nbval compares with, in its order."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(SANITIZE)
    return [(re.compile(config[s]["regex"]), config[s]["replace"]) for s in config.sections()]


def text_outputs(nb) -> list:
    """[(code cell index, text)]: the text nbval compares, one entry per code cell."""
    rules, texts = _sanitizers(), []
    code = [c for c in nb.cells if c.cell_type == "code"]
    for index, cell in enumerate(code):
        parts = []  # [(kind, text)]; a print may arrive in several stream messages: nbval joins them
        for out in cell.get("outputs", []):
            kind = f"{out.output_type} {out.get('name', '')}".strip()
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            if parts and kind == parts[-1][0] and out.output_type == "stream":
                parts[-1] = (kind, parts[-1][1] + text)
            else:
                parts.append((kind, text))
        text = "\n".join(f"[{kind}] {text}" for kind, text in parts)
        for pattern, replacement in rules:
            text = pattern.sub(replacement, text)
        texts.append((index, text))
    return texts


def differences(a, b, names=("stored", "fresh")) -> list:
    """Unified diffs, one per code cell whose compared text differs between notebooks a and b."""
    found = []
    for (index, left), (_, right) in zip(text_outputs(a), text_outputs(b)):
        if left != right:
            diff = difflib.unified_diff(left.splitlines(), right.splitlines(), names[0], names[1], lineterm="", n=0)
            found.append(f"code cell {index}:\n" + "\n".join(list(diff)[2:]))
    return found


def execute(path: Path, check_other_cpu: bool = True) -> list:
    """Run `path`; save it unless its text differs under OTHER_CPU. Returns the differences."""
    nb = run(path)
    found = differences(nb, run(path, OTHER_CPU), ("this CPU", "other CPU")) if check_other_cpu else []
    if not found:
        nbformat.write(nb, path)
    return found


def check(path: Path, settings: list) -> list:
    """Differences between the stored notebook and a fresh run under each named setting."""
    stored = nbformat.read(path, as_version=4)
    found = []
    for name in settings:
        found += [f"[{name}] {d}" for d in differences(stored, run(path, CPU_SETTINGS[name]), ("stored", name))]
    return found


def main(args: list) -> int:
    parser = argparse.ArgumentParser(prog="python course.py execute", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--check", action="store_true",
                        help="save nothing: compare fresh runs under each CPU setting with the stored outputs")
    parser.add_argument("--settings", default=",".join(CPU_SETTINGS),
                        help=f"with --check: comma-separated, from {', '.join(CPU_SETTINGS)}")
    parser.add_argument("--unchecked", action="store_true",
                        help="save after one run, without the second run as another CPU (quicker while editing)")
    opts = parser.parse_args(args)
    settings = opts.settings.split(",")
    unknown = [s for s in settings if s not in CPU_SETTINGS]
    if unknown:
        parser.error(f"unknown setting(s) {unknown}; allowed: {', '.join(CPU_SETTINGS)}")
    paths = opts.notebooks or sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    failed = 0
    for path in paths:
        print(f"{'checking' if opts.check else 'executing'} {path.name} ...", flush=True)
        found = check(path, settings) if opts.check else execute(path, not opts.unchecked)
        for text in found:
            print(text, flush=True)
        if found:
            failed += 1
            print(f"  {path.name}: {len(found)} cell(s) differ" + ("" if opts.check else "; not saved"), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
