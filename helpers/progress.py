"""A progress bar for anything that takes more than a couple of seconds.

Inside a Jupyter kernel it is an ipywidgets bar with a text label; outside one
(tests, scripts) it counts silently. It never prints to stdout or stderr.

Notebooks are stored and compared as text, so nothing machine-dependent may end up
in an output: the bar shows no timings, and when it closes the widget is replaced by
plain text such as "training: 400/400 steps". Only how often the bar redraws while
running depends on the clock, and that never reaches the stored output.
"""
from __future__ import annotations

import time

from helpers.validation import check_int

# The widget redraws at most this often; each redraw is a message to the browser.
MIN_REDRAW_SECONDS = 0.1


def in_kernel() -> bool:
    """True inside a Jupyter kernel (IPython running with a kernel attached)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class _Progress:
    """Counts steps; the base class shows nothing (used outside a kernel)."""

    displayed = False

    def __init__(self, total: int, label: str, unit: str):
        self.total = total
        self.label = label
        self.unit = unit
        self.count = 0
        self.closed = False

    def text(self) -> str:
        """The text shown next to the bar and left behind at close, e.g. 'training: 40/400 steps'."""
        return f"{self.label}: {self.count}/{self.total} {self.unit}"

    def update(self, n: int = 1) -> None:
        """Advance by n >= 0 steps."""
        n = check_int(n, "n", 0)
        if self.closed:
            raise ValueError("update() called after close()")
        self.count += int(n)
        self._redraw(final=False)

    def close(self) -> None:
        """Finish: show the final text. Calling it again does nothing."""
        if not self.closed:
            self.closed = True
            self._redraw(final=True)

    def _redraw(self, final: bool) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return False  # never swallow an exception from the block


class _WidgetProgress(_Progress):
    """An ipywidgets IntProgress plus label, filled to the end at close."""

    displayed = True

    def __init__(self, total: int, label: str, unit: str):
        super().__init__(total, label, unit)
        import ipywidgets
        from IPython.display import display

        # max=0 would draw an empty bar forever; 1 shows a full one at close.
        self._bar = ipywidgets.IntProgress(value=0, min=0, max=max(total, 1), description="")
        self._label = ipywidgets.Label(value=self.text())
        self._box = ipywidgets.HBox([self._bar, self._label])
        self._last_redraw = time.monotonic()
        # The output is displayed once and never replaced (the tests' notebook runner
        # ignores replacements): the widget for a live kernel, and a fixed text that
        # the stored notebook keeps and compares, the same on every machine.
        bundle = self._box._repr_mimebundle_()
        bundle["text/plain"] = f"{label}: {total} {unit}"
        display(bundle, raw=True)

    def _redraw(self, final: bool) -> None:
        now = time.monotonic()
        if not final and now - self._last_redraw < MIN_REDRAW_SECONDS:
            return
        self._last_redraw = now
        self._bar.value = min(self.count, self._bar.max)
        self._label.value = self.text()


def progress_bar(total: int, label: str = "working", unit: str = "steps") -> _Progress:
    """A progress bar over `total` steps: call .update(n=1) per step and .close() at the end.

    Also a context manager (closes on exit). Shows a widget only inside a Jupyter
    kernel; elsewhere it silently counts (.count, .total, .displayed is False).
    """
    total = check_int(total, "total", 0)
    if not isinstance(label, str) or not isinstance(unit, str):
        raise ValueError(f"label and unit must be strings, got {label!r} and {unit!r}")
    cls = _WidgetProgress if in_kernel() else _Progress
    return cls(int(total), label, unit)
