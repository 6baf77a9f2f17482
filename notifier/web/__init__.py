"""The notifier's HTTP server (contract section 9): `/healthz`, `/readyz`, `/metrics`,
and the place Testpress's webhooks are served from.

`notifier run` starts it when `NOTIFIER_HTTP_ADDR` is set (the composition root,
`notifier.runtime.compose`, builds it); only `runtime/` and above import it. It is an
ASGI application (Starlette, `asgi.py`) served by uvicorn on a thread of its own
(`http.py`), with uvicorn's h11 protocol hardened for the public internet (`wire.py`).
Handlers are plain and synchronous (`messages.py`): they know nothing of ASGI.

Adding an endpoint (e.g. `POST /webhooks/testpress/exam`): write a handler that takes a
`Request` and returns a `Response`, and register it before `start()`:

    from notifier.web.http import HttpServer, Request, Response

    def exam_webhook(request: Request) -> Response:
        try:
            payload = request.json()          # ValueError: not (UTF-8) JSON
        except ValueError:
            return Response.json(400, {"error": "the body is not JSON"})
        ...
        return Response.json(200, {"ok": True})

    server.route("POST", "/webhooks/testpress/exam", exam_webhook)

- Paths are matched exactly (the query string is in `request.query`); an unknown path
  is 404, a known path with another method 405 with `Allow`; a GET route answers HEAD.
- The body is read before the handler runs and never exceeds the route's `max_body`
  (default 1 MiB): a larger `Content-Length` is answered 413 and a body without one
  (chunked) 411, unread, without calling the handler. A client that does not deliver
  the whole request within `Limits.request_timeout` (5 s) of its first byte is
  disconnected, a connection idle for `Limits.idle_timeout` (30 s) is closed, and one
  that stops reading its answer is dropped after `Limits.write_timeout` (10 s).
- A malformed request never reaches a handler: a request line over the limit is 414,
  headers over it 431, a malformed line 400, an HTTP version other than 1.0 and 1.1
  505, a `Content-Length` that is not plain digits (or two that differ) 400.
- Thousands of idle or slow connections cost memory, not threads: they wait on the
  event loop, and at the connection cap the one that has waited longest on its client
  makes room for a new one.
- `request.headers` has lower-cased names. Handlers run on a bounded thread pool
  (`Limits.handler_threads`), so they may block briefly (a store write), but must be
  thread-safe: open what they need per call or guard it.
- An exception in a handler is answered 500 without detail and logged in one line
  (type, message, where), never with a traceback; nor does any request log one.

A later route set (the console) is mounted on the same Starlette app: `server.app`
(`server.app.mount("/console", console_app)`).

`service.service_server(...)` binds the server with the three service endpoints and
returns it unstarted: push endpoints are added to it with `route`, then `start()`.
"""
