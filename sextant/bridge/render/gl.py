"""The GPU layers, drawn with moderngl on arcade's own GL context, and the one place that hands GL state over.

arcade owns the window, the text and the flat panels; moderngl draws the shader layers (`shaders/*.vert|frag`):
the heat field, lines, gauges, avatars, lights and the price dot. Both libraries talk to the same context, and
arcade caches what it last bound (its framebuffer, its blend state). Every moderngl drawing therefore happens
inside `GpuLayers.drawing()`, which on exit gives arcade back the screen framebuffer, blending and viewport, so
arcade never draws into the wrong target (shared/research/gui.md §3).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import arcade
import moderngl
import numpy as np

from sextant.bridge import theme
from sextant.bridge.layout import Rect

SHADER_DIR = Path(__file__).resolve().parents[3] / "shaders"
HEAT_COLUMNS = 128  # must match COLUMNS in heat.frag
MAX_LINE_POINTS = 4096
MAX_SPRITES = 256

SPRITE_GAUGE = 0.0
SPRITE_LIGHT = 1.0
SPRITE_AVATAR = 2.0
SPRITE_DOT = 3.0

SPRITE_DTYPE = np.dtype([("geometry", "f4", 4), ("value", "f4", 4), ("color", "f4", 4)])
LINE_VERTEX_DTYPE = np.dtype([("pos", "f4", 2), ("across", "f4"), ("along", "f4")])


def _source(name: str) -> str:
    path = SHADER_DIR / name
    try:
        return path.read_text()
    except OSError as error:
        raise FileNotFoundError(f"shader {path} is missing; the bridge runs from a source checkout with shaders/ "
                                f"beside the sextant package") from error


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
            window._sextant_moderngl = shared  # type: ignore[attr-defined]
        self.gl: moderngl.Context = shared
        self._screen = self.gl.detect_framebuffer()
        quad_vs = _source("pixel_quad.vert")
        self._heat = self.gl.program(vertex_shader=quad_vs, fragment_shader=_source("heat.frag"))
        self._line = self.gl.program(vertex_shader=_source("line.vert"), fragment_shader=_source("line.frag"))
        self._sprite = self.gl.program(vertex_shader=_source("sprite.vert"), fragment_shader=_source("sprite.frag"))
        self._heat_vbo = self.gl.buffer(reserve=4 * 4 * 4, dynamic=True)
        self._heat_vao = self.gl.vertex_array(self._heat, [(self._heat_vbo, "2f 2f", "in_pos", "in_uv")])
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
        self._heat["u_ramp"].write(np.array([theme.gl_color(c) for c in theme.HEAT_RAMP], "f4").tobytes())
        self._heat["u_base"].value = theme.gl_color(theme.BG_DEEP)[:3]

    @contextmanager
    def drawing(self) -> Iterator[GpuLayers]:
        """A moderngl section of the frame. On exit arcade gets its framebuffer, blending and viewport back."""
        width, height = self._window.get_framebuffer_size()
        self._screen.use()
        self.gl.viewport = (0, 0, width, height)
        self.gl.scissor = None
        for program in (self._heat, self._line, self._sprite):
            program["u_res"].value = (float(width), float(height))
        try:
            yield self
        finally:
            arcade_ctx = self._arcade
            arcade_ctx.screen.use(force=True)
            arcade_ctx.enable(arcade_ctx.BLEND)
            arcade_ctx.blend_func = arcade_ctx.BLEND_DEFAULT
            arcade_ctx.scissor = None

    def heat_field(self, rect: Rect, sea: np.ndarray, line: np.ndarray, time_s: float) -> None:
        """The chart background: `sea` and `line` are HEAT_COLUMNS values along the time axis (line < 0: none)."""
        left, bottom, right, top = rect.left, rect.bottom, rect.right, rect.top
        self._heat_vbo.write(np.array([left, bottom, 0, 0, right, bottom, 1, 0, left, top, 0, 1, right, top, 1, 1],
                                      "f4").tobytes())
        self._heat["u_sea"].write(np.ascontiguousarray(sea, "f4").tobytes())
        self._heat["u_line"].write(np.ascontiguousarray(line, "f4").tobytes())
        self._heat["u_time"].value = time_s
        self.gl.disable(moderngl.BLEND)  # opaque: the cheapest pass there is on llvmpipe
        self._heat_vao.render(moderngl.TRIANGLE_STRIP)

    def polyline(self, points: np.ndarray, width: float, color: theme.Color, dash: float = 0.0) -> None:
        """A thick anti-aliased line through `points` (N×2 pixels); `dash` > 0 draws dashes of that period."""
        strip = line_strip(points, width)
        if strip is None:
            return
        self._line_vbo.orphan(strip.nbytes)
        self._line_vbo.write(strip.tobytes())
        self._line["u_color"].value = theme.gl_color(color)
        self._line["u_half_width"].value = width / 2
        self._line["u_dash"].value = dash
        self.gl.enable(moderngl.BLEND)
        self.gl.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self._line_vao.render(moderngl.TRIANGLE_STRIP, vertices=len(strip))

    def sprites(self, instances: list[tuple]) -> None:
        """Draw sprites (from `sprite()`) in one instanced call."""
        if not instances:
            return
        array = np.array(instances[:MAX_SPRITES], SPRITE_DTYPE)
        self._sprite_vbo.write(array.tobytes())
        self.gl.enable(moderngl.BLEND)
        self.gl.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self._sprite_vao.render(moderngl.TRIANGLE_STRIP, instances=len(array))


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
