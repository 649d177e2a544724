"""The nautical bridge: an arcade window on the engine's shared memory (docs/bridge.md). Imports nothing from the
engine."""
