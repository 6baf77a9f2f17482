"""Email over SMTP (starttls, ssl or none; optional login), text and HTML parts."""

from __future__ import annotations

import base64
import email.policy
import email.utils
import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from notifier.channels.base import MailMessage, Message, MessageRef, Outcome, SendContext
from notifier.settings import Settings

_ADDRESS = re.compile(r"^[^@\s<>,;\r\n]+@[^@\s<>,;\r\n]+\.[^@\s<>,;\r\n]+$")


class EmailConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["email"]
    to: list[str]

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one address")
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not an email address")
        return value

    def missing_settings(self, settings: Settings) -> list[str]:
        return [
            name
            for name, value in (
                ("SMTP_HOST", settings.smtp_host),
                ("SMTP_FROM", settings.smtp_from),
            )
            if not value
        ]


# --- sender ---------------------------------------------------------------------------

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
# Headers are not folded below the RFC 5322 hard limit: Python folds a long subject right
# after "Subject:", and some parsers then keep a leading space, so the subject would no
# longer begin with `[<rule>]`. render caps the subject at 180 characters.
_POLICY = email.policy.default.clone(max_line_length=998)


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """An SSLContext honouring NOTIFIER_TLS_VERIFY: True (system CAs), False (no
    verification at all), or the path of a CA bundle to trust. Shared by SMTP, Slack and
    webhooks so every TLS connection follows the one setting."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return ssl.create_default_context()


def _message_id(delivery_id: str, sender: str) -> str:
    """Stable across retries, so a resend after a crash is recognisable as the same mail."""
    safe = re.sub(r"[^A-Za-z0-9.\-_]", "-", delivery_id)[:120] or "delivery"
    domain = sender.rpartition("@")[2].strip(" >") or "notifier.invalid"
    domain = re.sub(r"[^A-Za-z0-9.\-]", "", domain) or "notifier.invalid"
    return f"<notifier.{safe}@{domain}>"


def _reply(code: int, message: bytes | str | None) -> str:
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    text = " ".join((message or "").split())[:160]
    return f"SMTP {code} {text}".rstrip()


class EmailChannel:
    """One message per notification to every address in `to`, text plus HTML.

    Classification: the server being down (refused, timeouts, disconnects) and 4xx
    replies are temporary, so retry; 5xx replies (recipients refused, auth failed) and a
    TLS certificate that fails verification are final. Reasons quote the server's reply
    code and text, never the password (it is scrubbed in case a server echoes it).
    The Message-ID is set here (from the delivery id) and is the sent outcome's ref."""

    message_type: ClassVar[type[Message]] = MailMessage

    def __init__(self, name: str, config: EmailConfig, settings: Settings, timeout: float = 15.0):
        self.name = name
        self.config = config
        self.settings = settings
        self.timeout = timeout

    def build_message(self, rendered: MailMessage) -> EmailMessage:
        msg = EmailMessage(policy=_POLICY)
        msg["Subject"] = rendered.subject
        msg["From"] = self.settings.smtp_from
        msg["To"] = ", ".join(self.config.to)
        msg["Date"] = email.utils.formatdate(usegmt=True)
        msg["Message-ID"] = _message_id(rendered.id, self.settings.smtp_from or "")
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(rendered.text)
        msg.add_alternative(rendered.html, subtype="html")
        return msg

    def send(self, message: MailMessage) -> Outcome:
        try:
            mail = self.build_message(message)
            refused = self._deliver(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            code, text = next(iter(exc.recipients.values()), (550, b""))
            reason = self._scrub("all recipients refused: " + _reply(code, text))
            if codes and all(400 <= c < 500 for c in codes):
                return Outcome.retry(reason, answer=str(code))
            return Outcome.final(reason, str(code))
        except smtplib.SMTPResponseException as exc:  # sender refused, data, auth, helo
            reason = self._scrub(_reply(exc.smtp_code, exc.smtp_error))
            if 400 <= exc.smtp_code < 500:
                return Outcome.retry(reason, answer=str(exc.smtp_code))
            return Outcome.final(reason, str(exc.smtp_code))
        except smtplib.SMTPNotSupportedError as exc:  # e.g. no STARTTLS, no AUTH
            return Outcome.final(self._scrub(f"SMTP server does not support it: {exc}"))
        except smtplib.SMTPServerDisconnected:
            return Outcome.retry("SMTP server disconnected")
        except ssl.SSLCertVerificationError as exc:
            return Outcome.final(f"TLS certificate verification failed: {exc.verify_message}")
        except smtplib.SMTPException as exc:
            return Outcome.retry(self._scrub(f"SMTP error: {type(exc).__name__}"))
        except TimeoutError:
            return Outcome.retry("SMTP timeout")
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake
            detail = exc.strerror or type(exc).__name__
            return Outcome.retry(self._scrub(f"SMTP connection failed: {detail}"))
        if refused:
            log.warning(
                "channel %s: %d of %d recipients refused",
                self.name,
                len(refused),
                len(self.config.to),
            )
        return Outcome.sent(MessageRef("email", str(mail["Message-ID"])), "250")

    def _deliver(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        s = self.settings
        port = s.smtp_port
        smtp: smtplib.SMTP
        if s.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(
                s.smtp_host or "", port, timeout=self.timeout, context=tls_context(s.ssl_verify)
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host or "", port, timeout=self.timeout)
        with smtp:
            smtp.ehlo()
            if s.smtp_security == "starttls":
                smtp.starttls(context=tls_context(s.ssl_verify))
                smtp.ehlo()
            if s.smtp_username:
                password = s.smtp_password.get_secret_value() if s.smtp_password else ""
                smtp.login(s.smtp_username, password)
            refused: dict[str, tuple[int, bytes]] = smtp.send_message(
                message, from_addr=s.smtp_from, to_addrs=list(self.config.to)
            )
            return refused

    def _scrub(self, text: str) -> str:
        """Remove the password (plain or base64, as AUTH sends it) from a reason."""
        password = self.settings.smtp_password
        if password is None:
            return text

        secret = password.get_secret_value()
        for form in (secret, base64.b64encode(secret.encode()).decode()):
            if form:
                text = text.replace(form, "***")
        return text

    def close(self) -> None:
        """Nothing is held open between sends: one SMTP session per message."""


def build(name: str, config: EmailConfig, ctx: SendContext) -> EmailChannel:
    timeout = float(ctx.extra.get("send_timeout", DEFAULT_TIMEOUT))
    return EmailChannel(name, config, ctx.settings, timeout=timeout)
