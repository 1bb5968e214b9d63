"""Drive the course notebooks in a real JupyterLab, in a real (headless) Chromium.

Regenerate the screenshots in docs/screenshots/ -- one command, from the repository root:

    python -m tests.browser_harness --screenshots
    python -m tests.browser_harness --present --screenshots   # the classroom view: <notebook>-present.png

Other commands built on this module:

    python -m pytest -m browser tests/test_browser.py   # Run All + every control, in Lab and Notebook 7
    python -m pytest tests/test_present.py              # the classroom view (python course.py present)
    python -m benchmarks.browser_latency                 # Run All wall time, keypress-to-pixels latency

What it does, piece by piece:

- ``LabServer`` starts ``python -m jupyterlab`` on 127.0.0.1 with a fixed free port (no
  retries), a random token and a throw-away HOME (Jupyter config/data/runtime dirs,
  IPython and matplotlib config inside it, MPLBACKEND removed).  It serves a temporary
  copy of ``notebooks/`` (the other top-level entries of the repository are symlinked
  beside it, so ``../data`` still works), so running and autosaving never touch the
  tracked notebooks.  Jupyter news/update checks are switched off.
- ``Browser`` launches Debian's Chromium through Playwright (no downloaded browser).
- ``NotebookPage`` opens a notebook in JupyterLab (``/lab/tree/...``) or in the Notebook 7
  classic interface (``/notebooks/...``), waits for the kernel, clicks Run -> Run All
  Cells and waits until it is done, then finds the live figures: code cells whose
  output is an ipywidgets box holding controls and a figure (an ipympl canvas, or an
  ``img``).  It moves controls by keyboard (slider handle: Home / End / arrows /
  PageUp) or by selecting / clicking (dropdown, checkbox, toggle/radio buttons), puts
  them back (typing into the slider's readout), reads the figure's pixels (canvas
  ``toDataURL()``; an img's decoded pixels), and measures keypress-to-new-pixels
  latency in the page (keydown event timestamp -> first animation frame whose figure
  pixels differ).
- ``PresentServer`` serves one notebook in the classroom view (Voila, started with the
  command and environment of ``helpers.present``, HOME and MPLBACKEND as above), and
  ``PresentPage`` opens it at 1280 x 720: loading the page runs every cell, so there is
  no Run All; the live figures, controls, problems and latency work as in JupyterLab
  (Voila's page uses the same cell and widget markup). ``displayed_scale`` measures how
  large the browser shows each figure relative to its own pixels.
- Problems are collected from four places: the DOM (stderr / error outputs, "Error
  displaying widget", a traceback, helpers.widgets' "Could not update:"), every
  message the kernel sends over the websocket (``error`` messages and ``stderr``
  streams -- this catches a traceback from a slider callback that JupyterLab files in
  its log console, away from the notebook), uncaught JavaScript exceptions from the
  widget front ends, and JupyterLab's "Select Kernel" dialog (a notebook saved without
  a kernelspec). In the classroom view also Voila's log: a cell that raised while Voila
  made the page (the page shows only "There was an error when executing cell [n]").

Environment: ``COURSE_NOTEBOOKS_DIR`` points the tests, the benchmark and the
screenshot command at another folder of notebooks (default: ``notebooks/``);
``BROWSER_HARNESS_HEADFUL=1`` shows the browser window (needs a display);
``BROWSER_HARNESS_CHROMIUM`` names another Chromium executable.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from helpers.present import present_env, voila_command

REPO_ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT_DIR = REPO_ROOT / "docs" / "screenshots"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

# Inside one cell's output: the pixels of a live figure.  The first canvas of an ipympl
# figure holds the image (the second is the rubber-band overlay); an img is the
# ipywidgets.Image fallback or an inline plot inside an Output widget.
FIGURE_JS_SELECTOR = ".jupyter-matplotlib-canvas-div > canvas:first-child, img"
# Text in any output that means a student would see something broken. "Could not update:"
# is how helpers.widgets.LiveFigure reports an exception in a control's callback (it shows
# the message under the figure instead of a traceback); the last two are what Voila shows
# in place of a cell's error (it hides the traceback) or of its own failure.
DOM_FAILURE_TEXTS = ("Error displaying widget", "Traceback (most recent call last)", "Could not update:",
                     "There was an error when executing cell", "An exception occurred at the server")
# What Voila logs when a cell raises while it renders the page. It stops there: the cells
# after it are not run and not shown. (It drops every cell's stderr from the page, so the
# log is also the only place a notebook's own error is seen in full.)
VOILA_LOG_FAILURES = ("Error at server while executing cell", "CellExecutionError", "Uncaught exception")

# An uncaught JavaScript exception whose stack passes through the code of these front-end
# extensions is a problem of the notebook's widgets; others belong to JupyterLab itself.
WIDGET_CODE_MARKS = ("jupyter-widgets", "jupyterlab-manager", "jupyter-matplotlib", "ipympl")

# Controls that belong to the figure itself (the ipympl toolbar) are not course controls.
FIGURE_OWN_CONTROLS = ".jupyter-matplotlib"

KERNEL_TIMEOUT_S = 90
RUN_ALL_TIMEOUT_S = 300
CHANGE_TIMEOUT_S = 15
SETTLE_QUIET_MS = 250      # a figure is "still" after this long without new pixels
KERNEL_QUIET_S = 0.3       # the kernel is done with an action after this long idle
NO_CHANGE_GRACE_S = 1.0    # then the pixels get this long to arrive before "no change"


# --------------------------------------------------------------------------- discovery
def notebooks_dir() -> Path:
    override = os.environ.get("COURSE_NOTEBOOKS_DIR")
    return Path(override).resolve() if override else REPO_ROOT / "notebooks"


def discover_notebooks(folder: Optional[Path] = None) -> list[Path]:
    folder = folder or notebooks_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.ipynb") if not p.name.startswith("."))


def select_notebooks(paths: list):
    """The notebooks a command line names (all of notebooks/ if none), or an exit code.

    Named notebooks must share one folder, which the server then serves.
    """
    notebooks = [p.resolve() for p in paths] or discover_notebooks()
    if not notebooks:
        print("no notebooks found", file=sys.stderr)
        return 1
    if paths:
        folders = {p.parent for p in notebooks}
        if len(folders) != 1:
            print("give notebooks from one folder", file=sys.stderr)
            return 2
        os.environ["COURSE_NOTEBOOKS_DIR"] = str(folders.pop())
    return notebooks


def find_chromium() -> Optional[str]:
    """BROWSER_HARNESS_CHROMIUM if set, else Debian's /usr/bin/chromium, else `chromium` on PATH."""
    override = os.environ.get("BROWSER_HARNESS_CHROMIUM")
    if override:
        return override if os.path.isfile(override) and os.access(override, os.X_OK) else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- server
