"""`notifier users add NAME --role viewer|editor|admin`, `users list`, `users remove
NAME`, `users passwd NAME` (contract section 14): the console's users, kept in the
state store. A password is never an argument (it would sit in the shell's history and
in every process listing): it is read from standard input (one line), or prompted for
twice when standard input is a terminal. Only its Argon2id hash is stored; removing a
user or changing their password ends their sessions. Each change is in the audit log,
by the operating-system user who ran the command (source "cli")."""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from notifier.console.passwords import hash_password, password_problem
from notifier.settings import load_settings
from notifier.state import Store, open_store
from notifier.state.people import UserExists


class UsersError(Exception):
    """What went wrong, said for the person at the terminal (exit 1)."""


def read_password() -> str:
    """The new password: prompted twice on a terminal, else standard input's first line."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise UsersError("the two passwords differ; nothing changed")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    problem = password_problem(password)
    if problem:
        raise UsersError(f"{problem}; nothing changed")
    return password


def _valid_name(name: str) -> str:
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise UsersError(f"{name!r}: a user name is one word of at most 100 characters")
    return name


def run(store: Store, args: argparse.Namespace, now: float) -> str:
    """Do `args.verb`; the line to print. A change is written to the audit log."""
    line = _run(store, args, now)
    if args.verb != "list":
        detail = f"role {args.role}" if args.verb == "add" else "their sessions ended"
        store.audit.add(getpass.getuser(), "cli", f"user.{args.verb}", args.name, detail, at=now)
    return line


def _run(store: Store, args: argparse.Namespace, now: float) -> str:
    if args.verb == "list":
        users = store.users.all()
        if not users:
            return "no users yet: add one with `notifier users add NAME --role admin`"
        width = max(len(u.name) for u in users)
        return "\n".join(f"{u.name:<{width}}  {u.role}" for u in users)
    name = _valid_name(args.name)
    if args.verb == "add":
        try:
            store.users.add(name, args.role, hash_password(read_password()), now)
        except UserExists as exc:
            raise UsersError(str(exc)) from None
        return f"added {name} ({args.role})"
    if args.verb == "remove":
        if not store.users.remove(name):
            raise UsersError(f"no user named {name!r}")
        return f"removed {name}; their sessions ended"
    if store.users.get(name) is None:
        raise UsersError(f"no user named {name!r}")
    store.users.set_password(name, hash_password(read_password()), now)
    return f"changed {name}'s password; their sessions ended"


def cmd_users(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = open_store(settings.db)
    try:
        print(run(store, args, time.time()))
    except UsersError as exc:
        print(f"notifier users: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0
