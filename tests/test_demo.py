"""`notifier demo` (what `make demo` runs), shortened: the real loop against the sandbox
with the repository's rules.yaml prints alerts and a summary, and exits 0."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_demo_prints_alerts_and_a_summary() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from notifier.commands.demo import run_demo; raise SystemExit(run_demo(12))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "=== what each channel received ===" in out.stdout
    # The console is served too, with a demo user to sign in with.
    assert re.search(
        r"demo: the console is at http://127\.0\.0\.1:\d+ \(user demo, password \S+\)", out.stdout
    )
    rules = ("[failed-exam]", "[low-percentile]", "[course-exam-failed]", "[left-live-class")
    assert any(line.startswith(rules) for line in out.stdout.splitlines())  # console alerts
    # One alert of each history rule's kind (contract section 11), named as a teacher reads it.
    one = out.stdout.split("=== one alert of each rule ===")[1]
    assert "Asha Verma failed 3 exams in 30 days: Algebra Mock 3 (12%)" in one
    assert "Ravi Kumar dropped 32 points in percentage" in one
    assert "[gone-quiet]" in one and "has not been active for" in one
    summary = next(line for line in out.stdout.splitlines() if line.startswith("summary:"))
    sent = int(summary.split("deliveries sent ")[1].split(",")[0])
    assert sent > 0
    # The sandbox pushes its webhooks: alerts arrive by push, and the demo shows some.
    lines = out.stdout.splitlines()
    pushed = next(line for line in lines if line.startswith("by push:"))
    assert int(pushed.split(" deliveries queued")[0].rpartition(", ")[2]) > 0
    examples = lines[lines.index(pushed) + 1 :]
    assert examples[0].startswith("  [")
    # Every channel in the summary, the console too; a list cut short says by how much.
    received = out.stdout.split("=== what each channel received ===")[1].splitlines()
    heads = {line.split(" (")[0]: line for line in received if line and line[0] != " "}
    assert {"slack", "email", "webhook", "console"} <= heads.keys()
    console = int(heads["console"].split("(")[1].split(" ")[0])
    assert console > 5
    after = received[received.index(heads["console"]) + 1 :][:6]
    printed = {f"  {x}" for x in _console_printed(out.stdout)}
    assert set(after[:5]) <= printed  # lines it did print
    assert after[5] == f"  ... and {console - 5} more"
    # A quiet log: no line a delivery (they are DEBUG); the cycle summaries count them.
    assert re.search(r"INFO notifier\.runtime\.app: cycle finished in", out.stderr)
    assert not re.search(r"delivery msg_\w+ \(.*\) sent", out.stderr), out.stderr[-2000:]


def _console_printed(stdout: str) -> list[str]:
    """The console channel's lines as they were printed during the run."""
    run = stdout.split("=== one alert of each rule ===")[0]
    return [line for line in run.splitlines() if line.startswith("[")]
