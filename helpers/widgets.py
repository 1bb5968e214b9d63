"""Sliders with one name, range and format everywhere, and the live-figure pattern.

The live-figure pattern: the figure and its artists are built once; moving a control
only recomputes data, changes the artists in place and redraws. The redraw is a blit
whenever it can be: the axes, ticks, labels and legends are rendered once and kept as
a background; a move that leaves them as they were only repaints the data artists
(lines, patches, images, texts) over that background, and a move that changes one
panel's ticks re-renders that panel's part of the background alone. Shown as:

- "ipympl": an interactive canvas updated in place (the default in a Jupyter kernel),
- "image": a plain PNG image refreshed on every change (when ipympl is unavailable,
  or after `set_live_mode("image")`),
- "agg": no display at all, for tests and benchmarks outside a kernel.

Every live figure also carries a static PNG of its default state in the same output,
so a reader on GitHub without a kernel sees the figure.
"""
from __future__ import annotations

import base64
import html
import io
import math
import threading
from dataclasses import dataclass
from typing import Callable

import ipywidgets as W
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from PIL import Image

from helpers.activations import ACTIVATION_NAMES
from helpers.network import INIT_SCHEMES
from helpers.plots import SMALLEST_TEXT, apply_style, new_figure
from helpers.progress import in_kernel

LIVE_MODES = ("auto", "ipympl", "image", "agg")
_live_mode = "auto"

# One live-figure redraw at a time in the whole kernel: JupyterLab may deliver widget
# messages on a kernel subshell thread while the main thread runs a cell or handles
# another message, and matplotlib's drawing is not thread-safe (two threads drawing at
# once failed inside FreeType with "raster overflow" / "invalid outline").
_DRAWING = threading.RLock()

BACKGROUNDS_KEPT = 8  # per live figure; each is width x height x 4 bytes (about 1 MB)

_STYLE = {"description_width": "11em"}
_LAYOUT = W.Layout(width="34em")


# --- slider factories: the same control looks and behaves the same in every notebook ---

def depth_slider(value: int = 10, min: int = 1, max: int = 50) -> W.IntSlider:
    return W.IntSlider(value=value, min=min, max=max, step=1, description="depth (layers)",
                       style=_STYLE, layout=_LAYOUT)


def weight_scale_slider(value: float = 1.0, min: float = 0.1, max: float = 10.0,
                        description: str = "weight scale") -> W.FloatLogSlider:
    """Log slider: weight scales matter by their ratio to 1, so equal steps are equal ratios."""
    return W.FloatLogSlider(value=value, base=10, min=np.log10(min), max=np.log10(max), step=0.02,
                            readout_format=".3g", description=description, style=_STYLE, layout=_LAYOUT)


def switch(description: str, value: bool = False) -> W.Checkbox:
    """An on/off control (batch norm, residual connections, ...)."""
    return W.Checkbox(value=value, description=description, indent=False, layout=W.Layout(width="12em"))


def choice_slider(value, options, description: str) -> W.SelectionSlider:
    """A slider over a few fixed values (e.g. thresholds that were computed in advance)."""
    return W.SelectionSlider(value=value, options=list(options), description=description,
                             style=_STYLE, layout=_LAYOUT)


def choice_dropdown(value: str, options, description: str) -> W.Dropdown:
    return W.Dropdown(value=value, options=list(options), description=description,
                      style=_STYLE, layout=W.Layout(width="22em"))


def activation_dropdown(value: str = "sigmoid", options=ACTIVATION_NAMES) -> W.Dropdown:
    return choice_dropdown(value, options, "activation")


def init_dropdown(value: str = "xavier") -> W.Dropdown:
    return choice_dropdown(value, INIT_SCHEMES, "initialisation")


def count_slider(value: int, min: int, max: int, description: str) -> W.IntSlider:
    return W.IntSlider(value=value, min=min, max=max, step=1, description=description,
                       style=_STYLE, layout=_LAYOUT)


def float_slider(value: float, min: float, max: float, step: float, description: str,
                 fmt: str = ".2f") -> W.FloatSlider:
    return W.FloatSlider(value=value, min=min, max=max, step=step, description=description,
                         readout_format=fmt, style=_STYLE, layout=_LAYOUT)


# --- choosing how a live figure is shown ---

