"""The GPU layers, drawn with moderngl on arcade's own GL context, and the one place that hands GL state over.

arcade owns the window, the text and the flat panels; moderngl draws the shader layers (`shaders/*.vert|frag`):
the heat field, lines, gauges, avatars, lights and the price dot. Both libraries talk to the same context, and
arcade caches what it last bound (its framebuffer, its blend state). Every moderngl drawing therefore happens
inside `GpuLayers.drawing()`, which on exit gives arcade back the screen framebuffer, blending and viewport, so
arcade never draws into the wrong target (docs/bridge.md#rendering).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import arcade
import moderngl
import numpy as np

from sextant.bridge import theme
from sextant.bridge.layout import Rect

SHADER_DIR = Path(__file__).resolve().parents[3] / "shaders"
HEAT_COLUMNS = 128  # columns of the heat strip along the time axis
MAX_LINE_POINTS = 4096
MAX_SPRITES = 256
MAX_RECTS = 4096

SPRITE_GAUGE = 0.0
SPRITE_LIGHT = 1.0
SPRITE_AVATAR = 2.0
SPRITE_DOT = 3.0
SPRITE_FILL = 4.0

SPRITE_DTYPE = np.dtype([("geometry", "f4", 4), ("value", "f4", 4), ("color", "f4", 4)])
LINE_VERTEX_DTYPE = np.dtype([("pos", "f4", 2), ("across", "f4"), ("along", "f4")])
RECT_DTYPE = np.dtype([("rect", "f4", 4), ("color", "f4", 4)])


def _source(name: str) -> str:
    path = SHADER_DIR / name
    try:
        return path.read_text()
    except OSError as error:
        raise FileNotFoundError(f"shader {path} is missing; the bridge runs from a source checkout with shaders/ "
                                f"beside the sextant package") from error


def _uniform(program: moderngl.Program, name: str) -> moderngl.Uniform:
    """A program's uniform: moderngl types `program[name]` as any member (uniform, block, attribute, varying)."""
    return cast("moderngl.Uniform", program[name])


