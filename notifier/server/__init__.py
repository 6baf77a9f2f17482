"""The notifier's HTTP server (contract section 9): `/healthz`, `/readyz`, `/metrics`,
and the place Testpress's webhooks are served from.

`notifier run` starts it when `NOTIFIER_HTTP_ADDR` is set; `cli.py` and `app.py` are the
only modules that may import this package.

Adding an endpoint (e.g. `POST /webhooks/testpress/exam`): write a handler that takes a
`Request` and returns a `Response`, and register it before `start()`:

    from notifier.server.http import HttpServer, Request, Response

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
  (chunked) 411, without calling the handler. A client that does not deliver the whole
  request within `Limits.request_timeout` seconds of its first byte is disconnected.
- `request.headers` has lower-cased names. Handlers run on the connection's own
  thread, so they may block briefly (a store write), but must be thread-safe: open
  what they need per call or guard it.
- An exception in a handler is logged and answered 500 without detail.

`service.service_server(...)` binds the server with the three service endpoints and
returns it unstarted: push endpoints are added to it with `route`, then `start()`.
"""
