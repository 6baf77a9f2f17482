"""A real SMTP server on loopback (aiosmtpd) that records every message it accepts and
can be told to refuse recipients or answer DATA with scripted replies."""

from __future__ import annotations

import socket
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    """A free loopback port: bind to port 0, read the number, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None  # the authenticated user, if the client logged in


@dataclass
class _SmtpState:
    received: list[ReceivedMail] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    data_replies: list[str] = field(default_factory=list)


class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback. With `username`/`password` it requires
    AUTH (PLAIN or LOGIN, allowed without TLS for tests). `reject` holds addresses whose
    RCPT is refused with 550; `script_data([...])` queues replies to DATA (e.g.
    "451 4.3.0 try later"). `stop()` then `start()` serves again on the same port, as a
    mail server that was down and came back."""

    def __init__(self, username: str | None = None, password: str | None = None):
        self.username = username
        self.password = password
        self.port = free_port()
        self.host = "127.0.0.1"
        self._lock = threading.Lock()
        self._state = _SmtpState()
        self._controller: Any = None
        self.on_receive: Callable[[ReceivedMail], None] | None = None  # called per message

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._state.received)

    def reject(self, *addresses: str) -> None:
        with self._lock:
            self._state.reject.update(a.lower() for a in addresses)

    def script_data(self, replies: Iterable[str]) -> None:
        with self._lock:
            self._state.data_replies.extend(replies)

    def start(self) -> SmtpSink:
        kwargs: dict[str, Any] = {}
        if self.username is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_require_tls=False, auth_required=True
            )
            # AUTH without TLS is the point of a loopback sink; aiosmtpd warns on every
            # connection, from its own thread, so the filter is process-wide and narrow.
            warnings.filterwarnings(
                "ignore", message="Requiring AUTH while not requiring TLS", category=UserWarning
            )
        self._controller = Controller(
            _SmtpHandler(self), hostname=self.host, port=self.port, **kwargs
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


class _SmtpHandler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        with self.sink._lock:
            if address.lower() in self.sink._state.reject:
                return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.sink._lock:
            if self.sink._state.data_replies:
                return self.sink._state.data_replies.pop(0)
        raw = envelope.original_content or envelope.content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        login = getattr(session.auth_data, "login", None)
        if isinstance(login, bytes):
            login = login.decode()
        mail = ReceivedMail(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            message,
            login if isinstance(login, str) else None,
        )
        with self.sink._lock:
            self.sink._state.received.append(mail)
        if self.sink.on_receive is not None:
            self.sink.on_receive(mail)
        return "250 Message accepted for delivery"
