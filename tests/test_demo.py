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
            "from notifier.commands.demo import run_demo; raise SystemExit(run_demo(20))",
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
    # The sandbox clicks in Slack (over the fake's Socket Mode): a teacher follows up
    # Asha's alert, an admin mutes Ravi, and Ravi's next drop is held, not posted.
    scene = "=== clicks in Slack (the sandbox plays a teacher and an admin) ==="
    clicks = out.stdout.split(scene)[1].split("\nby push:")[0]
    lines = clicks.strip().splitlines()
    assert lines[0].startswith("<@U0DEMOTEACH> clicked Follow up on: [failing-repeatedly] Asha")
    assert re.fullmatch(
        r"  the message now reads: Followed up by <@U0DEMOTEACH> at \d\d:\d\d", lines[1]
    )
    assert lines[2].startswith(
        "<@U0DEMOADMIN> picked Mute student, 7 days, on: [score-dropped] Ravi"
    )
    assert re.fullmatch(
        r"  the message now reads: Muted student Ravi Kumar by <@U0DEMOADMIN> until .+", lines[3]
    )
    assert re.fullmatch(
        r"  the mute, as `notifier mutes` lists it: mute_\w+ by U0DEMOADMIN until .+", lines[4]
    )
    assert lines[5] == "the muted student's next alert, held as muted (not posted):"
    held = r"  msg_\w+: \[score-dropped\] Ravi Kumar dropped 25 points"
    assert re.match(held, lines[6]), lines[6]
    # A quiet log: no line a delivery (they are DEBUG); the cycle summaries count them.
    assert re.search(r"INFO notifier\.runtime\.app: cycle finished in", out.stderr)
    assert not re.search(r"delivery msg_\w+ \(.*\) sent", out.stderr), out.stderr[-2000:]
    assert "websockets" not in out.stderr  # the fake Slack's socket plumbing stays quiet
    assert "Traceback" not in out.stderr


def _console_printed(stdout: str) -> list[str]:
    """The console channel's lines as they were printed during the run."""
    run = stdout.split("=== one alert of each rule ===")[0]
    return [line for line in run.splitlines() if line.startswith("[")]
