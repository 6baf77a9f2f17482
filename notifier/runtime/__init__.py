"""The run loop and what it is built from: the composition root (`compose.py`: every
part built from `Settings`), the app (`app.py`: one cycle, the loop, hot reload), one
cycle's pieces (`cycle.py`, `recall.py`, `poison.py`, `upkeep.py`), the push intake
(`intake.py`), the rules file loaded with the channel table (`config.py`) and the parts'
builders (`wiring.py`, `sources.py`). Only `cli.py` and `commands/` sit above it."""
