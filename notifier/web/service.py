"""The service endpoints on an HttpServer: `/healthz`, `/readyz` and `/metrics`."""

from __future__ import annotations

from notifier.obs.liveness import Liveness
from notifier.obs.metrics import Metrics
from notifier.web.http import HttpServer, Limits, Request, Response


def add_service_routes(server: HttpServer, liveness: Liveness, metrics: Metrics) -> None:
    def healthz(request: Request) -> Response:
        verdict = liveness.health()
        return Response.json(200 if verdict.ok else 503, verdict.body)

    def readyz(request: Request) -> Response:
        verdict = liveness.readiness()
        return Response.json(200 if verdict.ok else 503, verdict.body)

    def scrape(request: Request) -> Response:
        body, content_type = metrics.exposition()
        return Response(200, body, content_type)

    server.route("GET", "/healthz", healthz)
    server.route("GET", "/readyz", readyz)
    server.route("GET", "/metrics", scrape)


def service_server(
    address: str, liveness: Liveness, metrics: Metrics, limits: Limits | None = None
) -> HttpServer:
    """A server bound to `address` with the service endpoints, not started yet (more
    routes may be added first). Raises AddressError when the address is invalid or
    cannot be bound."""
    server = HttpServer(address, limits)
    add_service_routes(server, liveness, metrics)
    return server
