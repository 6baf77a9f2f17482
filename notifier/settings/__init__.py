"""Every environment variable the notifier reads, in one place (contract section 3).

Values come from the environment and from a `.env` file in the working directory; the
environment wins. Secrets are `SecretStr`, so they never show in a repr, a log line or
a validation error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from notifier.obs.logs import register_secrets
from notifier.settings.dburl import check_db, is_postgres_url, url_secrets


class ConfigError(Exception):
    """A configuration problem: the command exits with status 2 and prints `lines`."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


def _app_token(value: SecretStr | None) -> SecretStr | None:
    text = value.get_secret_value().strip() if value is not None else ""
    if not text:
        return None
    if not text.startswith("xapp-"):
        # Never echo it: a bot token pasted here by mistake is a secret too.
        raise ValueError("must be an app-level token starting with xapp- (Socket Mode)")
    return value


def _admins(value: str) -> str:
    ids = [part.strip() for part in str(value).split(",") if part.strip()]
    for one in ids:
        if not re.fullmatch(r"[UW][A-Z0-9]{1,30}", one):
            raise ValueError(
                f"{one[:40]!r} is not a Slack user id (like U012AB3CD); give comma-separated ids"
            )
    return ",".join(ids)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=False,
    )

    testpress_base_url: str | None = Field(None, validation_alias=_env("TESTPRESS_BASE_URL"))
    testpress_token: SecretStr | None = Field(None, validation_alias=_env("TESTPRESS_TOKEN"))
    testpress_username: str | None = Field(None, validation_alias=_env("TESTPRESS_USERNAME"))
    testpress_password: SecretStr | None = Field(None, validation_alias=_env("TESTPRESS_PASSWORD"))
    # Testpress's own webhooks (contract section 10): both set turn the push endpoints on.
    testpress_webhook_public_key: str | None = Field(
        None, validation_alias=_env("TESTPRESS_WEBHOOK_PUBLIC_KEY")
    )
    testpress_webhook_private_key: SecretStr | None = Field(
        None, validation_alias=_env("TESTPRESS_WEBHOOK_PRIVATE_KEY")
    )

    rules_path: Path = Field(Path("rules.yaml"), validation_alias=_env("NOTIFIER_RULES"))
    # Rules kept as versions in the state store (contract section 14): the file above is
    # imported as version 1 when the store has none, and read no more after that.
    rules_in_store: bool = Field(False, validation_alias=_env("NOTIFIER_RULES_IN_STORE"))
    db: str = Field("notifier.db", min_length=1, validation_alias=_env("NOTIFIER_DB"))
    poll_interval: float = Field(60.0, gt=0, validation_alias=_env("NOTIFIER_POLL_INTERVAL"))
    lookback_hours: float = Field(24.0, gt=0, validation_alias=_env("NOTIFIER_LOOKBACK_HOURS"))
    conference_settle_minutes: float = Field(
        30.0, ge=0, validation_alias=_env("NOTIFIER_CONFERENCE_SETTLE_MINUTES")
    )
    reconcile_minutes: float = Field(
        60.0, gt=0, validation_alias=_env("NOTIFIER_RECONCILE_MINUTES")
    )
    # History from day one (contract section 11): days of completed attempts a new
    # state store reads back into history at its first start (0: none).
    history_days: float = Field(30.0, ge=0, le=400, validation_alias=_env("NOTIFIER_HISTORY_DAYS"))
    delivery_concurrency: int = Field(
        4, ge=1, validation_alias=_env("NOTIFIER_DELIVERY_CONCURRENCY")
    )
    retry_initial_seconds: float = Field(
        5.0, gt=0, validation_alias=_env("NOTIFIER_RETRY_INITIAL_SECONDS")
    )
    retry_max_hours: float = Field(24.0, gt=0, validation_alias=_env("NOTIFIER_RETRY_MAX_HOURS"))
    tls_verify: bool | Path = Field(True, validation_alias=_env("NOTIFIER_TLS_VERIFY"))
    inactivity_check_at: str = Field("08:00", validation_alias=_env("NOTIFIER_INACTIVITY_CHECK_AT"))
    timezone: str = Field("Asia/Kolkata", validation_alias=_env("NOTIFIER_TIMEZONE"))
    # Running as a service (contract section 9).
    http_addr: str = Field("", validation_alias=_env("NOTIFIER_HTTP_ADDR"))
    # The console (contract section 14): its own listener, and its public address.
    console_addr: str = Field("", validation_alias=_env("NOTIFIER_CONSOLE_ADDR"))
    console_url: str | None = Field(None, validation_alias=_env("NOTIFIER_CONSOLE_URL"))
    health_after_seconds: float = Field(
        300.0, ge=0, validation_alias=_env("NOTIFIER_HEALTH_AFTER_SECONDS")
    )
    log_format: Literal["text", "json"] = Field(
        "text", validation_alias=_env("NOTIFIER_LOG_FORMAT")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("NOTIFIER_LOG_LEVEL")
    )

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    # Acting on alerts from Slack (contract section 13): either turns the buttons on.
    slack_app_token: Annotated[SecretStr | None, AfterValidator(_app_token)] = Field(
        None, validation_alias=_env("SLACK_APP_TOKEN")
    )
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_admins: Annotated[str, AfterValidator(_admins)] = Field(
        "", validation_alias=_env("NOTIFIER_SLACK_ADMINS")
    )

    smtp_host: str | None = Field(None, validation_alias=_env("SMTP_HOST"))
    smtp_port: int = Field(587, ge=1, le=65535, validation_alias=_env("SMTP_PORT"))
    smtp_username: str | None = Field(None, validation_alias=_env("SMTP_USERNAME"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_env("SMTP_PASSWORD"))
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        "starttls", validation_alias=_env("SMTP_SECURITY")
    )
    smtp_from: str | None = Field(None, validation_alias=_env("SMTP_FROM"))

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        return text.lower() if text.lower() in ("text", "json") else text.upper()

    @field_validator("http_addr", "console_addr")
    @classmethod
    def _http_addr(cls, value: str) -> str:
        text = value.strip()
        if text:
            host, sep, port = text.rpartition(":")
            if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError("must be host:port, e.g. 0.0.0.0:8080 (or empty: no server)")
        return text

    @field_validator("tls_verify", mode="before")
    @classmethod
    def _tls_verify(cls, value: object) -> bool | Path:
        if isinstance(value, bool):
            return value
        text = str(value).strip()
        if text.lower() in {"true", "1", "yes", "on"}:
            return True
        if text.lower() in {"false", "0", "no", "off"}:
            return False
        path = Path(text)
        if not path.is_file():
            raise ValueError("must be true, false, or the path of an existing CA bundle file")
        return path

    @field_validator("inactivity_check_at")
    @classmethod
    def _clock(cls, value: str) -> str:
        match = re.fullmatch(r"\s*([01]?\d|2[0-3]):([0-5]\d)\s*", str(value))
        if not match:
            raise ValueError('must be a time of day as HH:MM, e.g. "08:00"')
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(str(value).strip())
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError('must be a time zone like "Asia/Kolkata"') from None
        return str(value).strip()

    @field_validator(
        "testpress_base_url",
        "testpress_username",
        "testpress_webhook_public_key",
        "smtp_host",
        "smtp_username",
        "smtp_from",
        "console_url",
    )
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator(
        "testpress_token",
        "testpress_password",
        "testpress_webhook_private_key",
        "slack_bot_token",
        "slack_signing_secret",
        "smtp_password",
    )
    @classmethod
    def _blank_secret_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return value

    @field_validator("testpress_base_url", "console_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("db")
    @classmethod
    def _db(cls, value: str) -> str:
        return check_db(value)

    @property
    def db_path(self) -> Path:
        """The SQLite file (NOTIFIER_DB when it is not a PostgreSQL URL)."""
        return Path(self.db)

    @property
    def db_is_postgres(self) -> bool:
        return is_postgres_url(self.db)

    @property
    def ssl_verify(self) -> bool | str:
        """What httpx's `verify=` and our SMTP TLS context take."""
        return str(self.tls_verify) if isinstance(self.tls_verify, Path) else self.tls_verify

    @property
    def push_configured(self) -> bool:
        """Both webhook keys are set (the endpoints also need NOTIFIER_HTTP_ADDR)."""
        return bool(self.testpress_webhook_public_key and self.testpress_webhook_private_key)

    def push_problems(self) -> list[str]:
        """Located problems with the webhook keys: one of the two without the other."""
        public = self.testpress_webhook_public_key
        private = self.testpress_webhook_private_key
        if public and not private:
            return ["TESTPRESS_WEBHOOK_PRIVATE_KEY: required with TESTPRESS_WEBHOOK_PUBLIC_KEY"]
        if private and not public:
            return ["TESTPRESS_WEBHOOK_PUBLIC_KEY: required with TESTPRESS_WEBHOOK_PRIVATE_KEY"]
        return []

    def require_testpress(self) -> None:
        """Raise ConfigError unless the settings `run` needs to reach Testpress are set."""
        problems = []
        if not self.testpress_base_url:
            problems.append("TESTPRESS_BASE_URL: required to poll Testpress")
        if self.testpress_token is None and not (
            self.testpress_username and self.testpress_password
        ):
            problems.append(
                "TESTPRESS_TOKEN: required (or TESTPRESS_USERNAME and TESTPRESS_PASSWORD)"
            )
        if problems:
            raise ConfigError(problems)


def slack_buttons(settings: Settings) -> bool:
    """Slack alerts carry action buttons: a way in for clicks is set up (Socket Mode's
    app token or the Request URL's signing secret)."""
    return settings.slack_app_token is not None or settings.slack_signing_secret is not None


def slack_admin_ids(settings: Settings) -> frozenset[str]:
    """The Slack user ids allowed to mute and unmute (NOTIFIER_SLACK_ADMINS)."""
    return frozenset(one for one in settings.slack_admins.split(",") if one)


_ALIASES = {
    name: str(field.validation_alias.choices[0])  # type: ignore[union-attr]
    for name, field in Settings.model_fields.items()
}


def load_settings() -> Settings:
    """Read the settings, turning validation errors into ConfigError lines that name the
    variable and never echo its value (it may be a secret)."""
    try:
        settings = Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_input=False, include_url=False):
            loc = err["loc"][0] if err["loc"] else "?"
            var = _ALIASES.get(str(loc), str(loc))
            lines.append(f"{var}: {err['msg']}")
        raise ConfigError(lines) from None
    # Every command reads its settings here, before it can open the store: from now on
    # no output of it shows the URL's secrets, whatever prints them.
    register_secrets(url_secrets(settings.db))
    return settings
