"""A static file server for the browser demo and the in-browser drift check.

Binds to 127.0.0.1 only. Each URL prefix maps to one folder; a request whose path has
`..` (or `.`) segments, or that resolves outside its folder (a symlink pointing out), is
refused with 403, and every method but GET and HEAD with 405. Nothing is ever written.
"""
from __future__ import annotations

import sys
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

HOST = "127.0.0.1"


class StaticHandler(SimpleHTTPRequestHandler):
    def __init__(self, *args, routes: dict[str, Path], **kwargs):
        self.routes = routes  # "/model/" -> folder; "/" is the fallback
        super().__init__(*args, directory=str(routes["/"]), **kwargs)

    def send_head(self):
        target = self.resolve(self.path)
        if target is None:
            self.send_error(HTTPStatus.FORBIDDEN, "path outside the served folders")
            return None
        return self._send_file(target)

    def resolve(self, url: str) -> Path | None:
        """The file a URL names, or None when it would leave its folder."""
        path = unquote(urlsplit(url).path)
        segments = path.split("/")
        if any(s in ("..", ".") or "\\" in s or "\0" in s for s in segments):
            return None
        prefix = max((p for p in self.routes if path.startswith(p)), key=len)
        root = self.routes[prefix].resolve()
        target = root.joinpath(*[s for s in path[len(prefix):].split("/") if s]).resolve()
        if target != root and root not in target.parents:
            return None  # a symlink pointing out of the folder
        return target / "index.html" if target.is_dir() else target

    def _send_file(self, target: Path):
        if not target.is_file():
            self.send_error(HTTPStatus.NOT_FOUND)
            return None
        handle = open(target, "rb")
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", self.guess_type(str(target)))
        self.send_header("Content-Length", str(target.stat().st_size))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        return handle

    def _refuse(self):
        self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "only GET and HEAD")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def log_message(self, format, *args):  # quiet: the CLI prints the URL once
        pass


StaticHandler.extensions_map = {**SimpleHTTPRequestHandler.extensions_map,
                                ".wasm": "application/wasm", ".js": "text/javascript",
                                ".json": "application/json", ".bin": "application/octet-stream"}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A page that reloads or closes mid-download resets its connection: not worth a
        # traceback on the terminal (socketserver prints one for any error).
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def start(routes: dict[str, Path], port: int = 0) -> ThreadingHTTPServer:
    """Serve `routes` on 127.0.0.1 in a background thread; port 0 picks a free one."""
    server = Server((HOST, port), partial(StaticHandler, routes=routes))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def url(server: ThreadingHTTPServer, path: str = "/") -> str:
    return f"http://{HOST}:{server.server_address[1]}{path}"