def set_live_mode(mode: str) -> None:
    """Choose how live figures are shown from now on: 'auto', 'ipympl', 'image' or 'agg'."""
    global _live_mode
    if mode not in LIVE_MODES:
        raise ValueError(f"unknown live mode {mode!r}; choose one of: {', '.join(LIVE_MODES)}")
    _live_mode = mode


def _import_ipympl():
    """ipympl's backend module, or None; importing it must not change pyplot's backend.

    The ipympl package's __init__ calls matplotlib.use() on itself, which would
    turn every later plain `plt` figure of the notebook into a widget (and
    switching back does not restore the inline PNG output). The call is
    skipped for the duration of the import.
    """
    import matplotlib

    original_use = matplotlib.use
    matplotlib.use = lambda *args, **kwargs: None
    try:
        import ipympl.backend_nbagg as backend
    except ImportError:
        return None
    finally:
        matplotlib.use = original_use
    return backend


def resolve_live_mode() -> str:
    """The mode a new live figure gets: what was set, or the best one this session supports."""
    if _live_mode != "auto":
        return _live_mode
    if not in_kernel():
        return "agg"
    return "ipympl" if _import_ipympl() is not None else "image"


def _attach_canvas(fig: Figure, mode: str):
    """Give `fig` the canvas for `mode` and return the widget that shows it (or None)."""
    if mode == "ipympl":
        backend = _import_ipympl()
        canvas = backend.Canvas(fig)
        canvas.get_diff_image = lambda: _frame_png(canvas)
        backend.FigureManager(canvas, 0)  # builds the toolbar the front end expects
        canvas.header_visible = False
        canvas.footer_visible = False
        canvas.resizable = False
        canvas.toolbar_visible = "fade-in-fade-out"
        return canvas
    FigureCanvasAgg(fig)
    if mode == "image":
        return W.Image(format="png")
    return None


def _frame_png(canvas) -> bytes | None:
    """The next frame an ipympl `canvas` sends: its changed pixels over transparent ones (or the
    whole frame), as PNG bytes; None if nothing was drawn since the last.

    matplotlib's FigureCanvasWebAggCore.get_diff_image, but with zlib's fastest level: at
    projector size the default level took 17 ms of a 40 ms update; level 1 takes half.
    """
    if not canvas._png_is_old:
        return None
    pixels = np.asarray(canvas.get_renderer().buffer_rgba())
    buff = pixels.view(np.uint32).squeeze(2)  # one uint32 per pixel: compared in one go
    full = canvas._force_full or buff.shape != canvas._last_buff.shape or (pixels[:, :, 3] != 255).any()
    canvas.set_image_mode("full" if full else "diff")  # a diff cannot carry transparency
    output = buff if full else np.where(buff != canvas._last_buff, buff, 0)
    canvas._last_buff = buff.copy()
    canvas._force_full = canvas._png_is_old = False
    buf = io.BytesIO()
    Image.fromarray(output.view(np.uint8).reshape((*output.shape, 4))).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, at its own size (no tight bbox: it would render twice)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def settings_text(controls: dict) -> str:
    """The controls' current values in words, e.g. "depth (layers) 10 · weight scale 1 · activation sigmoid"."""
    def shown(control) -> str:
        value = control.value
        if isinstance(value, bool):
            return "on" if value else "off"
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    return " · ".join(f"{c.description} {shown(c)}" for c in controls.values())


def settings_png(fig: Figure, settings: str) -> bytes:
    """`fig` as PNG bytes with a line above it saying the settings it shows (`settings`).

    The line is there for the PNG alone: afterwards the figure is laid out again without
    it, as the live view shows it (its controls say the settings there).
    """
    title = fig.suptitle(f"Shown at: {settings}", fontsize=SMALLEST_TEXT)
    try:
        return figure_png(fig)
    finally:
        title.remove()
        fig._suptitle = None  # matplotlib keeps its own reference, and would lay the title out again
        fig.draw_without_rendering()


def canvas_png(fig: Figure) -> bytes:
    """What the figure's Agg canvas holds now, as PNG bytes (no re-rendering)."""
    buf = io.BytesIO()
    # Fast compression: a slider frame is shown once, so encoding time matters more than size.
    Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).save(buf, format="png", compress_level=1)
    return buf.getvalue()


# The gid of an artist no update changes (a precomputed surface, say): it is rendered into
# the kept background once, instead of being painted again on every move.
FIXED = "fixed"


