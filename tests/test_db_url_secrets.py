"""A PostgreSQL URL's secrets never show (contract sections 9 and 12), wherever the URL
holds them: the userinfo, or the query (`?password=`, `?sslpassword=`), and however
short they are. Every command is run for real against a real PostgreSQL: with a wrong
password (so it fails to connect), an unreachable server, and the right one, in text
and JSON log formats."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from notifier.sandbox.smtp_standin import free_port
from tests.e2e import WEBHOOK_RULES, Harness, open_harness

SHORT = "Zq4"  # shorter than the six characters the redaction used to need
WRONG = "xq7"


@pytest.fixture
def short_user_url(pg_admin_url: str, pg_url: str) -> Iterator[str]:
    """`pg_url`'s database, owned by a new role whose password is SHORT, as a URL with
    the password in its query."""
    role = f"u_{uuid.uuid4().hex[:10]}"
    db = urlsplit(pg_url).path.lstrip("/")
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{SHORT}'")
        conn.execute(f'ALTER DATABASE "{db}" OWNER TO {role}')
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"ALTER SCHEMA public OWNER TO {role}")
    parts = urlsplit(pg_url)
    yield f"postgresql://{role}@{parts.hostname}:{parts.port}/{db}?sslmode=disable&password={SHORT}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{db}" OWNER TO CURRENT_USER')
        conn.execute(f"DROP ROLE {role}")


@pytest.fixture(params=["text", "json"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    env = {"NOTIFIER_LOG_FORMAT": request.param}
    with open_harness(tmp_path, seed=3, rules=WEBHOOK_RULES, extra_env=env) as harness:
        yield harness


def _outputs(h: Harness, db: str, *commands: tuple[str, ...]) -> dict[tuple[str, ...], str]:
    h.extra_env["NOTIFIER_DB"] = db
    out = {}
    for args in commands:
        done = h.notifier(*args)
        out[args] = f"exit {done.returncode}\n{done.stdout}{done.stderr}"
    return out


COMMANDS = (("run", "--once"), ("status",), ("status", "--json"), ("check",), ("replay", "--all"))


def test_a_query_password_never_shows_when_the_database_refuses_or_is_unreachable(
    h: Harness, short_user_url: str
) -> None:
    wrong = short_user_url.replace(f"password={SHORT}", f"password={WRONG}&sslpassword=kp9")
    port = urlsplit(short_user_url).port
    unreachable = wrong.replace(f":{port}/", f":{free_port()}/")
    for db in (wrong, unreachable):
        out = _outputs(h, db, *COMMANDS)
        for args, text in out.items():
            assert WRONG not in text and "kp9" not in text, (args, text)
            assert "Traceback" not in text, (args, text)
            if args != ("check",):  # check reads the rules, not the store
                assert text.startswith("exit 2\n"), (args, text)
                assert "NOTIFIER_DB: cannot open the state store" in text, (args, text)
        assert "password=***" in out[("status",)]  # the URL is still shown, redacted


def test_a_short_query_password_never_shows_when_every_command_works(
    h: Harness, short_user_url: str
) -> None:
    inst = h.sandbox.institute
    h.extra_env["NOTIFIER_LOG_LEVEL"] = "DEBUG"
    out = _outputs(h, short_user_url, ("run", "--once"))
    exam, user = inst.add_exam(title="Chemistry"), inst.add_user(name="Ravi", email="r@s.example")
    inst.complete_attempt(inst.start_attempt(exam, user), result="Fail", score=3.0)
    out |= _outputs(h, short_user_url, *COMMANDS)
    for args, text in out.items():
        assert text.startswith("exit 0\n"), (args, text)
        assert SHORT not in text, (args, text)
    status = json.loads(out[("status", "--json")].split("\n", 1)[1])
    assert status["deliveries"]["sent"] == 1  # the commands did work on that database
    assert len(h.webhook.received) == 1


def test_migrate_store_to_a_url_with_a_query_password_never_shows_it(
    h: Harness, short_user_url: str
) -> None:
    sqlite = str(h.db)
    assert _outputs(h, sqlite, ("run", "--once"))[("run", "--once")].startswith("exit 0")
    wrong = short_user_url.replace(f"password={SHORT}", f"password={WRONG}")
    refused = _outputs(h, sqlite, ("migrate-store", "--to", wrong))
    moved = _outputs(h, sqlite, ("migrate-store", "--to", short_user_url))
    refused_text = refused[("migrate-store", "--to", wrong)]
    moved_text = moved[("migrate-store", "--to", short_user_url)]
    assert not refused_text.startswith("exit 0") and WRONG not in refused_text, refused_text
    assert moved_text.startswith("exit 0") and "copied to" in moved_text, moved_text
    assert SHORT not in moved_text and "password=***" in moved_text
