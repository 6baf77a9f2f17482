"""The sandbox institute: a local stand-in for the Testpress admin API, over real HTTP.

Used by `make demo`, the end-to-end tests and the benchmarks. See `Sandbox` for the
embedded use and `serve` for the `notifier sandbox` command.
"""

from notifier.sandbox.app import Sandbox, serve
from notifier.sandbox.data import Institute
from notifier.sandbox.faults import FaultConfig

__all__ = ["FaultConfig", "Institute", "Sandbox", "serve"]
