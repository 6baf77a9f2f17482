"""`notifier test TESTS.yaml` (contract section 8): the cases run by the engine in
`notifier.drafts.ruletests` (shared with the console's Test button), each failure
printed with its diff, then a summary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

from notifier.drafts.ruletests import load_tests, readable, run_cases
from notifier.runtime.config import load_rules
from notifier.settings import load_settings

__all__ = ["cmd_test", "readable", "run_tests"]


def run_tests(
    path: Path | str,
    out: TextIO,
    default_rules: Callable[[], Path],
    env: Mapping[str, str] | None = None,
) -> int:
    """Run every case; print a diff for each failure and a summary. Returns 0 when all
    pass, 1 when any failed; raises RulesError (exit 2) for an invalid file."""
    tests = load_tests(path, env)
    ruleset = load_rules(tests.rules or default_rules(), None, env)
    results = run_cases(tests, ruleset)
    failed = 0
    for result in results:
        if result.passed:
            continue
        failed += 1
        print(f"FAIL {result.where}: {result.name}", file=out)
        print("  (- expected, not produced; + produced, not expected)", file=out)
        for line in result.diff:
            print(f"  {line}", file=out)
    total = len(tests.cases)
    summary = f"{tests.path}: {total} test{'' if total == 1 else 's'}, "
    summary += f"{failed} failed" if failed else "all passed"
    print(summary, file=out)
    return 1 if failed else 0


def cmd_test(args: argparse.Namespace) -> int:
    """`notifier test TESTS.yaml`; the rules file it names, else NOTIFIER_RULES."""
    return run_tests(args.tests, sys.stdout, lambda: load_settings().rules_path)
