"""`notifier rules export [--version N] [--tests]` and `notifier rules import FILE --note
TEXT [--tests TESTS]` (contract section 14): the rules kept as versions in the state
store, moved in and out as YAML, with the rule tests kept beside a version (by default
the rules.tests.yaml beside FILE). An import is read by the loader `notifier check`
uses, and its tests file by `notifier test`'s, before anything is added (exit 2 with
their `PATH:LINE:COL` problems); its author is the OS user."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from notifier.drafts.versions import (
    UnknownVersion,
    checked_tests,
    save_version,
    tests_beside,
    version,
)
from notifier.runtime.config import load_rules
from notifier.runtime.rules_source import os_user
from notifier.settings import load_settings
from notifier.state import open_store
from notifier.state.exists import missing_store


def cmd_rules(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    settings = load_settings()
    if args.verb == "export":
        missing = missing_store(settings.db)
        if missing is not None:
            print(f"notifier rules export: {missing}", file=sys.stderr)
            return 1
    store = open_store(settings.db)
    try:
        if args.verb == "export":
            try:
                found = version(store.rules, args.version)
            except UnknownVersion:
                which = (
                    "no rules version is active in the state store (NOTIFIER_RULES_IN_STORE "
                    "imports the rules file as version 1 at the first start)"
                    if args.version is None
                    else f"there is no rules version {args.version}"
                )
                print(f"notifier rules export: {which}", file=sys.stderr)
                return 1
            text = found.tests if args.tests else found.yaml
            if text is None:
                print(
                    f"notifier rules export: version {found.number} keeps no tests", file=sys.stderr
                )
                return 1
            out.write(text if text.endswith("\n") else text + "\n")
            return 0
        load_rules(args.file, settings)  # the file's own problems, named by its path
        tests_path = args.tests or tests_beside(args.file)
        tests = None if tests_path is None else checked_tests(tests_path)
        made = save_version(
            store.rules,
            args.file.read_text(encoding="utf-8"),
            author=os_user(),
            note=args.note,
            at=time.time(),
            settings=settings,
            shown=str(args.file),
            tests=tests,
        )
        store.audit.add(
            made.author, "cli", "rules.import", f"rules version {made.number}", made.note
        )
    finally:
        store.close()
    kept = "" if tests_path is None else f", with the tests of {tests_path}"
    print(f"rules version {made.number} added and active (from {args.file}{kept})", file=out)
    if not settings.rules_in_store:
        print(
            "note: NOTIFIER_RULES_IN_STORE is not true, so the notifier still reads "
            f"{settings.rules_path}; set it to use the versions in the store",
            file=out,
        )
    return 0
