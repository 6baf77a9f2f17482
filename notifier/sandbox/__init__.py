"""The sandbox institute: a local stand-in for the Testpress admin API, over real HTTP.

Used by `make demo`, the end-to-end tests and the benchmarks. See `Sandbox` for the
embedded use; `notifier sandbox` is `notifier.commands.sandbox`.
"""

from notifier.sandbox.app import Sandbox
from notifier.sandbox.data import Institute
from notifier.sandbox.faults import FaultConfig

__all__ = ["FaultConfig", "Institute", "Sandbox"]
