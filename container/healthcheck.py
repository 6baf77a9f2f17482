"""The image's HEALTHCHECK: GET /healthz on the notifier's own HTTP server.

Standard library only, since slim base images have no curl. Follows
NOTIFIER_HTTP_ADDR, so a container that moves the port stays checked; a wildcard host
(0.0.0.0, ::, empty) is reached on loopback. Exits 0 on a 200 and 1 otherwise, with
the reason on standard output, where `docker inspect` and `podman healthcheck run` show it.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def healthz_url(addr: str) -> str:
    """`host:port` (as NOTIFIER_HTTP_ADDR) -> the loopback-reachable /healthz URL."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"NOTIFIER_HTTP_ADDR: expected host:port, got {addr!r}")
    if host in WILDCARDS:
        host = "[::1]" if host.startswith("[") or host == "::" else "127.0.0.1"
    return f"http://{host}:{port}/healthz"


def main() -> int:
    addr = os.environ.get("NOTIFIER_HTTP_ADDR", "")
    if not addr:
        print("NOTIFIER_HTTP_ADDR is empty: the notifier serves no /healthz")
        return 1
    try:
        url = healthz_url(addr)
    except ValueError as exc:
        print(exc)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            print(f"{url}: {response.status}")
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        print(f"{url}: {exc.code} {exc.read(2000).decode('utf-8', 'replace')}")
    except OSError as exc:
        print(f"{url}: {exc}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
