"""Child processes for the benchmark: the sandbox institute and a webhook receiver, each
in its own interpreter so neither shares a GIL with what is measured.

`python -m bench.serve sandbox --history N` and `python -m bench.serve receiver` print
one JSON line (`{"url": ..., "token": ...}`) once serving, then serve until stdin is
closed (the parent exiting or calling `Child.stop`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from notifier.sandbox.standins import WebhookReceiver


def _wait_for_stdin_close() -> None:
    done = threading.Event()

    def reader() -> None:
        try:
            while sys.stdin.read(1):
                pass
        finally:
            done.set()

    threading.Thread(target=reader, daemon=True).start()
    done.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("what", choices=["sandbox", "receiver"])
    parser.add_argument("--history", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--delay", type=float, default=0.0, help="receiver: seconds per answer")
    args = parser.parse_args(argv)
    if args.what == "sandbox":
        from notifier.sandbox import Sandbox

        server: Any = Sandbox(seed=args.seed, history=args.history).start()
        info = {"url": server.url, "token": server.token}
    else:
        server = CountingReceiver(args.delay).start()
        info = {"url": server.url, "token": ""}
    print(json.dumps(info), flush=True)
    try:
        _wait_for_stdin_close()
    finally:
        server.stop()


class CountingReceiver(WebhookReceiver):
    """Answers 204 to every request and keeps only a count: a receiver that kept every
    body would grow for the whole run."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(secret=None)
        self.count = 0
        self.answer_delay = delay  # a remote endpoint's time (network and its work)

    def _handle(self, handler: Any, body: bytes) -> None:
        with self._lock:
            self.count += 1
        if self.answer_delay:
            time.sleep(self.answer_delay)
        handler.answer(204)


@dataclass
class Child:
    """A running `bench.serve` child: its URL and the token it issued."""

    proc: subprocess.Popen[str]
    url: str
    token: str

    @classmethod
    def start(cls, what: str, history: int = 0, delay: float = 0.0) -> Child:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.serve",
                what,
                "--history",
                str(history),
                "--delay",
                str(delay),
            ],  # fmt: skip
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(10)
            raise RuntimeError(f"bench.serve {what} did not start (exit {proc.returncode})")
        info = json.loads(line)
        return cls(proc, info["url"], info["token"])

    def cpu(self) -> float:
        """CPU seconds the child has used so far (Linux /proc; 0.0 elsewhere)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    main()
