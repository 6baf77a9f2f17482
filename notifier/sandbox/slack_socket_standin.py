"""The Socket Mode side of the fake Slack: a websocket server on loopback speaking
Slack's envelope protocol, so the notifier's real Socket Mode client (slack_sdk's
built-in one) is tested over a real socket (issue 19 part 6).

What Slack does, it does: on connect it sends `hello`; `send_envelope` sends an
`interactive` envelope to one open connection (the newest, as Slack picks one) and
records the `{"envelope_id": ...}` acknowledgements that come back (`acks`); an
envelope not acknowledged within `resend_after` seconds is sent again (Slack's
redelivery; 0 turns it off); `disconnect(reason)` sends Slack's `disconnect` message
and closes the socket, after which a client is expected to come back through
`apps.connections.open` with a fresh URL. Pings are answered by the websockets library.

Uses `websockets` (the demo and test extras); imported only with the stand-ins.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

# The websockets library logs each connection opened and closed at INFO: a stand-in's
# plumbing, kept out of the demo's and the tests' logs (its warnings still show).
_LOG = logging.getLogger("notifier.sandbox.slack_socket")
_LOG.setLevel(logging.WARNING)


class SocketModeStandin:
    """`start()`, `stop()`; `url()` is a fresh one-time URL, as apps.connections.open
    answers."""

    def __init__(self, resend_after: float = 0.0) -> None:
        self.resend_after = resend_after
        self._lock = threading.Lock()
        self._open: list[ServerConnection] = []
        self._acks: list[str] = []
        self._received: list[Any] = []
        self._tickets = itertools.count(1)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.connects = 0  # websocket connections accepted so far
        self.port = 0

    def start(self) -> SocketModeStandin:
        self._server = serve(self._serve, "127.0.0.1", self.port, logger=_LOG)
        self.port = int(self._server.socket.getsockname()[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            conn.close()
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket={next(self._tickets)}"

    @property
    def connected(self) -> int:
        """Connections open now."""
        with self._lock:
            return len(self._open)

    @property
    def acks(self) -> list[str]:
        with self._lock:
            return list(self._acks)

    @property
    def received(self) -> list[Any]:
        """Every message a client sent (acks included), parsed."""
        with self._lock:
            return list(self._received)

    def _serve(self, conn: ServerConnection) -> None:
        with self._lock:
            self._open.append(conn)
            self.connects += 1
        try:
            conn.send(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": self.connected,
                        "connection_info": {"app_id": "A0STANDIN"},
                        "debug_info": {"host": "standin", "approximate_connection_time": 3600},
                    }
                )
            )
            for raw in conn:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                with self._lock:
                    self._received.append(message)
                    if isinstance(message, dict) and "envelope_id" in message:
                        self._acks.append(str(message["envelope_id"]))
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if conn in self._open:
                    self._open.remove(conn)

    def send_envelope(self, payload: dict[str, Any], envelope_id: str | None = None) -> str:
        """Send a click (`interactive` envelope) to the newest connection; its id. With
        `resend_after`, sent again until it is acknowledged."""
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": "interactive",
            "accepts_response_payload": False,
            "payload": payload,
        }
        try:
            self._newest().send(json.dumps(envelope))
        except (LookupError, ConnectionClosed):
            if self.resend_after <= 0:
                raise  # no redelivery asked for: the caller learns it was not sent
        if self.resend_after > 0:
            threading.Thread(target=self._resend, args=(envelope,), daemon=True).start()
        return envelope_id

    def _resend(self, envelope: dict[str, Any]) -> None:
        for _ in range(5):
            time.sleep(self.resend_after)
            if envelope["envelope_id"] in self.acks:
                return
            try:
                self._newest().send(json.dumps(envelope))
            except (LookupError, ConnectionClosed):
                continue  # between connections: the next try finds the new one

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's `disconnect` on the newest connection, then the socket closed."""
        conn = self._newest()
        try:
            conn.send(json.dumps({"type": "disconnect", "reason": reason}))
        finally:
            conn.close()

    def _newest(self) -> ServerConnection:
        with self._lock:
            if not self._open:
                raise LookupError("no Socket Mode client is connected")
            return self._open[-1]


__all__ = ["SocketModeStandin"]
