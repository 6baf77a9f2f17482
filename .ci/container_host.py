"""What runs on the host beside the containers: a webhook receiver and the sandbox."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from container_common import REPO, Failed


class Receiver:
    """A webhook receiver on loopback: records every POSTed JSON body and answers 200."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        Handler.disable_nagle_algorithm = True
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self) -> list[tuple[str, str, str]]:
        """(rule, channel, event key) of every alert received, repeats included."""
        with self.lock:
            return [(b["rule"], b["channel"], a["key"]) for b in self.bodies for a in b["alerts"]]

    def delivery_ids(self) -> list[str]:
        with self.lock:
            return [b["id"] for b in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SandboxProcess:
    """`notifier sandbox --port 0` from the repository's venv, on the host's loopback."""

    def __init__(self) -> None:
        notifier = REPO / ".venv/bin/notifier"
        self.proc = subprocess.Popen(
            [str(notifier), "sandbox", "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        found: dict[str, str] = {}
        for line in self.proc.stdout:
            if line.startswith("Sandbox institute at "):
                found["url"] = line.split(" at ", 1)[1].strip()
            elif ":" in line and line.startswith("  "):
                key, value = line.strip().split(":", 1)
                found[key] = value.strip()
            if "password" in found:
                break
        if "url" not in found or "password" not in found:
            self.proc.kill()
            raise Failed(f"the sandbox did not print its URL and credentials: {found}")
        self.url, self.username, self.password = found["url"], found["username"], found["password"]
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(
            self.url + path, json.dumps(data).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
        return answer

    def fail_an_attempt(self) -> str:
        """A student starts and fails an exam now; returns the attempt id (the event key)."""
        aid = self.post("/_sandbox/attempts", {})["id"]
        self.post(f"/_sandbox/attempts/{aid}/complete", {"result": "Fail", "percentage": 12.0})
        return str(aid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def http_text(url: str) -> str:
    """The body of a GET, or '' when there is none to be had."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode("utf-8", "replace"))
    except OSError:
        return ""