def data_artists(ax) -> list[Artist]:
    """The artists of `ax` a live update may change: lines, patches, images, collections,
    texts, except those whose gid is FIXED; in drawing order (by zorder)."""
    children = [*ax.collections, *ax.patches, *ax.lines, *ax.images, *ax.texts]
    return sorted((a for a in children if a.get_gid() != FIXED), key=lambda a: a.get_zorder())


def figure_key(fig: Figure) -> tuple:
    """What the whole rendered background depends on besides each axes: size and dpi
    (ipympl changes the dpi on high-density screens), the axes themselves, figure texts."""
    return (fig.dpi, tuple(fig.bbox.size), tuple(id(ax) for ax in fig.axes),
            tuple(t.get_text() for t in fig.texts))


def axes_key(ax, artists: list[Artist]) -> tuple:
    """What one axes' part of the background depends on: visibility, limits, scales,
    ticks and their labels, titles, axis labels, frame, legend, and which data artists
    (`artists`, its data_artists) exist."""
    key = [ax.get_visible(), ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(),
           ax.get_title(), ax.get_title("left"), ax.get_title("right"), ax.get_xlabel(), ax.get_ylabel(),
           tuple(spine.get_visible() for spine in ax.spines.values()), tuple(map(id, artists))]
    for axis in (ax.xaxis, ax.yaxis):
        locs = axis.get_majorticklocs()
        key += [tuple(locs), tuple(axis.get_major_formatter().format_ticks(locs))]
    legend = ax.get_legend()
    if legend is not None:
        key += [legend.get_visible(), tuple(t.get_text() for t in legend.get_texts())]
    return tuple(key)


@dataclass
class Background:
    """The figure rendered without its data artists (kept by figure_key and axes_key).

    pixels:  (height, width, 4) uint8 RGBA, as the Agg canvas holds it.
    extents: where each axes drew (display pixels, see _axes_extent; None for hidden
             axes), or None if not measured: a one-panel figure is always rendered whole.
    """

    pixels: np.ndarray
    extents: list | None


def _pixel_rows_cols(box: Bbox, height: int, width: int, pad: int = 1) -> tuple[slice, slice]:
    """The buffer rows and columns covering `box` (display coordinates, y up) plus `pad` pixels."""
    rows = slice(max(0, math.floor(height - box.y1) - pad), min(height, math.ceil(height - box.y0) + pad))
    cols = slice(max(0, math.floor(box.x0) - pad), min(width, math.ceil(box.x1) + pad))
    return rows, cols


def _overlap(a: tuple[slice, slice], b: tuple[slice, slice]) -> bool:
    return all(p.start < q.stop and q.start < p.stop for p, q in zip(a, b))


def _axes_extent(ax, renderer) -> Bbox | None:
    """Where `ax` draws (display pixels), or None if hidden: its tight bounding box, with
    the axis labels at full length (a tight box for layout keeps only their middle)."""
    box = ax.get_tightbbox(renderer)
    if box is None:
        return None
    labels = [axis.label.get_window_extent(renderer) for axis in (ax.xaxis, ax.yaxis)
              if axis.get_visible() and axis.label.get_visible() and axis.label.get_text()]
    return Bbox.union([box, *labels])


def _figure_is_only_axes(fig: Figure) -> bool:
    """True if the figure draws nothing but its patch and its axes (no suptitle, figure legend, ...)."""
    return not (fig.texts or fig.lines or fig.patches or fig.images or fig.legends or fig.artists or fig.subfigs)


def _same_float(a, b) -> bool:
    """True for two floats equal but for rounding error (no slider step is that small)."""
    return isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


