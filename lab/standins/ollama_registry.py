#!/usr/bin/python3
"""registry.ollama.ai in the lab: the catalogue's manifests and blobs over HTTPS (Python standard library only).

    ollama_registry.py --listen 127.65.0.1:443 --cert registry.pem --key registry.key \\
        [--hosts-file /etc/hosts] [--state /run/ollama-registry.state]

It answers what Ollama and curl ask of the real registry (Docker's registry API v2),
for the models of ``ollama_catalogue``, over HTTP/1.1 with keep-alive and TLS
(the certificate given: the lab CA's, for registry.ollama.ai):

- ``GET|HEAD /v2/<namespace>/<model>/manifests/<tag or digest>``: the manifest's
  exact bytes, ``Content-Type: application/vnd.docker.distribution.manifest.v2+json``
  and ``Docker-Content-Digest``; an unknown name or tag is a 404 with
  ``{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"<tag>"}}]}``.
- ``GET|HEAD /v2/<namespace>/<model>/blobs/sha256:<hex>``: a blob of one of that
  repository's models, ``Content-Length`` its real size; ``Range: bytes=a-b``
  gives a 206 (416 when it cannot be satisfied); any other blob is a 404
  ``BLOB_UNKNOWN``. Bodies are sent as they are read: a client that reads a few
  KiB of a 20 GB blob and hangs up costs what it read.
- anything else: 404 ``NOT_FOUND``; methods other than GET and HEAD: 501.

Reachability follows the host's name service. With ``--hosts-file``, the
registry listens only while that file maps registry.ollama.ai to the
``--listen`` address; when the line goes (``labctl registry offline``), it
stops listening and cuts every open connection within 0.2 s, as a network that
went away; when the line is back, it listens again. Without ``--hosts-file`` it
always listens (the tests on loopback). ``--state`` is rewritten (whole) with
``listening`` or ``offline`` once each change is done, so a switch can wait for
it. Each request is one line on stderr: client, method, path, status, range,
user agent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import ollama_catalogue as catalogue

NAME = "registry.ollama.ai"
POLL_S = 0.2
CHUNK = 64 * 1024
ROUTE = re.compile(r"/v2/(?P<repository>[^/]+/[^/]+)/(?P<kind>manifests|blobs)/(?P<reference>[^/]+)")
RANGE = re.compile(r"bytes=(\d+)-(\d*)")


def registry_error(code: str, message: str, detail: object) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message, "detail": detail}]},
                      separators=(",", ":")).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RegistryServer

    def version_string(self) -> str:
        return "cloudflare"  # what the real registry's front says

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass  # cut while flushing

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, with_body: bool) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        route = ROUTE.fullmatch(path)
        if route is None:
            self._send(404, registry_error("NOT_FOUND", "not found", None), "application/json", with_body)
        elif route["kind"] == "manifests":
            self._manifest(route["repository"], route["reference"], with_body)
        else:
            self._blob(route["repository"], route["reference"], with_body)

    def _manifest(self, repository: str, reference: str, with_body: bool) -> None:
        model = catalogue.find(repository, reference) or next(
            (model for model in catalogue.CATALOGUE if model.repository == repository
             and reference == "sha256:" + hashlib.sha256(model.manifest()).hexdigest()), None)
        if model is None:
            body = registry_error("MANIFEST_UNKNOWN", "manifest unknown", {"Tag": reference})
            self._send(404, body, "application/json", with_body)
            return
        manifest = model.manifest()
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        self._send(200, manifest, catalogue.MANIFEST_MEDIA_TYPE, with_body, {"Docker-Content-Digest": digest})

    def _blob(self, repository: str, digest: str, with_body: bool) -> None:
        found = catalogue.blob(repository, digest)
        if found is None:
            self._send(404, registry_error("BLOB_UNKNOWN", "blob unknown to registry", digest), "application/json",
                       with_body)
            return
        model, layer = found
        start, stop, status = 0, layer.size, 200
        asked = self.headers.get("Range")
        if asked:
            wanted = RANGE.fullmatch(asked.strip())
            if wanted is None or int(wanted[1]) >= layer.size:
                self._send(416, b"", None, with_body, {"Content-Range": f"bytes */{layer.size}"})
                return
            start, status = int(wanted[1]), 206
            stop = min(int(wanted[2]) + 1, layer.size) if wanted[2] else layer.size
        headers = {"Accept-Ranges": "bytes", "Docker-Content-Digest": digest}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{layer.size}"
        self._head(status, stop - start, "application/octet-stream", headers)
        position = start
        while with_body and position < stop:
            piece = catalogue.blob_bytes(model, layer, position, min(position + CHUNK, stop))
            self.wfile.write(piece)
            position += len(piece)

    def _send(self, status: int, body: bytes, content_type: str | None, with_body: bool,
              headers: dict[str, str] | None = None) -> None:
        self._head(status, len(body), content_type, headers or {})
        if with_body:
            self.wfile.write(body)

    def _head(self, status: int, length: int, content_type: str | None, headers: dict[str, str]) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        stamp = datetime.now().strftime("%Y-%m-%dT%H:%M:%S.%f")
        words = self.requestline.split()
        sys.stderr.write(f"{stamp} {self.client_address[0]} {' '.join(words[:2])} {code} "
                         f"range={self.headers.get('Range', '-')} ua={self.headers.get('User-Agent', '-')}\n")
        sys.stderr.flush()


class RegistryServer(ThreadingHTTPServer):
    """The HTTPS listener; TLS handshakes happen in each connection's thread, never in the accepting one."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        self.context = context
        self.open: set[socket.socket] = set()
        self.open_lock = threading.Lock()
        super().__init__(address, Handler)

    def get_request(self) -> tuple[socket.socket, tuple]:
        connection, client = self.socket.accept()
        return self.context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), client

    def track(self, connection: socket.socket, is_open: bool) -> None:
        with self.open_lock:
            (self.open.add if is_open else self.open.discard)(connection)

    def cut(self) -> None:
        """Stop listening and end every open connection, as when the network goes."""
        self.shutdown()
        self.server_close()
        with self.open_lock:
            connections = list(self.open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        """One line for a connection that failed (a handshake refused, say); none for a client hanging up."""
        error = sys.exception()
        if not isinstance(error, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError):
            sys.stderr.write(f"{client_address[0]} connection failed: {type(error).__name__}: {error}\n")


def listed(hosts_file: Path, address: str) -> bool:
    """Whether the hosts file maps the registry's name to ``address``."""
    try:
        lines = hosts_file.read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if fields[:1] == [address] and NAME in (name.lower() for name in fields[1:]):
            return True
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description="registry.ollama.ai in the lab")
    parser.add_argument("--listen", required=True, help="address:port")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--hosts-file", type=Path, help="listen only while this file names the registry")
    parser.add_argument("--state", type=Path, help="holds listening or offline, once it is so")
    options = parser.parse_args()
    host, _, port = options.listen.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(options.cert, options.key)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    server: RegistryServer | None = None
    said = None
    while True:
        wanted = options.hosts_file is None or listed(options.hosts_file, host)
        if wanted and server is None:
            try:
                server = RegistryServer((host, int(port)), context)
            except OSError as error:
                sys.stderr.write(f"cannot listen on {options.listen}: {error}\n")
            else:
                threading.Thread(target=server.serve_forever, daemon=True).start()
                sys.stderr.write(f"listening on {options.listen} as {NAME}\n")
        elif not wanted and server is not None:
            server.cut()
            server = None
            sys.stderr.write(f"{NAME} is gone from {options.hosts_file}: not listening, connections cut\n")
        state = "listening" if server else "offline"
        if options.state and state != said:
            staged = options.state.with_name(f"{options.state.name}.new")
            staged.write_text(f"{state}\n")
            staged.replace(options.state)
            said = state
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main())
