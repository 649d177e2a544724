"""The bridge's settings: the [bridge] table (the window and its loop) and the engine's files it shows."""

from __future__ import annotations

import msgspec

from sextant.config import BridgeSettings, SextantConfig


class BridgeConfig(BridgeSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The [bridge] table's settings (inherited: checked once, in sextant/config.py) and the paths of the engine's
    shared-memory files ([engine] *_path), which the bridge opens."""

    context_path: str = "sextant_context.mmap"
    events_path: str = "sextant_events.mmap"
    commands_path: str = "sextant_commands.mmap"

    @classmethod
    def from_settings(cls, settings: SextantConfig) -> BridgeConfig:
        """Command-line values reach this through `sextant.config.override`, as settings."""
        engine = settings.engine
        return cls(**msgspec.structs.asdict(settings.bridge), context_path=engine.context_path,
                   events_path=engine.events_path, commands_path=engine.commands_path)
