"""Exit statuses (contract section 2): 2 is a configuration problem, printed one located
problem a line with no traceback; 130 an interrupt; 1 an unexpected error (its traceback
redacted); a command's own status otherwise."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable

from notifier.obs.logs import redact, setup_logging
from notifier.rules.load import RulesError
from notifier.settings import ConfigError


def exit_status(
    command: Callable[[argparse.Namespace], int | None], args: argparse.Namespace
) -> int:
    """Run `command` and map what stopped it to the exit status. Everything printed
    here, and every log line of every command, goes through the redaction."""
    # `run` sets its own level and format; without this, a warning of another command
    # would reach Python's last-resort handler as is.
    setup_logging("WARNING")
    try:
        return int(command(args) or 0)
    except ConfigError as exc:  # AlreadyRunning too (notifier.state.lock)
        for line in exc.lines:
            print(redact(line), file=sys.stderr)
        return 2
    except RulesError as exc:
        for problem in exc.problems:
            print(redact(str(problem)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:  # what Python would print, but redacted: a driver's error may echo a URL
        print(redact(traceback.format_exc()), end="", file=sys.stderr)
        return 1
