"""BridgeView: one frame of the bridge, and the captain's input.

Each fixed tick (`on_fixed_update`) polls the shared memory into the model; each draw composes the panels from
the model. Input becomes commands on the CommandRing, never local state: a card stays until the engine says what
happened to it, and the E-STOP and autonomy buttons show the ContextWindow's values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import arcade
from arcade import key

from sextant.bridge import theme
from sextant.bridge.attention import Attention
from sextant.bridge.config import BridgeConfig
from sextant.bridge.controller import BridgeController
from sextant.bridge.draw import Painter, TextLayer
from sextant.bridge.layout import Layout, Rect
from sextant.bridge.link import Clock, LinkStatus, StateLink
from sextant.bridge.model import RESEARCH_KIND, BridgeModel
from sextant.bridge.panels.cards import draw_cards
from sextant.bridge.panels.crew import draw_crew_bar
from sextant.bridge.panels.dialogs import (
    EStopConfirm,
    ModifyEditor,
    draw_estop_confirm,
    draw_help,
    draw_modify_editor,
    draw_toasts,
)
from sextant.bridge.panels.drawers import Drawer, draw_drawer
from sextant.bridge.panels.fleet import draw_fleet
from sextant.bridge.panels.header import draw_header
from sextant.bridge.panels.hull import draw_hull_strip
from sextant.bridge.panels.sea_chart import draw_sea_chart
from sextant.bridge.panels.timeline import draw_timeline
from sextant.bridge.render.gl import GpuLayers
from sextant.state import messages
from sextant.state.layout import EStopState

DIGIT_KEYS = {getattr(key, f"KEY_{d}"): str(d) for d in range(10)} | {getattr(key, f"NUM_{d}"): str(d)
                                                                       for d in range(10)}
DRAWER_KEYS = {key.KEY_1: Drawer.ORDERS, key.KEY_2: Drawer.RESEARCH, key.KEY_3: Drawer.MEMORY,
               key.KEY_4: Drawer.HULL}
# The digits open drawers, so an instrument is picked by its function key: F1 the first … F8 the eighth.
INSTRUMENT_KEYS = {getattr(key, f"F{n}"): n - 1 for n in range(1, 9)}
# Next / previous instrument, beside Tab / Shift+Tab: X11 reports Shift+Tab as ISO_Left_Tab, a key pyglet has no
# name for, so there PgUp is the way back.
CYCLE_KEYS = {key.PAGEDOWN: 1, key.PAGEUP: -1}


class BridgeView(arcade.View):
    def __init__(self, config: BridgeConfig, *, clock: Clock = time.time_ns, link: StateLink | None = None) -> None:
        super().__init__()
        self.config = config
        self.clock = clock
        self.controller = BridgeController(config, clock=clock, link=link)
        self.attention = Attention(self.window, sound=config.sound, headless=arcade.headless)
        self.gpu = GpuLayers(self.window)
        self.text = TextLayer()
        self.overlay_text = TextLayer()
        self.painter = Painter(Layout.for_size(*self.window.get_size()), self.text, self.overlay_text, self.gpu)
        self.drawer: Drawer | None = None
        self.help_open = False  # the ? overlay: every key and what it does
        self.estop_confirm: EStopConfirm | None = None
        self.editor: ModifyEditor | None = None
        self.volatile: list[Rect] = []  # live measurements on screen (golden tests mask these)
        self.card_rects: dict[str, Rect] = {}
        self.holding: str | None = None  # the card whose countdown this bridge asked the engine to hold
        self.after_draw: Callable[[], None] | None = None  # the app's frame driver (script, screenshot)
        self.trader_layers = True  # the chart's orders, fills, E-STOP marks and equity strip (off: bench baseline)

    # ------------------------------------------------------------------------------------------------ the tick

    @property
    def link(self) -> StateLink:
        return self.controller.link

    @property
    def model(self) -> BridgeModel:
        return self.controller.model

    @property
    def sent(self) -> list[messages.Command]:
        return list(self.controller.sent)

    @property
    def last_events(self) -> list[messages.Event]:
        return self.controller.last_events

    def on_fixed_update(self, delta_time: float) -> None:
        self.controller.tick()
        self._hold_countdown_under_mouse()
        model = self.model
        if model.card_arrivals > self.attention.announced:
            # one chime for a burst of cards; none for a replay's recorded ones
            self.attention.announce(model.card_arrivals, audible=model.status == LinkStatus.LIVE)
        elif not model.waiting_cards():
            self.attention.settle()

    def on_draw(self) -> None:
        self.clear(color=theme.BG_DEEP)
        width, height = self.window.get_size()
        p = self.painter
        model = self.model
        fleet = model.fleet_shown
        if (p.layout.width, p.layout.height, p.layout.fleet is not None) != (width, height, fleet):
            p.layout = Layout.for_size(width, height, fleet=fleet)
        layout = p.layout
        p.buttons = []
        p.overlay = False
        self.volatile = []
        cards_shown = bool(model.cards)
        chart = layout.chart(cards_shown)
        window = Rect(0, 0, layout.width, layout.height)
        p.region = ("chart", chart)
        draw_sea_chart(p, self.gpu, model, chart, trader_layers=self.trader_layers)
        draw_hull_strip(p, self.gpu, model, chart)
        if model.status == LinkStatus.REPLAY:
            draw_timeline(p, model, chart, on_seek=self.seek)
        self.card_rects = {}
        if cards_shown:
            p.region = ("cards", layout.cards)
            self.card_rects = draw_cards(p, model, layout.cards, self.engine_now_ns(), on_approve=self.approve,
                                         on_modify=self.open_modify, on_reject=self.reject)
        p.region = ("crew bar", layout.crew_bar)
        draw_crew_bar(p, self.gpu, model, on_autonomy=self.set_autonomy, on_estop=self.request_estop)
        p.region = ("header", layout.header)
        draw_header(p, model, self.clock())
        if layout.fleet is not None:
            p.region = ("fleet", layout.fleet)
            draw_fleet(p, model, layout.fleet, on_select=self.select_instrument)
        self.gpu.flush()
        self.text.draw()
        p.overlay = True
        if self.drawer is not None:
            p.region = ("drawer", layout.drawer)
            draw_drawer(p, self.gpu, model, self.link.stats, self.drawer, self.volatile)
        p.region = ("toasts", chart)
        draw_toasts(p, model, chart)
        p.region = ("dialog", window)
        if self.help_open and self.estop_confirm is None and self.editor is None:
            draw_help(p, on_close=self.close_help)
        if self.estop_confirm is not None:
            draw_estop_confirm(p, self.estop_confirm, on_confirm=self.confirm_estop, on_cancel=self.cancel_dialogs)
        elif self.editor is not None:
            draw_modify_editor(p, self.editor, on_send=self.send_modify, on_cancel=self.cancel_dialogs,
                               on_focus=self._focus_field, on_style=self._pick_style)
        self.gpu.flush()
        self.overlay_text.draw()
        if self.after_draw is not None:
            self.after_draw()

    def screenshot(self, path: str | Path) -> None:
        """The frame just drawn, as a PNG (read before the flip: after it the back buffer is undefined)."""
        arcade.get_image(0, 0, *self.window.get_framebuffer_size()).save(path)

    # ------------------------------------------------------------------------------------------------ commands

    def _hold_countdown_under_mouse(self) -> None:
        """docs/gate.md: an Assisted countdown pauses while the captain's mouse is on its card. The engine owns the
        countdown, so the bridge asks it to hold, and to resume when the mouse leaves."""
        hovered = None
        for intent_id, rect in self.card_rects.items():
            card = self.model.cards.get(intent_id)
            if card is not None and not card.outcome and rect.contains(*self.painter.mouse) and (
                    card.intent.auto_approve_at_ns is not None or card.held_remaining_ns is not None):
                hovered = intent_id
        if hovered == self.holding:
            return
        if self.holding is not None and self.holding in self.model.cards:
            self.controller.hold_countdown(self.holding, False)
        self.holding = None
        if hovered is not None and self.controller.hold_countdown(hovered, True):
            self.holding = hovered

    def engine_now_ns(self) -> int:
        return self.controller.engine_now_ns()

    def seek(self, fraction: float) -> None:
        self.controller.seek(fraction)

    def _replay_key(self, symbol: int) -> bool:
        """The transport keys while a replay is the writer: Space pause, ←/→ step, [ / ] speed."""
        if symbol == key.SPACE:
            self.controller.replay_control("toggle")
        elif symbol in (key.LEFT, key.RIGHT):
            self.controller.replay_control("step", -1.0 if symbol == key.LEFT else 1.0)
        elif symbol in (key.BRACKETLEFT, key.BRACKETRIGHT):
            self.controller.replay_speed(faster=symbol == key.BRACKETRIGHT)
        else:
            return False
        return True

    def approve(self, intent_id: str) -> None:
        self.controller.approve(intent_id)

    def reject(self, intent_id: str) -> None:
        self.controller.reject(intent_id)

    def open_modify(self, intent_id: str) -> None:
        card = self.model.cards.get(intent_id)
        if card is None or card.outcome:
            return
        intent = card.intent
        if intent.intent_kind == RESEARCH_KIND:
            self.model.toast("A research change cannot be modified: approve or reject it", False)
            return
        quantity = f"{intent.quantity:g}"
        price = "" if intent.price is None else f"{intent.price:.1f}"
        style = intent.style or "MARKET"
        offset = "" if intent.trailing_offset_bps is None else f"{intent.trailing_offset_bps:g}"
        self.editor = ModifyEditor(intent_id, intent.title or intent.intent_kind, quantity, price, style, offset,
                                   original=(quantity, price, style, offset))

    def send_modify(self) -> None:
        editor = self.editor
        if editor is None:
            return
        try:
            changes = editor.changes()
        except ValueError as error:
            editor.error = str(error)
            return
        if not changes:
            editor.error = "nothing changed"
            return
        if self.controller.modify(editor.intent_id, changes):
            self.editor = None

    def set_autonomy(self, level: str) -> None:
        self.controller.set_autonomy(level)

    def request_estop(self) -> None:
        state = self.controller.estop_state()
        if state == EStopState.ENGAGING:
            return
        self.editor = None
        self.estop_confirm = EStopConfirm(engage=state == EStopState.RELEASED)

    def confirm_estop(self) -> None:
        dialog = self.estop_confirm
        self.estop_confirm = None
        if dialog is not None:
            self.controller.estop(dialog.engage)

    def select_instrument(self, slot: int) -> None:
        self.controller.select_instrument(slot)

    def close_help(self) -> None:
        self.help_open = False

    def cancel_dialogs(self) -> None:
        self.estop_confirm = None
        self.editor = None

    def _focus_field(self, index: int) -> None:
        if self.editor is not None:
            self.editor.focus = index

    def _pick_style(self, style: str) -> None:
        if self.editor is not None:
            self.editor.set_style(style)

    # ------------------------------------------------------------------------------------------------ input

    def on_key_press(self, symbol: int, modifiers: int) -> bool:
        if symbol == key.F11:
            if not arcade.headless:  # an off-screen surface has no screen to fill
                self.window.set_fullscreen(not self.window.fullscreen)
            return True
        if self.estop_confirm is not None:
            if symbol in (key.SPACE, key.ENTER, key.RETURN):
                self.confirm_estop()
            elif symbol == key.ESCAPE:
                self.cancel_dialogs()
            return True
        if self.editor is not None:
            self._editor_key(self.editor, symbol)
            return True
        if symbol == key.QUESTION or (symbol == key.SLASH and modifiers & key.MOD_SHIFT):
            self.help_open = not self.help_open
            return True
        if self.help_open and symbol == key.ESCAPE:
            self.help_open = False
            return True
        if symbol == key.SPACE:
            self.help_open = False  # the E-stop's dialog is never behind the help
        if self.model.status == LinkStatus.REPLAY and self._replay_key(symbol):
            return True
        top = self.model.top_card()
        if symbol == key.A and top is not None and not top.pending_command:
            self.approve(top.intent_id)
        elif symbol == key.R and top is not None and not top.pending_command:
            self.reject(top.intent_id)
        elif symbol == key.M and top is not None and not top.pending_command:
            self.open_modify(top.intent_id)
        elif symbol == key.SPACE:
            self.request_estop()
        elif symbol == key.TAB:
            self.controller.cycle_instrument(-1 if modifiers & key.MOD_SHIFT else 1)
        elif symbol in CYCLE_KEYS:
            self.controller.cycle_instrument(CYCLE_KEYS[symbol])
        elif symbol in INSTRUMENT_KEYS:
            self.select_instrument(INSTRUMENT_KEYS[symbol])
        elif symbol in DRAWER_KEYS:
            drawer = DRAWER_KEYS[symbol]
            self.drawer = None if self.drawer == drawer else drawer
        elif symbol == key.ESCAPE:
            self.drawer = None
        else:
            return False
        return True

    def _editor_key(self, editor: ModifyEditor, symbol: int) -> None:
        if symbol == key.ESCAPE:
            self.cancel_dialogs()
        elif symbol in (key.ENTER, key.RETURN, key.NUM_ENTER):
            self.send_modify()
        elif symbol == key.TAB:
            editor.next_field()
        elif symbol in (key.LEFT, key.RIGHT):
            editor.cycle_style(-1 if symbol == key.LEFT else 1)
        elif symbol == key.BACKSPACE:
            editor.backspace()
        elif symbol in DIGIT_KEYS:
            editor.type_char(DIGIT_KEYS[symbol])
        elif symbol in (key.PERIOD, key.NUM_DECIMAL):
            editor.type_char(".")

    def on_mouse_motion(self, x: int, y: int, dx: int, dy: int) -> None:
        self.painter.mouse = (x, y)

    def on_mouse_press(self, x: int, y: int, button: int, modifiers: int) -> bool:
        self.painter.mouse = (x, y)
        if button != arcade.MOUSE_BUTTON_LEFT:
            return False
        hit = self.painter.click(x, y)
        if hit is None and self.drawer is not None and not self.painter.layout.drawer.contains(x, y) \
                and self.estop_confirm is None and self.editor is None:
            self.drawer = None  # a click on the dimmed backdrop closes the drawer
        return True

