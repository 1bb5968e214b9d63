"""Check that this machine can run the course, and say how to fix what is wrong.

Printed text depends only on the installed packages, not on the machine, so the
notebook that prints it can be compared by the tests.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import metadata

# ipywidgets 8 talks to the JupyterLab extension jupyterlab_widgets 3; any other pair
# shows "Error displaying widget" instead of sliders.
WIDGET_PAIRS = {"8": "3", "7": "1"}
REQUIREMENT = "pip install -r requirements.txt (from the course folder)"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _package(package: str, why: str) -> Check:
    version = _version(package)
    if version is None:
        return Check(package, False, f"missing: {why}. Fix: {REQUIREMENT}")
    return Check(package, True, version.split("+")[0])


def _widget_pair(versions: dict) -> Check:
    widgets, lab = versions.get("ipywidgets"), versions.get("jupyterlab_widgets")
    if widgets is None or lab is None:
        return Check("widget versions", False, f"ipywidgets or jupyterlab_widgets missing. Fix: {REQUIREMENT}")
    wanted = WIDGET_PAIRS.get(widgets.split(".")[0])
    if wanted != lab.split(".")[0]:
        return Check("widget versions", False,
                     f"ipywidgets {widgets} needs jupyterlab_widgets {wanted}.x, found {lab}: sliders will show "
                     f"'Error displaying widget'. Fix: {REQUIREMENT}, then restart JupyterLab")
    return Check("widget versions", True, f"ipywidgets {widgets} matches jupyterlab_widgets {lab}")


def _torch_device() -> Check:
    try:
        import torch
    except ImportError:
        return Check("torch", False, f"missing: notebooks 01-07 train networks with it. Fix: {REQUIREMENT}")
    # Said the same way with or without a GPU: the course never uses one.
    return Check("device", True, f"torch {torch.__version__.split('+')[0]} on the CPU; no GPU is needed")


def _backend() -> Check:
    if os.environ.get("MPLBACKEND", "").lower() == "agg":
        return Check("figures", False, "MPLBACKEND=Agg is set, so no figure will appear. "
                     "Fix: unset MPLBACKEND before starting JupyterLab")
    return Check("figures", True, "matplotlib may draw in the notebook")


def check_environment() -> list:
    """Every check, in the order a student should fix them: list of `Check`."""
    new_enough = sys.version_info >= (3, 10)
    found = ".".join(map(str, sys.version_info[:3]))
    checks = [Check("python", new_enough, "3.10 or newer" if new_enough else f"3.10 or newer is needed, found {found}")]
    needs = {"numpy": "all computing", "matplotlib": "every figure", "torch": "autograd and training",
             "ipywidgets": "sliders", "jupyterlab_widgets": "sliders in JupyterLab",
             "ipympl": "live figures (without it they fall back to slower plain images)"}
    checks += [_package(name, why) for name, why in needs.items()]
    versions = {name: _version(name) for name in ("ipywidgets", "jupyterlab_widgets")}
    checks += [_widget_pair(versions), _torch_device(), _backend()]
    return checks


def report(checks: list | None = None) -> bool:
    """Print one line per check and a verdict; return True when everything is fine."""
    checks = check_environment() if checks is None else checks
    for c in checks:
        print(f"{'ok ' if c.ok else 'FIX'}  {c.name:<18} {c.detail}")
    problems = sum(not c.ok for c in checks)
    print("Everything is ready." if not problems else f"{problems} problem(s) above: fix them, then restart the kernel.")
    return not problems