class GpuLayers:
    def __init__(self, window: arcade.Window) -> None:
        self._arcade = window.ctx
        self._window = window
        # Detect mode: attach to the context arcade made current (EGL headless or GLX); no second context. One
        # moderngl wrapper per window, however many views it shows.
        window.switch_to()
        shared = getattr(window, "_sextant_moderngl", None)
        if shared is None:
            shared = moderngl.create_context(require=330)
            window._sextant_moderngl = shared
        self.gl: moderngl.Context = shared
        self._screen = self.gl.detect_framebuffer()
        self._heat = self.gl.program(vertex_shader=_source("heat.vert"), fragment_shader=_source("heat.frag"))
        self._line = self.gl.program(vertex_shader=_source("line.vert"), fragment_shader=_source("line.frag"))
        self._sprite = self.gl.program(vertex_shader=_source("sprite.vert"), fragment_shader=_source("sprite.frag"))
        self._heat_vbo = self.gl.buffer(reserve=2 * HEAT_COLUMNS * 6 * 4, dynamic=True)
        self._heat_vao = self.gl.vertex_array(
            self._heat, [(self._heat_vbo, "2f 2f 1f 1f", "in_pos", "in_uv", "in_sea", "in_line")])
        self._line_vbo = self.gl.buffer(reserve=MAX_LINE_POINTS * 2 * LINE_VERTEX_DTYPE.itemsize, dynamic=True)
        self._line_vao = self.gl.vertex_array(
            self._line, [(self._line_vbo, "2f 1f 1f", "in_pos", "in_across", "in_along")])
        corners = np.array([-1, -1, 1, -1, -1, 1, 1, 1], "f4")
        self._corner_vbo = self.gl.buffer(corners.tobytes())
        self._sprite_vbo = self.gl.buffer(reserve=MAX_SPRITES * SPRITE_DTYPE.itemsize, dynamic=True)
        self._sprite_vao = self.gl.vertex_array(self._sprite, [
            (self._corner_vbo, "2f", "in_corner"),
            (self._sprite_vbo, "4f 4f 4f/i", "in_geometry", "in_value", "in_color"),
        ])
        self._flat = self.gl.program(vertex_shader=_source("flat.vert"), fragment_shader=_source("flat.frag"))
        unit = np.array([0, 0, 1, 0, 0, 1, 1, 1], "f4")
        self._unit_vbo = self.gl.buffer(unit.tobytes())
        self._rect_vbo = self.gl.buffer(reserve=MAX_RECTS * RECT_DTYPE.itemsize, dynamic=True)
        self._rect_vao = self.gl.vertex_array(self._flat, [
            (self._unit_vbo, "2f", "in_corner"),
            (self._rect_vbo, "4f 4f/i", "in_rect", "in_color"),
        ])
        _uniform(self._heat, "u_ramp").write(np.array([theme.gl_color(c) for c in theme.HEAT_RAMP], "f4").tobytes())
        _uniform(self._heat, "u_base").value = theme.gl_color(theme.BG_DEEP)[:3]
        self._queued: list[tuple] = []

    @contextmanager
    def drawing(self) -> Iterator[GpuLayers]:
        """A moderngl section of the frame. On exit arcade gets its framebuffer, blending and viewport back.
        Rectangles queued with `queue_rect` are drawn first, so everything keeps the order it was asked in."""
        width, height = self._window.get_framebuffer_size()
        self._screen.use()
        self.gl.viewport = (0, 0, width, height)
        self.gl.scissor = None
        for program in (self._heat, self._line, self._sprite, self._flat):
            _uniform(program, "u_res").value = (float(width), float(height))
        pending, self._queued = self._queued, []
        self.rects(pending)
        try:
            yield self
        finally:
            arcade_ctx = self._arcade
            arcade_ctx.screen.use(force=True)
            arcade_ctx.enable(arcade_ctx.BLEND)
            arcade_ctx.blend_func = arcade_ctx.BLEND_DEFAULT
            arcade_ctx.scissor = None

    def queue_rect(self, left: float, bottom: float, width: float, height: float, color: theme.Color) -> None:
        """A flat rectangle, drawn with the next batch: panels cost one draw call, not one each."""
        self._queued.append(((left, bottom, width, height), theme.gl_color(color)))

    def flush(self) -> None:
        """Draw the queued rectangles now (before arcade draws text over them)."""
        if self._queued:
            with self.drawing():
                pass

    def heat_field(self, rect: Rect, sea: np.ndarray, line: np.ndarray, time_s: float) -> None:
        """The chart background: `sea` and `line` are HEAT_COLUMNS values along the time axis (line < 0: none)."""
        u = np.linspace(0.0, 1.0, HEAT_COLUMNS, dtype="f4")
        strip = np.empty((HEAT_COLUMNS, 2, 6), "f4")
        strip[:, :, 0] = (rect.left + u * rect.width)[:, None]
        strip[:, 0, 1], strip[:, 1, 1] = rect.bottom, rect.top
        strip[:, :, 2] = u[:, None]
        strip[:, 0, 3], strip[:, 1, 3] = 0.0, 1.0
        strip[:, :, 4] = np.asarray(sea, "f4")[:, None]
        strip[:, :, 5] = np.asarray(line, "f4")[:, None]
        self._heat_vbo.write(strip.tobytes())
        _uniform(self._heat, "u_time").value = time_s
        self.gl.disable(moderngl.BLEND)  # opaque: the cheapest pass there is on llvmpipe
        self._heat_vao.render(moderngl.TRIANGLE_STRIP, vertices=2 * HEAT_COLUMNS)

    def _blend_over(self) -> None:
        """Straight alpha "over" blending, for every pass that is not opaque."""
        self.gl.enable(moderngl.BLEND)
        self.gl.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA

    def polyline(self, points: np.ndarray, width: float, color: theme.Color, dash: float = 0.0) -> None:
        """A thick anti-aliased line through `points` (N×2 pixels); `dash` > 0 draws dashes of that period."""
        strip = line_strip(points, width)
        if strip is None:
            return
        self._line_vbo.orphan(strip.nbytes)
        self._line_vbo.write(strip.tobytes())
        _uniform(self._line, "u_color").value = theme.gl_color(color)
        _uniform(self._line, "u_half_width").value = width / 2
        _uniform(self._line, "u_dash").value = dash
        self._blend_over()
        self._line_vao.render(moderngl.TRIANGLE_STRIP, vertices=len(strip))

    def sprites(self, instances: list[tuple]) -> None:
        """Draw sprites (from `sprite()`) in one instanced call."""
        if not instances:
            return
        array = np.array(instances[:MAX_SPRITES], SPRITE_DTYPE)
        self._sprite_vbo.write(array.tobytes())
        self._blend_over()
        self._sprite_vao.render(moderngl.TRIANGLE_STRIP, instances=len(array))

    def rects(self, rects: list[tuple]) -> None:
        """Flat rectangles ((left, bottom, width, height), rgba 0..1) in one instanced call, in order."""
        if not rects:
            return
        for start in range(0, len(rects), MAX_RECTS):
            array = np.array(rects[start:start + MAX_RECTS], RECT_DTYPE)
            self._rect_vbo.write(array.tobytes())
            self._blend_over()
            self._rect_vao.render(moderngl.TRIANGLE_STRIP, instances=len(array))


def line_strip(points: np.ndarray, width: float) -> np.ndarray | None:
    """Triangle-strip vertices for a thick polyline: two per point, offset along the miter-free normal."""
    points = np.asarray(points, np.float32)[:MAX_LINE_POINTS]
    if len(points) < 2:
        return None
    direction = np.diff(points, axis=0)
    direction = np.vstack([direction[:1], (direction[:-1] + direction[1:]) / 2, direction[-1:]])
    length = np.hypot(direction[:, 0], direction[:, 1])
    length[length == 0] = 1.0
    normal = np.stack([-direction[:, 1], direction[:, 0]], axis=1) / length[:, None]
    half = width / 2 + 1.0  # one extra pixel for the anti-aliased edge
    segment = np.hypot(*np.diff(points, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(segment)])
    strip = np.empty(2 * len(points), LINE_VERTEX_DTYPE)
    strip["pos"][0::2] = points + normal * half
    strip["pos"][1::2] = points - normal * half
    strip["across"][0::2], strip["across"][1::2] = 1.0, -1.0
    strip["along"][0::2] = strip["along"][1::2] = along
    return strip


def sprite(kind: float, x: float, y: float, radius: float, value: tuple[float, float, float, float],
           color: theme.Color) -> tuple:
    return ((x, y, radius, kind), value, theme.gl_color(color))
