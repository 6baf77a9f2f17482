"""Where the running rules come from, and when they changed: the file NOTIFIER_RULES
(its modification time), or the active version in the state store when
NOTIFIER_RULES_IN_STORE is true (its number, read once a cycle). `App` asks
`changed()` before each cycle and then `load()`s; a version or file that fails to load
leaves the last good rules running (hot reload's rule), whichever the source.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from notifier.drafts.versions import checked_tests, tests_beside
from notifier.rules.load import Problem, RulesError
from notifier.rules.schema import RuleSet
from notifier.runtime.wiring import RulesWiring
from notifier.state.rules_base import RulesVersions, version_label

log = logging.getLogger(__name__)


class RulesSource(Protocol):
    def first(self) -> RuleSet:
        """The rules to start with (RulesError when they do not load)."""
        ...

    def mark(self) -> None:
        """Remember the running rules as loaded (the app's start)."""
        ...

    def changed(self) -> bool:
        """True once for each change since the last call (or `first`, `mark`)."""
        ...

    def load(self) -> RuleSet: ...


class FileRules:
    """The rules file: changed when its modification time changes."""

    def __init__(self, wiring: RulesWiring, path: Path | str):
        self.wiring = wiring
        self.path = path
        self._mtime: float | None = None

    def first(self) -> RuleSet:
        return self.wiring.load(self.path)

    def mark(self) -> None:
        self._mtime = file_mtime(self.path)

    def changed(self) -> bool:
        mtime = file_mtime(self.path)
        if mtime == self._mtime:
            return False
        self._mtime = mtime  # an invalid file is not read again until it changes again
        return True

    def load(self) -> RuleSet:
        return self.wiring.load(self.path)


class StoredRules:
    """The active version in the state store. The first start on a store without a
    version imports the file as version 1 (validated first: a file that does not load
    is never made a version); after that the file is not read."""

    def __init__(
        self,
        wiring: RulesWiring,
        versions: RulesVersions,
        file: Path | str,
        clock: Callable[[], float],
    ):
        self.wiring = wiring
        self.versions = versions
        self.file = Path(file)
        self.clock = clock
        self._number: int | None = None

    def first(self) -> RuleSet:
        if self.versions.active_number() is None:
            self.import_file()
        return self.load()

    def import_file(self) -> None:
        self.wiring.load(self.file)  # RulesError: the file's problems, nothing imported
        text = self.file.read_text(encoding="utf-8")
        tests_path = tests_beside(self.file)  # kept beside version 1 when valid
        tests = None if tests_path is None else self._tests(tests_path)
        made = self.versions.add(
            text,
            author=os_user(),
            note=f"imported from {self.file} at the first start",
            at=self.clock(),
            first_only=True,  # replicas starting together import once
            tests=tests,
        )
        if made is not None:
            log.info("rules file %s imported into the state store as version 1", self.file)

    def _tests(self, path: Path) -> str | None:
        """The tests file's text, or None (logged) when it does not read: the rules
        still start; the tests are the console's, never the notifier's."""
        try:
            return checked_tests(path)
        except (RulesError, OSError, UnicodeDecodeError) as exc:
            log.warning("rule tests %s not kept beside version 1: %s", path, exc)
            return None

    def mark(self) -> None:
        """Nothing to do: `load` remembers the number it loaded."""

    def changed(self) -> bool:
        number = self.versions.active_number()
        if number == self._number:
            return False
        self._number = number  # a version that does not load here is not tried again
        return True

    def load(self) -> RuleSet:
        version = self.versions.active()
        if version is None:
            raise RulesError([Problem("rules", 1, 1, "the state store holds no rules version")])
        self._number = version.number
        return self.wiring.load_text(version.yaml, version_label(version.number))


def os_user() -> str:
    """Who ran the command (a version's author from the CLI or the first start)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's random user)
        return "unknown"


def file_mtime(path: Path | str) -> float | None:
    try:
        return float(Path(path).stat().st_mtime_ns)
    except OSError:
        return None