class LiveFigure:
    """A figure built once whose artists follow a set of controls.

    `update(**values)` receives every control's current value by name and changes
    artists in place; it must not raise for any value a control can take. Exceptions
    are still caught on the widget path so a class never sees a traceback; they are
    kept in `last_error` and shown under the figure.
    """

    def __init__(self, fig: Figure, controls: dict, update: Callable[..., None],
                 caption: str = "", mode: str | None = None):
        self.fig = fig
        self.controls = dict(controls)
        self._update = update
        self.caption = caption
        self.mode = mode or resolve_live_mode()
        self.view = _attach_canvas(fig, self.mode)
        self.message = W.HTML("")
        self.last_error: Exception | None = None
        # Renderings of the figure without its data artists, by figure and axes keys.
        self._backgrounds: dict[tuple, Background] = {}
        self._blank: tuple | None = None
        self.full_draws = 0  # redraws that rendered the whole figure
        self.partial_draws = 0  # redraws that re-rendered only the axes that changed
        self.widget = self._layout()
        with _DRAWING:
            self._update(**self.values)
            # The default state, stored for readers without a kernel, with the settings it shows.
            self._static_png = settings_png(fig, settings_text(self.controls))
            # Lay the figure out once, at its default state: re-solving the constrained
            # layout on every slider move would cost more than the whole redraw.
            fig.set_layout_engine("none")
            if self.mode == "ipympl":
                self._paint()  # keeps the background now, so that the first move is a blit too
                # The canvas's messages (the browser asking for frames) are handled under the lock too.
                fig.canvas.on_msg(fig.canvas._handle_message, remove=True)
                fig.canvas.on_msg(self._on_canvas_message)
                fig.canvas.draw_idle()  # the browser asks for the first frame once the canvas is shown
            else:
                self._redraw()
        for control in self.controls.values():
            if self.mode == "image" and hasattr(control, "continuous_update"):
                # A full PNG per drag event would queue up behind the pointer:
                # without ipympl, redraw when the slider is released.
                control.continuous_update = False
            control.observe(self._on_change, names="value")

    @property
    def values(self) -> dict:
        return {name: c.value for name, c in self.controls.items()}

    def refresh(self) -> None:
        """Recompute and redraw for the controls' current values (raises on error)."""
        with _DRAWING:
            self._update(**self.values)
            self._redraw()

    def _redraw(self) -> None:
        """Bring the canvas up to date, by a blit when the background is unchanged, and show it."""
        self._paint()
        if self.mode == "ipympl":
            # Sends the changed pixels now: draw_idle() would first ask the browser to
            # ask back for a frame, a round trip per update. ipywidgets already holds
            # back slider messages while the kernel is busy, so drags do not pile up.
            self.fig.canvas.blit(self.fig.bbox)
        elif self.mode == "image":
            self.view.value = canvas_png(self.fig)

    def _paint(self) -> None:
        """Paint the data artists over the background for the current axes (rendered if new)."""
        per_axes = [data_artists(ax) for ax in self.fig.axes]
        artists = [a for found in per_axes for a in found]  # axes by axes, as a full draw
        key = (figure_key(self.fig), tuple(axes_key(ax, found) for ax, found in zip(self.fig.axes, per_axes)))
        background = self._backgrounds.pop(key, None)
        if background is None:
            background = self._render_background(key, artists)
        # Most recently used last; a few are kept so switching back to an option is a blit too.
        self._backgrounds[key] = background
        while len(self._backgrounds) > BACKGROUNDS_KEPT:
            self._backgrounds.pop(next(iter(self._backgrounds)))
        np.copyto(np.asarray(self.fig.canvas.get_renderer().buffer_rgba()), background.pixels)
        for artist in artists:
            self.fig.draw_artist(artist)

    def _render_background(self, key: tuple, artists: list[Artist]) -> Background:
        """Render the figure without `artists`: only the axes that changed when it can."""
        for artist in artists:  # left out of the background, painted over it
            artist.set_animated(True)
        try:
            background = self._render_changed_axes(key)
            if background is not None:
                self.partial_draws += 1
                return background
            # The Agg draw itself: ipympl's draw() would also send this half-drawn frame.
            FigureCanvasAgg.draw(self.fig.canvas)
            self.full_draws += 1
            renderer = self.fig.canvas.get_renderer()
            extents = None  # where each axes drew, to re-render one of them later
            if len(self.fig.axes) > 1 and _figure_is_only_axes(self.fig):
                extents = [_axes_extent(ax, renderer) for ax in self.fig.axes]
            return Background(np.array(renderer.buffer_rgba()), extents)
        finally:
            for artist in artists:  # any other draw (savefig, browser refresh) shows them all
                artist.set_animated(False)

    def _render_changed_axes(self, key: tuple) -> Background | None:
        """The most recent background with the axes whose keys changed re-rendered, or None.

        Valid when those axes draw, before and after, nowhere near the others: then
        clearing where they drew and drawing them again gives what a full draw gives,
        and a panel's new ticks cost that panel alone.
        """
        if not self._backgrounds or not _figure_is_only_axes(self.fig):
            return None
        (figure, keys), base = next(reversed(self._backgrounds.items()))
        changed = [i for i, (old, new) in enumerate(zip(keys, key[1])) if old != new]
        if figure != key[0] or base.extents is None or not 0 < len(changed) < len(key[1]):
            return None
        renderer = self.fig.canvas.get_renderer()
        height, width = base.pixels.shape[:2]

        def boxes(extents, which):
            return [_pixel_rows_cols(extents[i], height, width) for i in which if extents[i] is not None]

        kept = boxes(base.extents, [i for i in range(len(key[1])) if i not in changed])
        cleared = boxes(base.extents, changed)
        if any(_overlap(c, k) for c in cleared for k in kept):
            return None
        pixels = np.asarray(renderer.buffer_rgba())
        blank = self._blank_figure(figure)  # (renders into the buffer: copied over next)
        np.copyto(pixels, base.pixels)
        for rows, cols in cleared:
            pixels[rows, cols] = blank[rows, cols]
        for i in changed:
            self.fig.axes[i].draw(renderer)
        # Measured after drawing, when the new tick labels are laid out (before, it costs
        # as much as the draw). Outside the cleared boxes and the kept axes everything
        # was blank, so wherever else the axes drew, they drew as a full draw does.
        extents = list(base.extents)
        for i in changed:
            extents[i] = _axes_extent(self.fig.axes[i], renderer)
        if any(_overlap(n, k) for n in boxes(extents, changed) for k in kept):
            return None
        return Background(pixels.copy(), extents)

    def _blank_figure(self, figure: tuple) -> np.ndarray:
        """(height, width, 4) the figure's own patch alone, as a full draw starts (cached by figure key)."""
        if self._blank is None or self._blank[0] != figure:
            renderer = self.fig.canvas.get_renderer()
            renderer.clear()
            self.fig.patch.draw(renderer)
            self._blank = (figure, np.array(renderer.buffer_rgba()))
        return self._blank[1]

    def _on_canvas_message(self, canvas, content: dict, buffers) -> None:
        """ipympl's handling of a message from the browser's canvas, under the drawing lock;
        and once the canvas says it is ready, a whole frame.

        ipympl's own first frame comes after a round of requests between browser and
        kernel; in JupyterLab about one figure in fifteen stayed blank that way until a
        control moved (measured with Run All).
        """
        with _DRAWING:
            canvas._handle_message(canvas, content, buffers)
            if content.get("type") == "initialized":
                canvas._force_full = True  # a whole frame, not a difference from the last one
                canvas.blit(self.fig.bbox)

    def _on_change(self, change) -> None:
        if _same_float(change["old"], change["new"]):
            # When it first renders, the browser's slider can send back the value it was
            # given a few units in the last place off (1.0000000000000009 for 1.0): not a
            # move, and redrawing for it after Run All only costs the kernel time.
            return
        try:
            self.refresh()
        except Exception as err:  # shown, not raised: the class must never see a traceback
            self.last_error = err
            self.message.value = f"<span style='color:#D55E00'>Could not update: {html.escape(str(err))}</span>"
        else:
            self.last_error = None
            self.message.value = ""

    def _layout(self) -> W.VBox:
        children = [W.HBox(list(self.controls.values()), layout=W.Layout(flex_flow="row wrap"))]
        if self.view is not None:
            children.append(self.view)
        children.append(self.message)
        return W.VBox(children)

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self._static_png).decode("ascii")
        names = ", ".join(self.controls)
        # Stable text: compared by nbval, and the only thing a text-only reader sees.
        bundle["text/plain"] = f"Live figure controlled by: {names}. {self.caption}".strip()
        return bundle


def live_figure(build: Callable, update: Callable[..., None], controls: dict,
                figsize: tuple = (7.0, 3.4), ncols: int = 1, caption: str = "",
                mode: str | None = None) -> LiveFigure:
    """Build a figure once with `build(axes) -> state`, then drive it with `controls`.

    `update(state, **values)` changes the artists in `state` for new control values.
    """
    fig, axes = new_figure(figsize, ncols)
    state = build(axes if ncols > 1 else axes[0])
    apply_style(fig)
    return LiveFigure(fig, controls, lambda **values: update(state, **values), caption=caption, mode=mode)
