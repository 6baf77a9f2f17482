"""tools/check_sizes.py counts a class's methods with what it inherits or mixes in, so
a mixin pile cannot pass the ~15-method bound by spreading itself over files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parent.parent / "tools" / "check_sizes.py"


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), str(root)], capture_output=True, text=True, check=False
    )


def _methods(prefix: str, n: int) -> str:
    return "".join(f"    def {prefix}{i}(self) -> None: ...\n" for i in range(n))


def test_methods_mixed_in_from_other_modules_count_toward_the_bound(tmp_path: Path) -> None:
    (tmp_path / "outbox.py").write_text("class Outbox:\n" + _methods("o", 9))
    (tmp_path / "inbox.py").write_text("class Inbox:\n" + _methods("i", 9))
    (tmp_path / "store.py").write_text(
        "from outbox import Outbox\nfrom inbox import Inbox\n\n\n"
        "class Store(Outbox, Inbox):\n" + _methods("s", 1)
    )
    done = _check(tmp_path)
    assert done.returncode == 1
    assert "class Store has 19 methods" in done.stdout
    assert "class Outbox" not in done.stdout and "class Inbox" not in done.stdout


def test_a_protocol_that_only_joins_protocols_is_not_counted(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text(
        "from typing import Protocol\n\n\n"
        "class Seen(Protocol):\n" + _methods("s", 9) + "\n\n"
        "class Sent(Protocol):\n" + _methods("o", 9) + "\n\n"
        "class Both(Seen, Sent, Protocol):\n    '''What one user needs.'''\n"
    )
    done = _check(tmp_path)
    assert (done.returncode, done.stdout) == (0, "")


def test_the_package_keeps_the_bound() -> None:
    done = _check(TOOL.parent.parent / "notifier")
    assert (done.returncode, done.stdout) == (0, "")