_USER_SETTINGS = {
    # No toast asking about Jupyter news (it would cover figures), no update check.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def _descendants(pid: int) -> list[tuple[int, bytes]]:
    """(pid, command line) of every process below `pid`, from Linux's /proc. Jupyter starts
    each kernel in a session of its own, so signalling the server's group misses them."""
    found, todo = [], [pid]
    while todo:
        for children in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                kids = [int(x) for x in children.read_text().split()]
            except OSError:
                continue
            for kid in kids:
                found.append((kid, _cmdline(kid)))
                todo.append(kid)
    return found


def _signal_group(pid: int, sig: int, group: bool = True) -> None:
    """Send `sig` to the process group `pid` leads (or to `pid` alone); gone already is fine."""
    try:
        (os.killpg if group else os.kill)(pid, sig)
    except ProcessLookupError:
        pass


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class _ServerProcess:
    """What the JupyterLab and the Voila server share: a throw-away HOME (Jupyter, IPython
    and matplotlib write there), a log file, a free port on loopback (a new one if another
    process took it first), and a stop that leaves no process behind, kernels included."""

    name = "server"

    def __init__(self, prefix: str):
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.home = self.tmp / "home"
        self.log_path = self.tmp / f"{self.name}.log"
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _home_env(self, env: dict) -> dict:
        """`env` with HOME and every Jupyter / IPython / matplotlib folder in the temp HOME."""
        env = dict(env)
        env.pop("MPLBACKEND", None)  # inherited by the kernels, it would silence every figure
        for name in ("JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
            env.pop(name, None)
        env.update(
            HOME=str(self.home),
            JUPYTER_CONFIG_DIR=str(self.home / ".jupyter"),
            JUPYTER_DATA_DIR=str(self.home / ".local/share/jupyter"),
            JUPYTER_RUNTIME_DIR=str(self.home / ".local/share/jupyter/runtime"),
            IPYTHONDIR=str(self.home / ".ipython"),
            MPLCONFIGDIR=str(self.home / ".config/matplotlib"),
            PYTHONDONTWRITEBYTECODE="1",
        )
        return env

    def _prepare(self) -> dict:
        """Make the folders the server needs; return its environment."""
        raise NotImplementedError

    def _command(self) -> list[str]:
        """The command that starts the server on self.port."""
        raise NotImplementedError

    def _cwd(self) -> Path:
        raise NotImplementedError

    def _answering(self) -> bool:
        """Whether the server answers HTTP yet (must not start any work in it)."""
        raise NotImplementedError

    def start(self, timeout: float = 60):
        env = self._prepare()
        # matplotlib builds its font cache on first import in a new MPLCONFIGDIR and says
        # so on stderr; do that now, beside the server start, not inside a notebook cell.
        warm = subprocess.Popen(
            [sys.executable, "-c", "import matplotlib.font_manager"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        last_error = ""
        for _attempt in range(3):
            self.port = free_port()
            self._log = open(self.log_path, "ab")
            # A session of its own: stop() signals the server's whole process group.
            self.proc = subprocess.Popen(self._command(), cwd=self._cwd(), env=env, stdout=self._log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                if self._answering():
                    warm.wait(timeout=120)
                    return self
                time.sleep(0.2)
            last_error = self.log_tail()
            self._terminate()
        warm.wait(timeout=120)
        self.stop()
        raise RuntimeError(f"{self.name} did not start; log tail:\n{last_error}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def _terminate(self) -> None:
        """SIGTERM to the server's process group (the server then shuts its kernels down),
        SIGKILL if it takes longer than 15 s, then SIGKILL to any process it started that
        is still there (the same pid running the same command)."""
        if self.proc and self.proc.poll() is None:
            started = _descendants(self.proc.pid)
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            for pid, cmdline in started:
                if cmdline and _cmdline(pid) == cmdline:
                    _signal_group(pid, signal.SIGKILL, group=False)
        if self._log:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        self._terminate()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class LabServer(_ServerProcess):
    """A JupyterLab server on loopback, serving a temporary copy of the notebooks."""

    name = "jupyterlab"

    def __init__(self, notebooks: Optional[Path] = None, repo_root: Path = REPO_ROOT):
        super().__init__("course-lab-")
        self.source_notebooks = Path(notebooks or notebooks_dir())
        self.repo_root = repo_root
        self.token = secrets.token_hex(16)
        self.root = self.tmp / "root"

    # -- layout
    def _prepare(self) -> dict:
        self.home.mkdir()
        self.root.mkdir()
        for entry in self.repo_root.iterdir():
            if entry.name in (".git", ".venv", "notebooks", "__pycache__", ".pytest_cache"):
                continue
            (self.root / entry.name).symlink_to(entry)
        shutil.copytree(
            self.source_notebooks,
            self.root / "notebooks",
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
        env = self._home_env(os.environ)
        settings = self.home / ".jupyter" / "lab" / "user-settings"
        for rel, content in _USER_SETTINGS.items():
            path = settings / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(content))
        return env

    def _command(self) -> list[str]:
        return [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--allow-root",
            "--ip", "127.0.0.1", "--port", str(self.port),
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]

    def _cwd(self) -> Path:
        return self.root

    def _answering(self) -> bool:
        try:
            self.api("GET", "/api/status")
            return True
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    # -- REST
    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(
            self.base_url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def rel_path(self, notebook: Path | str) -> str:
        return f"notebooks/{Path(notebook).name}"

    def lab_url(self, notebook: Path | str) -> str:
        return f"{self.base_url}/lab/tree/{self.rel_path(notebook)}?reset&token={self.token}"

    def classic_url(self, notebook: Path | str) -> str:
        return f"{self.base_url}/notebooks/{self.rel_path(notebook)}?token={self.token}"

    def kernel_state(self, notebook: Path | str) -> Optional[str]:
        for s in self.api("GET", "/api/sessions"):
            if s.get("path") == self.rel_path(notebook) and s.get("kernel"):
                return s["kernel"].get("execution_state")
        return None

    def shutdown_kernels(self, notebook: Path | str | None = None) -> None:
        try:
            sessions = self.api("GET", "/api/sessions")
            for s in sessions:
                if notebook is None or s.get("path") == self.rel_path(notebook):
                    self.api("DELETE", f"/api/sessions/{s['id']}")
            if notebook is None:
                for k in self.api("GET", "/api/kernels"):
                    self.api("DELETE", f"/api/kernels/{k['id']}")
        except (urllib.error.URLError, OSError):
            pass

    # -- stop
    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.shutdown_kernels()
        super().stop()


class PresentServer(_ServerProcess):
    """Voila serving one notebook in the classroom view, started with the command and the
    environment `python course.py present` uses (helpers.present), plus --no-browser, a
    port and loopback. Voila serves the notebook itself (it never writes to it) at "/".
    Asking for "/" starts a kernel and runs every cell, so the start only asks for a
    static file."""

    name = "voila"

    def __init__(self, notebook: Path | str, dark: bool = False):
        super().__init__("course-present-")
        self.notebook = Path(notebook).resolve()
        self.dark = dark
        self._log_read = 0

    def _prepare(self) -> dict:
        self.home.mkdir()
        return self._home_env(present_env(self.dark, base=os.environ))

    def _command(self) -> list[str]:
        extra = ("--no-browser", "--port", str(self.port), "--Voila.ip=127.0.0.1", "--Voila.port_retries=0")
        return voila_command(self.notebook, self.dark, extra)

    def _cwd(self) -> Path:
        return REPO_ROOT  # as helpers.present runs it

    @property
    def url(self) -> str:
        return self.base_url + "/"

    def _answering(self) -> bool:
        try:
            urllib.request.urlopen(self.base_url + "/voila/static/extension.js", timeout=5).close()
        except urllib.error.HTTPError:
            pass  # it answered, even if not with that file
        except (urllib.error.URLError, ConnectionError, OSError):
            return False
        return True

    def new_log(self) -> str:
        """What the server wrote to its log since the last call."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_read)
                text = f.read()
        except OSError:
            return ""
        self._log_read += len(text)
        return text.decode(errors="replace")


# --------------------------------------------------------------------------- browser
class Browser:
    """Debian's Chromium driven by Playwright, with a throw-away profile."""

    def __init__(self, executable: Optional[str] = None, viewport=(1280, 900)):
        self.executable = executable or find_chromium()
        if not self.executable:
            raise RuntimeError("no Chromium found (/usr/bin/chromium or `chromium` on PATH)")
        self.viewport = viewport
        self.profile = tempfile.mkdtemp(prefix="course-chromium-")
        self._pw = None
        self.context = None

    def start(self) -> "Browser":
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        headful = os.environ.get("BROWSER_HARNESS_HEADFUL") == "1"
        args = [a for a in CHROMIUM_ARGS if not (headful and a == "--headless")]
        try:
            self.context = self._pw.chromium.launch_persistent_context(
                self.profile,
                executable_path=self.executable,
                headless=not headful,
                args=args,
                viewport={"width": self.viewport[0], "height": self.viewport[1]},
            )
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            if self.context:
                self.context.close()
        finally:
            self.context = None
            if self._pw:
                self._pw.stop()
                self._pw = None
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --------------------------------------------------------------------------- kernel messages
def _decode_ws_frame(payload) -> Optional[dict]:
    """One kernel websocket frame -> {'channel', 'msg_type', 'parent_id', 'content'}
    (the v1 binary protocol JupyterLab uses, or the older JSON one)."""
    try:
        if isinstance(payload, str):
            msg = json.loads(payload)
            return {
                "channel": msg.get("channel"),
                "msg_type": msg.get("header", {}).get("msg_type") or msg.get("msg_type"),
                "parent_id": (msg.get("parent_header") or {}).get("msg_id"),
                "content": msg.get("content", {}),
            }
        b = bytes(payload)
        n = int.from_bytes(b[:8], "little")
        offsets = [int.from_bytes(b[8 * (i + 1): 8 * (i + 2)], "little") for i in range(n)]
        parts = [b[offsets[i]: offsets[i + 1]] for i in range(n - 1)] + [b[offsets[-1]:]]
        channel = parts[0].decode()
        header = json.loads(parts[1])
        msg_type = header.get("msg_type")
        content, parent_id = {}, None
        if msg_type in ("error", "stream", "status", "execute_reply", "kernel_info_reply"):
            content = json.loads(parts[4])
            parent_id = json.loads(parts[2] or b"{}").get("msg_id")
        return {"channel": channel, "msg_type": msg_type, "parent_id": parent_id, "content": content}
    except Exception:  # noqa: BLE001 - a frame we cannot read is not an error of the notebook
        return None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")

# What ipykernel says on stderr every time JupyterLab's widget manager connects before
# ipywidgets is imported in the kernel (it probes for a "control" comm, then closes it).
# Nobody sees these lines in class; anything else on stderr is a problem.
BENIGN_KERNEL_STDERR = [
    re.compile(r"No such comm target registered: jupyter\.widget\.control"),
    re.compile(r"No such comm: [0-9a-f-]+"),
]


def _is_benign_stderr(text: str) -> bool:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return bool(lines) and all(any(p.fullmatch(ln) for p in BENIGN_KERNEL_STDERR) for ln in lines)


@dataclass
class Problem:
    source: str  # "kernel", "dom", "widget", "page"
    text: str

    def __str__(self) -> str:
        text = _ANSI.sub("", self.text).strip()
        if len(text) > 1500:
            text = text[:700] + "\n[...]\n" + text[-700:]
        return f"[{self.source}] {text}"


# --------------------------------------------------------------------------- page JS
# The pixels of every figure in a cell's output as one string: a canvas's toDataURL();
# an img drawn onto a canvas once it is decoded (so a new src with the same picture is
# no change), or its src while it is still loading.
_JS_PIXELS_FN = """(out, sel) => Array.from(out.querySelectorAll(sel)).map(e => {
  if (e.tagName === 'CANVAS') return e.toDataURL();
  const src = e.currentSrc || e.src || '';
  if (!e.complete || !e.naturalWidth) return 'loading:' + src;
  const c = document.createElement('canvas');
  c.width = e.naturalWidth; c.height = e.naturalHeight;
  c.getContext('2d').drawImage(e, 0, 0);
  try { return c.toDataURL(); } catch (err) { return 'src:' + src; }
}).join('|')"""


def _js(body: str) -> str:
    """A page function with FIGURE_PIXELS(out, sel) available inside it."""
    return f"(...args) => {{ const FIGURE_PIXELS = {_JS_PIXELS_FN}; return ({body})(...args); }}"


_JS_SIGNATURE = _js("(out, sel) => FIGURE_PIXELS(out, sel)")

_JS_FIGURES_DRAWN = """(out, sel) => {
  const figs = Array.from(out.querySelectorAll(sel));
  if (!figs.length) return false;
  return figs.every(e => {
    if (e.tagName === 'CANVAS') {
      if (!e.width || !e.height) return false;
      const blank = document.createElement('canvas');
      blank.width = e.width; blank.height = e.height;
      return e.toDataURL() !== blank.toDataURL();
    }
    return !!(e.currentSrc || e.src) && e.complete && e.naturalWidth > 0;
  });
}"""

# Resolve with the figure's signature as soon as it differs from `last`, or after waitMs.
_JS_NEXT_CHANGE = _js("""(out, [sel, last, waitMs]) => new Promise(resolve => {
  const sig = () => FIGURE_PIXELS(out, sel);
  const t0 = performance.now();
  const tick = () => {
    const s = sig();
    if (s !== last || performance.now() - t0 >= waitMs) return resolve(s);
    setTimeout(tick, 30);
  };
  tick();
})""")

_JS_WAIT_STILL = _js("""(out, [sel, quietMs, timeoutMs]) => new Promise(resolve => {
  const sig = () => FIGURE_PIXELS(out, sel);
  const t0 = performance.now();
  let last = sig(), lastChange = t0;
  const tick = () => {
    const now = performance.now(), s = sig();
    if (s !== last) { last = s; lastChange = now; }
    if (now - lastChange >= quietMs || now - t0 > timeoutMs) return resolve(last);
    setTimeout(tick, 30);
  };
  setTimeout(tick, 30);
})""")

# Arm a latency probe: resolves with the time from the next keydown (its event
# timestamp) to the first animation frame in which the figure's pixels differ.
# Reading the pixels costs a few ms (a PNG encode of the canvas); doing it every
# frame would take CPU from the kernel on a 2-core machine and slow down what is
# measured. So the pixels are read in the first frame after something painted: a
# canvas drawImage / putImageData (how ipympl shows a new frame) or an img load,
# and, so that no other way of painting is missed, every 250 ms.
_JS_ARM_LATENCY = _js("""(out, [sel, timeoutMs]) => {
  const sig = () => FIGURE_PIXELS(out, sel);
  const before = sig();
  if (!window.__bhPaintHooked) {
    const proto = CanvasRenderingContext2D.prototype;
    for (const name of ['drawImage', 'putImageData']) {
      const original = proto[name];
      proto[name] = function (...a) { window.__bhPainted = true; return original.apply(this, a); };
    }
    window.__bhPaintHooked = true;
  }
  const onLoad = () => { window.__bhPainted = true; };
  out.addEventListener('load', onLoad, true);  // an img's new picture is decoded
  window.__bhPainted = false;
  window.__bhLatency = new Promise(resolve => {
    let t0 = null, lastRead = performance.now();
    const onKey = e => { if (t0 === null) t0 = e.timeStamp || performance.now(); };
    document.addEventListener('keydown', onKey, true);
    const done = value => {
      document.removeEventListener('keydown', onKey, true);
      out.removeEventListener('load', onLoad, true);
      resolve(value);
    };
    const start = performance.now();
    const frame = () => {
      const now = performance.now();
      if (t0 !== null && (window.__bhPainted || now - lastRead >= 250)) {
        window.__bhPainted = false;
        lastRead = now;
        if (sig() !== before) return done(now - t0);
      }
      if (now - start > timeoutMs) return done(null);
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  });
  return true;
}""")

_JS_CELL_SUMMARY = """(cells, [figSel, ownSel]) => cells.map((cell, i) => {
  const out = cell.querySelector('.jp-Cell-outputArea');
  if (!out) return {index: i, figures: 0};
  const notOwn = e => !e.closest(ownSel);
  // Voila's page (the classroom template) wraps each notebook cell in <div cell-index="n">,
  // 1-based over all cells; JupyterLab has no such attribute.
  const wrapper = cell.closest('[cell-index]');
  return {
    index: i,
    notebookCell: wrapper ? Number(wrapper.getAttribute('cell-index')) - 1 : null,
    widgets: out.querySelectorAll('.jupyter-widgets').length,
    figures: out.querySelectorAll(figSel).length,
    canvases: out.querySelectorAll('.jupyter-matplotlib-canvas-div > canvas:first-child').length,
    sliders: Array.from(out.querySelectorAll('.widget-slider .noUi-handle')).filter(notOwn).length,
    dropdowns: Array.from(out.querySelectorAll('.widget-dropdown select')).filter(notOwn).length,
    checkboxes: Array.from(out.querySelectorAll('.widget-checkbox input')).filter(notOwn).length,
    toggles: Array.from(out.querySelectorAll('.widget-toggle-buttons')).filter(notOwn).length,
    radios: Array.from(out.querySelectorAll('.widget-radio-box')).filter(notOwn).length,
  };
})"""


_JS_CANVAS_GEOMETRY = """out => {
  const c = out.querySelector('.jupyter-matplotlib-canvas-div > canvas:first-child');
  if (!c) return null;
  // The page's content box: Voila's #rendered_cells, or the output area in JupyterLab.
  const box = document.querySelector('#rendered_cells') || out;
  const style = getComputedStyle(box);
  const r = c.getBoundingClientRect();
  return {
    intrinsic: c.width / (window.devicePixelRatio || 1), displayed: r.width,
    content: box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight),
    scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth,
  };
}"""


# --------------------------------------------------------------------------- controls
@dataclass
class Move:
    """One user action on a control and what the figure did.

    A slider move and a checkbox click must change the figure's pixels (compared with
    just before the move). Choosing an option of a dropdown / toggle buttons / radio
    buttons must give a figure different from the one the control started with (two
    options may legitimately draw the same picture, e.g. relu and linear at w = 1).
    A move that did not change the control's value (e.g. End when already at the
    maximum) is not judged.
    """
    action: str          # e.g. "End", "Home", "ArrowRight", "select 'relu'"
    value_before: str
    value_after: str
    changed: bool        # the figure's pixels differ from just before the move
    value_moved: bool    # the control's value changed
    ms: float            # time until the figure was still again
    problems: list = field(default_factory=list)
    signature: str = field(default="", repr=False)
    rule: str = "change"  # "change" | "differ-from-start" | "none"
    differs_from_start: Optional[bool] = None

    @property
    def ok(self) -> bool:
        if not self.value_moved or self.rule == "none":
            return True
        if self.rule == "differ-from-start":
            return bool(self.differs_from_start)
        return self.changed

    def __str__(self) -> str:
        text = f"{self.action}: {self.value_before!r} -> {self.value_after!r}, figure changed={self.changed}"
        if self.differs_from_start is not None:
            text += f", differs from the start={self.differs_from_start}"
        return text


class Control:
    kind = "control"

    def __init__(self, fig: "LiveFigure", locator, index: int):
        self.fig = fig
        self.page = fig.page
        self.locator = locator
        self.index = index

    @property
    def label(self) -> str:
        return f"{self.kind} {self.index + 1} '{self.description()}'"

    def description(self) -> str:
        try:
            text = self._container().locator(".widget-label").first.text_content(timeout=2000) or ""
        except Exception:  # noqa: BLE001 - a control without a label
            return ""
        return " ".join(text.replace("\u200b", " ").split())

    def _container(self):
        return self.locator

    def value(self) -> str:
        raise NotImplementedError

    def exercise(self) -> Iterator[Move]:
        """Move the control through its range, one user action at a time; yields each Move
        (a generator, so a caller can stop at the first move that fails). Starts by
        waiting until the figure is still."""
        raise NotImplementedError

    def restore(self, value: str) -> None:
        """Put the control back to `value` (a string from `value()`), as a user would."""
        raise NotImplementedError


class SliderControl(Control):
    kind = "slider"

    def _container(self):
        return self.locator.locator("xpath=ancestor::div[contains(@class,'widget-slider')][1]")

    def value(self) -> str:
        readout = self._container().locator(".widget-readout")
        text = (readout.first.text_content(timeout=2000) or "").strip() if readout.count() else ""
        return text or (self.locator.get_attribute("aria-valuenow") or "")

    def position(self) -> tuple[float, float, float, float]:
        """(value, min, max, step) in the slider's own units (the exponent for a log
        slider), from noUiSlider itself; aria-valuenow is rounded to one decimal."""
        vals = self.locator.evaluate("""h => {
          const t = h.closest('.noUi-target'), api = t && t.noUiSlider;
          const i = Number(h.getAttribute('data-handle') || 0);
          if (api && api.options && api.options.range) {
            const v = [].concat(api.get(true))[i];
            return [v, api.options.range.min, api.options.range.max, api.options.step || 0];
          }
          return [h.getAttribute('aria-valuenow'), h.getAttribute('aria-valuemin'),
                  h.getAttribute('aria-valuemax'), 0];
        }""")
        return tuple(float(v) for v in vals)

    def press(self, key: str, times: int = 1) -> None:
        self.locator.focus()
        for _ in range(times):
            self.locator.press(key)

    def move(self, key: str, times: int = 1) -> Move:
        return self.fig.move(self, f"{key}x{times}" if times > 1 else key, lambda: self.press(key, times))

    def restore(self, value: str) -> None:
        """Type the value into the slider's readout (it is editable) and press Enter."""
        if self.value() == value:
            return
        readout = self._container().locator(".widget-readout").first
        readout.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(value)
        self.page.keyboard.press("Enter")
        self.fig.wait_still()

    def exercise(self) -> Iterator[Move]:
        """End (maximum), Home (minimum), then steps between: one step up, a page up
        (5 steps), one step down, then the key held down to about the middle."""
        self.fig.wait_still()
        yield self.move("End")
        yield self.move("Home")
        yield self.move("ArrowRight")
        yield self.move("PageUp")
        yield self.move("ArrowLeft")
        now, lo, hi, step = self.position()
        if step > 0:
            presses = int(round(((lo + hi) / 2 - now) / step))
            if presses >= 2:
                yield self.move("ArrowRight", min(presses, 30))


class DropdownControl(Control):
    kind = "dropdown"

    def _container(self):
        return self.locator.locator("xpath=ancestor::div[contains(@class,'widget-dropdown')][1]")

    def value(self) -> str:
        return self.locator.evaluate("s => s.options[s.selectedIndex] ? s.options[s.selectedIndex].text : ''")

    def exercise(self) -> list[Move]:
        labels = self.locator.evaluate("s => Array.from(s.options).map(o => o.text)")
        current = self.locator.evaluate("s => s.selectedIndex")
        order = [i for i in range(len(labels)) if i != current]
        if len(order) > 5:  # first, last and three evenly between
            order = sorted({order[round(k * (len(order) - 1) / 4)] for k in range(5)})
        start = self.fig.wait_still()
        for i in order:
            move = self.fig.move(self, f"select {labels[i]!r}", lambda i=i: self.locator.select_option(index=i))
            move.rule, move.differs_from_start = "differ-from-start", move.signature != start
            yield move
        yield self.fig.move(self, f"select {labels[current]!r} (back)",  # and back
                            lambda: self.locator.select_option(index=current))

    def restore(self, value: str) -> None:
        if self.value() != value:
            self.locator.select_option(label=value)
            self.fig.wait_still()


class CheckboxControl(Control):
    kind = "checkbox"

    def _container(self):
        return self.locator.locator("xpath=ancestor::div[contains(@class,'widget-checkbox')][1]")

    def description(self) -> str:
        text = self._container().text_content(timeout=2000) or ""
        return " ".join(text.replace("\u200b", " ").split())

    def value(self) -> str:
        return str(self.locator.is_checked())

    def exercise(self) -> Iterator[Move]:
        self.fig.wait_still()
        yield self.fig.move(self, "click", lambda: self.locator.click())
        yield self.fig.move(self, "click back", lambda: self.locator.click())

    def restore(self, value: str) -> None:
        if self.value() != value:
            self.locator.click()
            self.fig.wait_still()


class ButtonGroupControl(Control):
    """ToggleButtons (buttons) or RadioButtons (inputs)."""
    kind = "toggle-buttons"
    item_selector = "button"
    active_js = "b => b.classList.contains('mod-active')"

    def _items(self):
        return self.locator.locator(self.item_selector)

    def value(self) -> str:
        items = self._items()
        for i in range(items.count()):
            if items.nth(i).evaluate(self.active_js):
                return (items.nth(i).text_content() or "").strip() or items.nth(i).get_attribute("value") or str(i)
        return ""

    def exercise(self) -> Iterator[Move]:
        items = self._items()
        n = items.count()
        current = next((i for i in range(n) if items.nth(i).evaluate(self.active_js)), 0)
        start = self.fig.wait_still()
        for i in [i for i in range(n) if i != current][:6]:
            move = self.fig.move(self, f"click item {i + 1}", lambda i=i: items.nth(i).click())
            move.rule, move.differs_from_start = "differ-from-start", move.signature != start
            yield move
        yield self.fig.move(self, f"click item {current + 1} (back)", lambda: items.nth(current).click())

    def restore(self, value: str) -> None:
        items = self._items()
        for i in range(items.count()):
            if self.value() == value:
                return
            items.nth(i).click()
            self.fig.wait_still()


class RadioControl(ButtonGroupControl):
    kind = "radio-buttons"
    item_selector = "input[type=radio]"
    active_js = "r => r.checked"

    def value(self) -> str:
        items = self._items()
        for i in range(items.count()):
            if items.nth(i).is_checked():
                return str(i)
        return ""


# --------------------------------------------------------------------------- live figure
class LiveFigure:
    """One code cell whose output holds widget controls and a figure (canvas or img)."""

    def __init__(self, nbpage: "NotebookPage", cell_index: int, number: int, summary: dict):
        self.nbpage = nbpage
        self.page = nbpage.page
        self.cell_index = cell_index
        self.number = number  # 1-based among the notebook's live figures
        self.summary = summary
        self.cell = nbpage.cells().nth(cell_index)
        self.output = self.cell.locator(".jp-Cell-outputArea").first

    def __repr__(self) -> str:
        return f"<figure {self.number} (cell {self.cell_index + 1})>"

    @property
    def notebook_cell(self) -> Optional[int]:
        """The figure's cell, 0-based among all cells of the notebook file, where the page
        says (Voila); None in JupyterLab, where cell_index counts the code cells."""
        return self.summary.get("notebookCell")

    def controls(self) -> list[Control]:
        out = self.output
        own = f":not({FIGURE_OWN_CONTROLS} *)"
        found: list[Control] = []
        for cls, sel in (
            (SliderControl, f".widget-slider .noUi-handle{own}"),
            (DropdownControl, f".widget-dropdown select{own}"),
            (CheckboxControl, f".widget-checkbox input{own}"),
            (ButtonGroupControl, f".widget-toggle-buttons{own}"),
            (RadioControl, f".widget-radio-box{own}"),
        ):
            loc = out.locator(sel)
            for i in range(loc.count()):
                found.append(cls(self, loc.nth(i), i))
        return found

    def sliders(self) -> list[SliderControl]:
        return [c for c in self.controls() if isinstance(c, SliderControl)]

    def _handle(self):
        return self.output.element_handle(timeout=5000)

    def signature(self) -> str:
        return self._handle().evaluate(_JS_SIGNATURE, FIGURE_JS_SELECTOR)

    def pixel_read_ms(self, repeats: int = 10) -> float:
        """What reading the figure's pixels once costs in the page (the latency probe does
        it in the first animation frame after each paint)."""
        return float(self._handle().evaluate(_js("""(out, [sel, n]) => {
          const t0 = performance.now();
          for (let i = 0; i < n; i++) FIGURE_PIXELS(out, sel);
          return (performance.now() - t0) / n;
        }"""), [FIGURE_JS_SELECTOR, repeats]))

    def geometry(self) -> Optional[dict]:
        """How the figure's ipympl canvas sits on the page (CSS px): its own width in pixels
        (canvas.width / devicePixelRatio), its displayed width, the page's content width
        and whether the page scrolls sideways; None for a figure without a canvas."""
        return self._handle().evaluate(_JS_CANVAS_GEOMETRY)

    def drawn(self) -> bool:
        return bool(self._handle().evaluate(_JS_FIGURES_DRAWN, FIGURE_JS_SELECTOR))

    def wait_still(self, quiet_ms: int = SETTLE_QUIET_MS, timeout_ms: int = CHANGE_TIMEOUT_S * 1000) -> str:
        return self._handle().evaluate(_JS_WAIT_STILL, [FIGURE_JS_SELECTOR, quiet_ms, timeout_ms])

    def scroll_into_view(self) -> None:
        self.output.scroll_into_view_if_needed(timeout=5000)

    def move(self, control: Control, action: str, do: Callable[[], None],
             timeout_s: float = CHANGE_TIMEOUT_S) -> Move:
        """Do one user action on a control; report whether the figure's pixels changed."""
        before_value = control.value()
        before = self.signature()  # the figure is still: the previous move waited for that
        events = self.nbpage.status_events
        t0 = time.monotonic()
        do()
        sig = self._wait_figure_after_action(before, events, t0, timeout_s)
        after_value = control.value()
        problems = self.nbpage.take_problems()
        return Move(action, before_value, after_value, sig != before, after_value != before_value,
                    1000 * (time.monotonic() - t0), problems, sig)

    def _wait_figure_after_action(self, before: str, events: int, t0: float, timeout_s: float) -> str:
        """After a user action: wait until the figure changed and then stayed still for
        SETTLE_QUIET_MS, or -- when it does not change -- until the kernel has answered
        (a status message since the action), has been idle for KERNEL_QUIET_S and the
        figure still showed nothing new NO_CHANGE_GRACE_S later. Returns the signature."""
        nb, last, changed_at = self.nbpage, before, None
        handle = self._handle()
        while True:
            sig = handle.evaluate(_JS_NEXT_CHANGE, [FIGURE_JS_SELECTOR, last, SETTLE_QUIET_MS])
            now = time.monotonic()
            if sig != last:
                last, changed_at = sig, now
                continue
            if changed_at is not None and now - changed_at >= SETTLE_QUIET_MS / 1000:
                break  # changed, then still
            kernel_quiet = (nb.status_events > events and nb.kernel_status == "idle"
                            and now - nb.last_status_at >= KERNEL_QUIET_S)
            if changed_at is None and kernel_quiet and now - nb.last_status_at >= KERNEL_QUIET_S + NO_CHANGE_GRACE_S:
                break  # the kernel is done and the figure did not change
            if changed_at is None and nb.status_events == events and now - t0 >= NO_CHANGE_GRACE_S + 1.0:
                break  # the action sent nothing to the kernel (the value did not move)
            if now - t0 > timeout_s:
                break
        if last != before or nb.status_events > events:
            nb.wait_kernel_quiet(events, timeout=max(1.0, timeout_s - (time.monotonic() - t0)))
        return last

    def measure_latency(self, slider: SliderControl, key: str, timeout_ms: int = CHANGE_TIMEOUT_S * 1000) -> Optional[float]:
        """Milliseconds from the keydown event to the first frame with new figure pixels
        (waits first until the figure is still, so each probe starts clean)."""
        self.wait_still()
        slider.locator.focus()
        self._handle().evaluate(_JS_ARM_LATENCY, [FIGURE_JS_SELECTOR, timeout_ms])
        self.page.keyboard.press(key)
        ms = self.page.evaluate("window.__bhLatency")
        return None if ms is None else float(ms)

    def screenshot(self, path: Path) -> None:
        self.scroll_into_view()
        self.page.mouse.move(0, 0)
        self.wait_still()
        target = self.output.locator(".jp-OutputArea-output").filter(
            has=self.page.locator(FIGURE_JS_SELECTOR)).first
        path.parent.mkdir(parents=True, exist_ok=True)
        target.screenshot(path=str(path), animations="disabled")


# --------------------------------------------------------------------------- notebook page
class NotebookPage:
    """A notebook opened in JupyterLab ("lab") or the Notebook 7 interface ("classic")."""

    UIS = ("lab", "classic")

    def __init__(self, browser: Browser, server: LabServer, notebook: Path | str, ui: str = "lab"):
        assert ui in self.UIS
        self.browser, self.server, self.notebook, self.ui = browser, server, Path(notebook), ui
        self.page = None
        self.problems: list[Problem] = []
        self.notes: list[Problem] = []  # seen, not blamed on the notebook
        self._taken = 0
        self.kernel_status: Optional[str] = None
        self.kernel_info_seen = False
        self.timings: dict[str, float] = {}
        self._dom_seen: set = set()
        self.status_events = 0
        self.last_status_at = 0.0
        self._busy: set = set()

    # -- event plumbing
    def _on_ws(self, ws) -> None:
        if "/api/kernels/" not in ws.url or "/channels" not in ws.url:
            return
        ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload) -> None:
        msg = _decode_ws_frame(payload)
        if not msg:
            return
        t, c = msg["msg_type"], msg["content"]
        if t == "status":
            # Each request the kernel handles is wrapped in busy ... idle with that request
            # as parent; requests overlap (a slider sends two), so count the open ones.
            state = c.get("execution_state")
            if state == "busy":
                self._busy.add(msg["parent_id"])
            elif state == "idle":
                self._busy.discard(msg["parent_id"])
            elif state in ("starting", "restarting", "dead"):
                self._busy.clear()
            self.kernel_status = "busy" if self._busy else (state if state != "busy" else "idle")
            self.status_events += 1
            self.last_status_at = time.monotonic()
        elif t == "kernel_info_reply":
            self.kernel_info_seen = True
        elif t == "error":
            self.problems.append(Problem("kernel", f"{c.get('ename')}: {c.get('evalue')}\n" + "\n".join(c.get("traceback", []))))
        elif t == "stream" and c.get("name") == "stderr" and not _is_benign_stderr(c.get("text", "")):
            self.problems.append(Problem("kernel", "stderr: " + c.get("text", "")))

    def _on_pageerror(self, err) -> None:
        stack = getattr(err, "stack", None) or ""
        text = f"uncaught JavaScript exception: {err}\n{stack}"
        if any(mark in stack for mark in WIDGET_CODE_MARKS):
            self.problems.append(Problem("page", text))
        else:  # JupyterLab's / Notebook 7's own code (e.g. Notebook 7 trips on a settings schema)
            self.notes.append(Problem("page", text))

    def wait_kernel_quiet(self, since_events: int, quiet_s: float = 0.1, timeout: float = 30) -> bool:
        """After an action: wait until the kernel has reported a status since then, is idle,
        and has said nothing for quiet_s (so a callback's traceback has arrived)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.status_events > since_events and self.kernel_status == "idle"
                    and time.monotonic() - self.last_status_at >= quiet_s):
                return True
            self.page.wait_for_timeout(30)
        return False

    def take_problems(self, settle_s: float = 0.0) -> list[Problem]:
        """Problems seen since the last call (kernel messages, page errors, and the DOM)."""
        if settle_s:
            self.page.wait_for_timeout(settle_s * 1000)
        self._dom_problems()
        new = self.problems[self._taken:]
        self._taken = len(self.problems)
        return new

    def _dom_problems(self) -> None:
        found = self.page.evaluate("""(texts) => {
          const res = [];
          document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
            .forEach(e => res.push(['dom', e.textContent]));
          document.querySelectorAll('.jp-Notebook .jp-OutputArea-output').forEach(e => {
            const t = e.textContent;
            if (texts.some(x => t.includes(x))) res.push(['widget', t]);
          });
          return res;
        }""", list(DOM_FAILURE_TEXTS))
        for source, text in found:
            key = (source, text)
            if key not in self._dom_seen:
                self._dom_seen.add(key)
                self.problems.append(Problem(source, text))

    # -- open / run
    def open(self) -> "NotebookPage":
        self.page = self.browser.context.new_page()
        self.page.on("websocket", self._on_ws)
        self.page.on("pageerror", self._on_pageerror)
        t0 = time.monotonic()
        url = self.server.lab_url(self.notebook) if self.ui == "lab" else self.server.classic_url(self.notebook)
        self.page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        self.wait_kernel_ready()
        self.timings["open_to_kernel_ready_s"] = time.monotonic() - t0
        return self

    def close(self) -> None:
        if self.page and not self.page.is_closed():
            self.page.close()
        self.server.shutdown_kernels(self.notebook)

    def cells(self):
        return self.page.locator(".jp-Notebook .jp-CodeCell")

    def _status_idle(self) -> bool:
        if self.ui == "lab":
            return self.page.locator(".jp-StatusBar-TextItem").filter(
                has_text=re.compile(r"^(?!No Kernel).+ \| Idle$")).count() > 0
        # Notebook 7 shows no busy/idle text: use the kernel's own status messages.
        name = self.page.locator(".jp-KernelName")
        return (name.count() > 0 and "No Kernel" not in name.first.inner_text()
                and self.kernel_info_seen and self.kernel_status == "idle")

    def wait_kernel_ready(self, timeout: float = KERNEL_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.page.locator(".jp-Notebook").count() and self._status_idle():
                return
            dialog = self.page.locator(".jp-Dialog")
            if dialog.count() and "Select Kernel" in dialog.first.inner_text():
                # A notebook without metadata.kernelspec: a student has to pick a kernel.
                self.problems.append(Problem(
                    "ui", "JupyterLab asked 'Select Kernel' on opening: the notebook has no "
                          "metadata.kernelspec (a student has to choose; store the kernelspec)"))
                dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
            self.page.wait_for_timeout(100)
        raise TimeoutError(f"kernel not ready after {timeout:.0f}s in {self.ui} for {self.notebook.name}")

    def _click_menu(self, menu: str, item: str) -> None:
        self.page.locator(".lm-MenuBar-item").filter(has_text=re.compile(rf"^{re.escape(menu)}$")).first.click()
        self.page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel").filter(
            has_text=re.compile(rf"^{re.escape(item)}$")).first.click()

    def prompts(self) -> list[str]:
        # textContent: JupyterLab skips rendering off-screen cells (content-visibility),
        # and innerText of an unrendered element is empty.
        return self.cells().locator(".jp-InputPrompt").all_text_contents()

    def run_all(self, timeout: float = RUN_ALL_TIMEOUT_S) -> float:
        """Run -> Run All Cells; wait until no cell is queued or running, the kernel is idle,
        every widget has rendered and every live figure has been drawn. Returns seconds."""
        t0 = time.monotonic()
        self._click_menu("Run", "Run All Cells")
        deadline = t0 + timeout
        idle_since = None
        while time.monotonic() < deadline:
            prompts = [p.strip() for p in self.prompts()]
            busy = any("*" in p for p in prompts)
            if not busy and time.monotonic() - t0 > 0.3 and self._status_idle():
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 0.3:
                    break
            else:
                idle_since = None
            self.page.wait_for_timeout(100)
        else:
            raise TimeoutError(f"Run All not finished after {timeout:.0f}s: prompts {self.prompts()}")
        self.timings["run_all_kernel_s"] = time.monotonic() - t0
        self.wait_widgets_rendered(deadline)
        self.timings["run_all_s"] = time.monotonic() - t0
        return self.timings["run_all_s"]

    def wait_widgets_rendered(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            loading = self.page.locator(".jp-Notebook .jp-OutputArea-output").filter(
                has_text="Loading widget").count()
            if not loading and all(f.drawn() for f in self.live_figures(with_controls_only=False)):
                return
            self.page.wait_for_timeout(100)
        raise TimeoutError("widgets/figures not rendered: " + "; ".join(
            f"{f!r} drawn={f.drawn()}" for f in self.live_figures(with_controls_only=False)))

    def live_figures(self, with_controls_only: bool = True) -> list[LiveFigure]:
        summaries = self.cells().evaluate_all(_JS_CELL_SUMMARY, [FIGURE_JS_SELECTOR, FIGURE_OWN_CONTROLS])
        figs = []
        for s in summaries:
            if not s.get("figures") or not s.get("widgets"):
                continue
            n_controls = s["sliders"] + s["dropdowns"] + s["checkboxes"] + s["toggles"] + s["radios"]
            if with_controls_only and not n_controls:
                continue
            figs.append(LiveFigure(self, s["index"], len(figs) + 1, s))
        return figs

    def outputs_text(self) -> str:
        return "\n".join(self.page.locator(".jp-Notebook .jp-OutputArea-output").all_text_contents())


# --------------------------------------------------------------------------- classroom view
PRESENT_VIEWPORT = (1280, 720)  # the projector the classroom view is laid out for

# A page's background and a canvas corner, as WCAG relative luminance (0 black .. 1 white).
_JS_LUMINANCE_FN = """rgb => {
  const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
}"""

_JS_BODY_BACKGROUND = f"""() => {{
  const lum = {_JS_LUMINANCE_FN};
  const color = getComputedStyle(document.body).backgroundColor;
  const rgba = (color.match(/[0-9.]+/g) || []).map(Number);
  return {{color, alpha: rgba.length > 3 ? rgba[3] : 1, luminance: lum(rgba)}};
}}"""

_JS_CANVAS_CORNER = f"""(out, inset) => {{
  const lum = {_JS_LUMINANCE_FN};
  const c = out.querySelector('.jupyter-matplotlib-canvas-div > canvas:first-child');
  if (!c) return null;
  const d = c.getContext('2d').getImageData(inset, inset, 1, 1).data;
  return {{rgba: Array.from(d), alpha: d[3] / 255, luminance: lum(d)}};
}}"""


class PresentPage(NotebookPage):
    """A notebook in the classroom view (Voila, PresentServer), at 1280 x 720.

    There is no Run All: loading the page runs every cell on the server, and Voila shows
    the page (#rendered_cells) when the last one is done; then the browser connects to
    the kernel and draws the widgets. open() waits for all of that, so that live_figures(),
    the controls, take_problems() and slider_latencies() work as in JupyterLab.
    """

    UIS = ("present",)

    def __init__(self, browser: Browser, server: PresentServer):
        super().__init__(browser, server, server.notebook, ui="present")

    def open(self, timeout: float = RUN_ALL_TIMEOUT_S) -> "PresentPage":
        self.page = self.browser.context.new_page()
        self.page.set_viewport_size({"width": PRESENT_VIEWPORT[0], "height": PRESENT_VIEWPORT[1]})
        self.page.on("websocket", self._on_ws)
        self.page.on("pageerror", self._on_pageerror)
        t0 = time.monotonic()
        # Voila sends the page cell by cell as it runs them: the document is complete
        # once the last cell has run.
        self.page.goto(self.server.url, wait_until="domcontentloaded", timeout=timeout * 1000)
        self.page.locator("#rendered_cells").wait_for(state="visible", timeout=timeout * 1000)
        self.timings["page_shown_s"] = time.monotonic() - t0
        self.wait_kernel_ready()
        self.timings["open_to_kernel_ready_s"] = time.monotonic() - t0
        self.wait_widgets_rendered(t0 + timeout)
        self.timings["run_all_s"] = time.monotonic() - t0
        return self

    def run_all(self, timeout: float = RUN_ALL_TIMEOUT_S) -> float:
        """Nothing to do: open() loaded the page, which ran every cell. Returns the seconds
        from asking for the page to every widget drawn."""
        return self.timings["run_all_s"]

    def close(self) -> None:
        if self.page and not self.page.is_closed():
            self.page.close()  # the server, one per notebook, goes with its kernel

    def _status_idle(self) -> bool:
        # No status bar: the kernel's own messages, once the page's connection has its reply.
        return self.kernel_info_seen and self.kernel_status == "idle"

    def prompts(self) -> list[str]:
        return []  # the classroom view shows no code, so no prompts

    def _dom_problems(self) -> None:
        super()._dom_problems()
        # Voila hides a failing cell's traceback and stops running the notebook there.
        lines = self.server.new_log().splitlines()
        failed = [i for i, line in enumerate(lines) if any(text in line for text in VOILA_LOG_FAILURES)]
        if failed:  # one problem: what Voila said, from its first such line on
            self.problems.append(Problem("server", "Voila's log: " + "\n".join(
                line[:300] for line in lines[failed[0]:failed[0] + 40])))

    def body_background(self) -> dict:
        """The page's background colour: {'color', 'alpha', 'luminance'}."""
        return self.page.evaluate(_JS_BODY_BACKGROUND)

    def canvas_corner(self, fig: LiveFigure, inset: int = 2) -> Optional[dict]:
        """The figure's own pixel `inset` px in from its top-left corner: {'rgba', 'alpha',
        'luminance'}; None without a canvas."""
        return fig.output.evaluate(_JS_CANVAS_CORNER, inset)

    def visible_count(self, selector: str) -> int:
        """How many elements matching `selector` take up space on the page."""
        return self.page.evaluate("""sel => Array.from(document.querySelectorAll(sel)).filter(
          e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden').length""", selector)

    def cell_text(self, notebook_cell: int) -> str:
        """The visible text of one cell of the notebook file (0-based), as the page shows it."""
        wrappers = self.page.locator(f'[cell-index="{notebook_cell + 1}"]')
        return "\n".join(t for t in wrappers.evaluate_all("ws => ws.map(w => w.innerText.trim())") if t)

    def screenshot(self, path: Path, figure: Optional[LiveFigure] = None) -> None:
        """The view as the projector shows it, scrolled so that the controls of `figure`
        (default: the first live figure) are at the top of the screen."""
        figures = self.live_figures()
        fig = figure or (figures[0] if figures else None)
        if fig is not None:
            fig.output.evaluate("e => e.scrollIntoView({block: 'start'})")
            self.page.mouse.move(0, 0)  # the figure's toolbar shows while the pointer is over it
            fig.wait_still()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), animations="disabled")


def displayed_scale(page: NotebookPage) -> dict[int, float]:
    """For each live figure with an ipympl canvas, by its number: displayed CSS width over
    the canvas's own width in CSS pixels (1.0: one figure pixel per screen pixel; below 1
    the browser shrank the figure, and its text with it)."""
    scales = {}
    for fig in page.live_figures():
        g = fig.geometry()
        if g and g["intrinsic"]:
            scales[fig.number] = g["displayed"] / g["intrinsic"]
    return scales


# --------------------------------------------------------------------------- reports
def percentile(values: list[float], q: float) -> Optional[float]:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def slider_latencies(fig: LiveFigure, slider: SliderControl, presses: int = 15) -> dict:
    """Press ArrowRight `presses` times from the slider's current value (ArrowLeft after
    reaching the maximum), then put the value back; return the keypress-to-new-pixels
    latencies."""
    initial = slider.value()
    lat, misses, key = [], 0, "ArrowRight"
    for _ in range(presses):
        now, lo, hi, _ = slider.position()
        if key == "ArrowRight" and now >= hi:
            key = "ArrowLeft"
        elif key == "ArrowLeft" and now <= lo:
            key = "ArrowRight"
        ms = fig.measure_latency(slider, key, timeout_ms=5000)
        if ms is None:  # no new pixels within 5 s: counted as a miss
            misses += 1
        else:
            lat.append(ms)
    slider.restore(initial)
    return {
        "slider": slider.description(),
        "presses": presses,
        "misses": misses,
        "median_ms": statistics.median(lat) if lat else None,
        "p90_ms": percentile(lat, 90),
        "max_ms": max(lat) if lat else None,
        "latencies_ms": [round(x, 1) for x in lat],
    }


def take_screenshots(notebooks: list[Path], out_dir: Path = SCREENSHOT_DIR) -> list[Path]:
    """Open each notebook in JupyterLab, Run All, and save each live figure as
    <out_dir>/<notebook stem>-<n>.png (old PNGs of that notebook are replaced)."""
    written = []
    with LabServer() as server, Browser(viewport=(1600, 1800)) as browser:
        for nb in notebooks:
            page = NotebookPage(browser, server, nb).open()
            try:
                page.run_all()
                _warn_problems(page, nb)
                for old in out_dir.glob(f"{nb.stem}-[0-9]*.png"):  # not the classroom view's
                    old.unlink()
                for fig in page.live_figures(with_controls_only=False):
                    path = out_dir / f"{nb.stem}-{fig.number}.png"
                    fig.screenshot(path)
                    written.append(_announce(path))
            finally:
                page.close()
    return written


def _warn_problems(page: "NotebookPage", nb: Path) -> None:
    """Print what went wrong on a page being photographed (the tests fail on it; a picture need not)."""
    problems = page.take_problems(settle_s=0.3)
    if problems:
        print(f"warning: {nb.name}: " + "\n".join(map(str, problems)), file=sys.stderr)


def _announce(path: Path) -> Path:
    print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
    return path


def take_present_screenshots(notebooks: list[Path], out_dir: Path = SCREENSHOT_DIR) -> list[Path]:
    """Open each notebook in the classroom view (one Voila server each) at 1280 x 720 and
    save <out_dir>/<notebook stem>-present.png: the screen with the first live figure's
    controls at the top. A notebook without live figures gets none."""
    written = []
    with Browser() as browser:
        for nb in notebooks:
            with PresentServer(nb) as server:
                page = PresentPage(browser, server).open()
                try:
                    _warn_problems(page, nb)
                    if not page.live_figures():
                        print(f"{nb.name}: no live figure, no screenshot")
                        continue
                    path = out_dir / f"{nb.stem}-present.png"
                    page.screenshot(path)
                    written.append(_announce(path))
                finally:
                    page.close()
    return written


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--screenshots", action="store_true", help="write docs/screenshots/<notebook>-<n>.png")
    ap.add_argument("--present", action="store_true",
                    help="with --screenshots: the classroom view instead, <notebook>-present.png")
    ap.add_argument("--out", type=Path, default=SCREENSHOT_DIR, help="folder for the PNGs")
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    args = ap.parse_args(argv)
    if not args.screenshots:
        ap.print_help()
        return 2
    notebooks = select_notebooks(args.notebooks)
    if isinstance(notebooks, int):
        return notebooks
    (take_present_screenshots if args.present else take_screenshots)(notebooks, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
