"""The Testpress client's GETs, sent straight through the httpx transport.

A backlog's first cycle makes one GET per attempt (20,000 for a mock exam's worth), and
`httpx.Client.request` spent about a third of each one's CPU on layers these GETs never
use: merging the base URL (two URL parses), headers, cookies and query parameters into a
new request, then auth, redirect and event-hook handling, and reading cookies out of
every response. Here the request is built once from the base URL's text, the path and
headers made once per token, and handed to the transport the client itself would pick
for the base URL (its connection pool, or the proxy the environment names), so pooling,
TLS, timeouts and proxies stay the client's.

What the client's layers did and these GETs do not: keep cookies the server sets (the
admin API authenticates with a JWT header, not a cookie) and log each request at INFO
on the `httpx` logger (which the notifier keeps at WARNING). Redirects were never
followed (`follow_redirects=False`): a 3xx comes back as it is, as before.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from notifier.events import JSONScalar


class DirectGet:
    """GETs on `client`'s base URL through its own transport, or None from `for_client`
    when this httpx does not say which transport that is (the client then sends)."""

    def __init__(self, client: httpx.Client, transport: httpx.BaseTransport):
        self._transport = transport
        self._prefix = str(client.base_url).rstrip("/")
        self._defaults = httpx.Headers(client.headers)
        self._extensions = {"timeout": client.timeout.as_dict()}
        self._headers: tuple[str | None, httpx.Headers] = (None, self._defaults)

    @classmethod
    def for_client(cls, client: httpx.Client) -> DirectGet | None:
        pick = getattr(client, "_transport_for_url", None)
        transport = pick(client.base_url) if callable(pick) else None
        if not isinstance(transport, httpx.BaseTransport):
            return None
        return cls(client, transport)

    def get(
        self, path: str, params: Mapping[str, JSONScalar] | None, token: str | None
    ) -> httpx.Response:
        """`GET path` (relative to the base URL, a query string allowed) with `params`
        and the token, read to the end: the same request the client would have sent."""
        request = httpx.Request(
            "GET",
            self._prefix + "/" + path.lstrip("/"),
            params=params,
            headers=self._headers_for(token),
            extensions=self._extensions,
        )
        response = self._transport.handle_request(request)
        response.request = request  # for `response.url`, as the client sets it
        try:
            response.read()
        finally:
            response.close()
        return response

    def _headers_for(self, token: str | None) -> httpx.Headers:
        """The client's default headers with the token's: made once per token (a login
        replaces it) and copied by each request, never changed in place."""
        cached_token, headers = self._headers  # one tuple: threads swap it whole
        if cached_token == token:
            return headers
        headers = httpx.Headers(self._defaults)
        if token:
            headers["Authorization"] = f"JWT {token}"
        self._headers = (token, headers)
        return headers
