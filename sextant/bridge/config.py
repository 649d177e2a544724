"""The bridge's settings: which shared-memory files to show, the window, and the loop."""

from __future__ import annotations

import math

import msgspec

from sextant.config import ConfigError, SextantConfig


class BridgeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    context_path: str = "sextant_context.mmap"
    events_path: str = "sextant_events.mmap"
    commands_path: str = "sextant_commands.mmap"
    width: int = 1920  # windowed size; full screen takes the display's size
    height: int = 1080
    fullscreen: bool = True
    tick_hz: float = 60.0  # the fixed tick: state is read and drawn once per tick
    stale_after_s: float = 1.0  # a heartbeat older than this shows STALE (docs/bridge.md)
    history_s: float = 300.0  # how much price history the sea chart shows
    reconnect_every_s: float = 0.5  # how often a missing or replaced engine file is looked for again
    antialiasing: bool = False  # MSAA costs +55-140 % on llvmpipe; the shaders anti-alias their own edges

    @classmethod
    def from_settings(cls, settings: SextantConfig, **overrides: object) -> BridgeConfig:
        values: dict[str, object] = {"context_path": settings.context_path, "events_path": settings.events_path,
                                     "commands_path": settings.commands_path}
        values.update({key: value for key, value in overrides.items() if value is not None})
        config = msgspec.convert(values, cls)
        if not (1280 // 4 <= config.width <= 7680 and 720 // 4 <= config.height <= 4320):
            raise ConfigError(f"bridge size {config.width}x{config.height}: use a size from 320x180 to 7680x4320, "
                              f"e.g. --size 1280x720.")
        if not (math.isfinite(config.tick_hz) and 1 <= config.tick_hz <= 240):
            raise ConfigError(f"tick rate {config.tick_hz}: use 1 to 240 Hz.")
        return config
