"""Settings (contract section 3): the environment over a `.env` file, located errors
that never echo a value, and `${VAR}` in the rules file read the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.cli import main
from notifier.settings import ConfigError, load_settings

RULES = """\
channels:
  lms: {type: webhook, url: "${LMS_URL}"}
rules:
  - name: r
    event: attempt.completed
    notify: [lms]
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("NOTIFIER_POLL_INTERVAL", "SMTP_PASSWORD", "LMS_URL", "NOTIFIER_TLS_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_dotenv_is_read_and_the_environment_wins(workdir: Path, monkeypatch) -> None:
    (workdir / ".env").write_text("NOTIFIER_POLL_INTERVAL=2.5\nSMTP_PORT=2525\n")
    assert load_settings().poll_interval == 2.5
    monkeypatch.setenv("NOTIFIER_POLL_INTERVAL", "7")
    settings = load_settings()
    assert settings.poll_interval == 7.0 and settings.smtp_port == 2525


def test_an_invalid_setting_names_the_variable_and_never_its_value(
    workdir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("NOTIFIER_TLS_VERIFY", "/no/such/bundle-s3cr3t.pem")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-s3cr3t")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.lines[0].startswith("NOTIFIER_TLS_VERIFY: ")
    assert "s3cr3t" not in str(caught.value)


def test_rules_variables_come_from_dotenv_too(workdir: Path, monkeypatch, capsys) -> None:
    (workdir / "rules.yaml").write_text(RULES)
    assert main(["check", "rules.yaml"]) == 2
    assert "LMS_URL is not set" in capsys.readouterr().err
    (workdir / ".env").write_text("LMS_URL=https://lms.school.example/hook\n")
    assert main(["check", "rules.yaml"]) == 0
    monkeypatch.setenv("LMS_URL", "ftp://wins.example/")  # the environment wins
    assert main(["check", "rules.yaml"]) == 2
    assert "must be an http(s) URL" in capsys.readouterr().err


def test_an_unusable_state_store_is_a_configuration_problem(
    workdir: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("NOTIFIER_DB", str(workdir))  # there, but a folder: no SQLite file
    assert main(["status", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("NOTIFIER_DB: cannot open the state store") and "Traceback" not in err
