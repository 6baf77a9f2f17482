"""What every part of `make container-test` shares: paths, names, and running commands."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BASE_VERSION = "bookworm-py3.11-1"  # bump when container_image.make_base_tarball changes
BASE_IMAGE = f"localhost/testpress-notifier-base:{BASE_VERSION}"
IMAGE = "localhost/testpress-notifier:container-test"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "testpress-notifier"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = {"debootstrap": "debootstrap", "buildah": "buildah", "podman": "podman", "runc": "runc"}
STOP_GRACE = 10  # seconds `podman stop` waits before SIGKILL
WAIT = 90.0  # seconds any one condition may take before the test fails

CI = os.environ.get("CI") == "true"


class Skip(Exception):
    """Podman cannot run here at all: say why and stop (a failure under CI=true)."""


class Failed(Exception):
    """A check failed."""


def say(message: str) -> None:
    print(f"container-test: {message}", flush=True)


def run(
    *cmd: str, check: bool = True, capture: bool = False, echo: bool = True, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run a command, echoing it; its output goes to ours unless captured."""
    if echo:
        print("+ " + " ".join(cmd), flush=True)
    out = subprocess.PIPE if capture else None
    done = subprocess.run(cmd, text=True, stdout=out, stderr=out, **kw)
    if check and done.returncode != 0:
        detail = f"\n{done.stdout}{done.stderr}" if capture else ""
        raise Failed(f"{cmd[0]} {cmd[1] if len(cmd) > 1 else ''} exited {done.returncode}{detail}")
    return done


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


@contextmanager
def timed(label: str, timings: dict[str, float]) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        timings[label] = time.monotonic() - start
