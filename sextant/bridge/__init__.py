"""The nautical bridge: an arcade window on the engine's shared memory (SPEC §10). Imports nothing from the engine."""
