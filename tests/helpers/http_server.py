"""A tiny HTTP server on 127.0.0.1 for download tests: Range support, 404s, cut connections."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes
    status: int = 200
    cut_after: int | None = None  # close the connection after this many body bytes...
    cuts_left: int = 0  # ...for this many requests
    honour_range: bool = True
    requests: list[str] = field(default_factory=list)  # Range headers seen ("" when none)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        route = self.server.routes.get(self.path)  # type: ignore[attr-defined]
        if route is None or route.status == 404:
            self._plain(404, b"not found")
            return
        route.requests.append(self.headers.get("Range", ""))
        if route.status != 200:
            self._plain(route.status, b"error")
            return
        body, start = route.body, 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if m and route.honour_range:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if route.cut_after is not None and route.cuts_left > 0:
            route.cuts_left -= 1
            self.wfile.write(payload[: route.cut_after])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(payload)

    def _plain(self, status: int, text: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)


class LocalServer:
    """Serve :class:`Route` objects at paths on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.routes = {}  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, path: str, route: Route) -> str:
        self.httpd.routes[path] = route  # type: ignore[attr-defined]
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"
