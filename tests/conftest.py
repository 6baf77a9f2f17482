"""Shared fixtures. The stand-ins are real protocol servers on loopback (see
notifier/sandbox/standins.py); each fixture starts one for a test and stops it afterwards."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver
from notifier.state import Store, open_store
from tests import pg
from tests.e2e import Harness, open_harness


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    """The real `notifier` command against a fresh sandbox institute (seed 11) and the
    stand-ins (tests/e2e.py). A test file that needs another seed, rules or environment
    defines its own `h` through `open_harness`."""
    with open_harness(tmp_path, seed=11) as harness:
        yield harness


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A Slack Web API (`.url` for SLACK_API_URL) and incoming webhook (`.webhook_url`)."""
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver without a secret: answers 204 to everything not scripted."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server without AUTH on `127.0.0.1:<smtp_sink.port>`."""
    with SmtpSink() as sink:
        yield sink


# -- the state store on both backends (SQLite, and a real PostgreSQL: tests/pg.py) -----


def _pg_unavailable(reason: str) -> None:
    """Skip on a developer's machine without PostgreSQL; never in CI, where a skipped
    backend would pass silently."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}", pytrace=False)
    pytest.skip(f"no PostgreSQL: {reason} (set {pg.ENV_URL} or install postgresql)")


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """An admin URL of a running PostgreSQL: NOTIFIER_TEST_PG_URL (as .ci/run exports),
    else a cluster this session starts (and removes) in a temporary directory."""
    url = os.environ.get(pg.ENV_URL)
    if url:
        yield url
        return
    cluster = pg.Cluster(Path(tempfile.mkdtemp(prefix="notifier-pg-")))
    try:
        cluster.start()
    except pg.Unavailable as exc:
        cluster.remove()
        _pg_unavailable(str(exc))
    try:
        yield cluster.url()
    finally:
        cluster.remove()


@pytest.fixture
def pg_cluster() -> Iterator[pg.Cluster]:
    """A PostgreSQL cluster of this test's own, so that stopping it (an outage) disturbs
    no other test; removed afterwards."""
    cluster = pg.Cluster(Path(tempfile.mkdtemp(prefix="notifier-pg-own-")))
    try:
        cluster.start()
    except pg.Unavailable as exc:
        cluster.remove()
        _pg_unavailable(str(exc))
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    url = pg.create_database(pg_admin_url)
    try:
        yield url
    finally:
        pg.drop_database(pg_admin_url, url)


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """NOTIFIER_DB for a fresh state store, once per backend."""
    if request.param == "sqlite":
        return str(tmp_path / "notifier.db")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db: str) -> Iterator[Store]:
    """A fresh state store, once per backend."""
    opened = open_store(db)
    try:
        yield opened
    finally:
        opened.close()
