"""Scenes: every engine run recorded (recorder.py), played back into the shared memory (player.py), and re-run
through a fresh node (sim.py). The format is documented in docs/scene-format.md."""
