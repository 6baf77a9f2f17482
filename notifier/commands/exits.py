"""Exit statuses (contract section 2): 2 is a configuration problem, printed one located
problem a line with no traceback; 130 an interrupt; a command's own status otherwise."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from notifier.rules.load import RulesError
from notifier.settings import ConfigError
from notifier.state.lock import AlreadyRunning


def exit_status(
    command: Callable[[argparse.Namespace], int | None], args: argparse.Namespace
) -> int:
    """Run `command` and map what stopped it to the exit status."""
    try:
        return int(command(args) or 0)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except AlreadyRunning as exc:
        print(f"notifier: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
