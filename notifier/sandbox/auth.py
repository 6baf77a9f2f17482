"""JWT-looking tokens, issued and checked the way djangorestframework-jwt does.

Tokens are real HS256 JWTs (header.payload.signature, base64url) carrying `exp` when
a lifetime is set, so a client that reads `exp` sees a plausible value. Each carries
a serial number; `expire_all` moves a watermark so every token issued so far fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Issues and verifies admin tokens; thread-safe."""

    def __init__(self, username: str, ttl: float | None = None) -> None:
        self.username = username
        self.ttl = ttl
        self._key = os.urandom(32)
        self._lock = threading.Lock()
        self._serial = 0
        self._valid_from = 1

    def issue(self) -> str:
        """A fresh token for the admin user."""
        with self._lock:
            self._serial += 1
            serial = self._serial
        now = int(time.time())
        payload: dict[str, object] = {
            "user_id": 1,
            "username": self.username,
            "email": f"{self.username}@sandbox.example",
            "orig_iat": now,
            "jti": serial,
        }
        if self.ttl is not None:
            payload["exp"] = now + int(self.ttl)
        head = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        sig = _b64(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}"

    def expire_all(self) -> None:
        """Make every token issued so far invalid; later logins work."""
        with self._lock:
            self._valid_from = self._serial + 1

    def check(self, token: str) -> str | None:
        """None when valid, else the `detail` message the real API gives."""
        try:
            head, body, sig = token.split(".")
            expected = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(_unb64(sig), expected):
                return "Error decoding signature."
            payload = json.loads(_unb64(body))
        except (ValueError, TypeError):
            return "Error decoding signature."
        exp = payload.get("exp")
        with self._lock:
            revoked = payload.get("jti", 0) < self._valid_from
        if revoked or (isinstance(exp, int) and exp <= time.time()):
            return "Signature has expired."
        return None
