"""A fast fixed-response "Ollama" for the proxy measure: nginx on 127.0.0.1 answering
canned bodies, so that the backend does not hide what the proxy costs.

One worker, and a connection cap (``worker_connections``) the results state:
above it nginx closes idle keep-alive connections to make room ("worker_connections
are not enough, reusing connections").

.. code:: python

    with running_nginx(workdir, connection_cap=32) as port:
        ...  # GET /api/tags and POST /v1/chat/completions on 127.0.0.1:port
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.proxies import MODEL
from tests.proxy.processes import free_port, spawn, stop, wait_until
from tests.proxy.standin import answers, load_standin_module

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
CHAT_REQUEST = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})


def canned_bodies() -> dict[str, str]:
    """The body of each answered path: the stand-in's model list, and a short chat completion."""
    standin = load_standin_module()
    completion = {
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1764000000, "model": MODEL,
        "system_fingerprint": "fp_ollama",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(standin.WORDS)},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 26, "completion_tokens": len(standin.WORDS), "total_tokens": 35},
    }
    return {
        "/api/tags": standin.tags(None).body.decode(),
        "/api/version": json.dumps({"version": standin.VERSION}),
        "/v1/chat/completions": json.dumps(completion, separators=(",", ":")),
    }


def nginx_config(workdir: Path, port: int, connection_cap: int) -> str:
    """One worker, no logs, keep-alive without limit, an exact location per canned body."""
    locations = []
    for path, body in canned_bodies().items():
        if any(char in body for char in "'$\\"):
            raise ValueError(f"the canned body of {path} holds a character nginx would interpret")
        locations.append(f"    location = {path} {{ default_type application/json; return 200 '{body}'; }}")
    temp = "\n".join(f"  {kind}_temp_path {workdir}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections {connection_cap}; }}
http {{
  access_log off;
{temp}
  keepalive_requests 100000000;
  server {{
    listen 127.0.0.1:{port};
{chr(10).join(locations)}
  }}
}}
"""


@contextmanager
def running_nginx(workdir: Path, connection_cap: int) -> Iterator[int]:
    """nginx on a free loopback port until the block ends; yields the port."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "nginx.conf"
    config.write_text(nginx_config(workdir, port, connection_cap))
    process = spawn([NGINX, "-p", str(workdir), "-c", str(config)], workdir / "nginx.out")
    try:
        wait_until(lambda: answers(port, "/api/version"), f"nginx answers on 127.0.0.1:{port}")
        yield port
    finally:
        stop(process)
