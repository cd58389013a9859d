"""A tiny streaming "Ollama" for the streaming measure (standard library, asyncio).

It streams like Ollama, SSE on ``POST /v1/chat/completions`` and NDJSON on
``POST /api/chat``, one chunk per token on a fixed schedule (request time +
k x interval, so a late chunk does not push the next ones back), each token
stamped with ``sent_ns=``, its send time. ``GET /api/version`` answers HAProxy's
health check; a non-streamed chat completion gets one canned answer. Unlike the
lab's stand-in (a thread per connection and Python's default listen backlog of
5), it takes many simultaneous streams as Ollama's Go server does, so that what
is measured is the proxy.

    python -m bench.stream_backend PORT INTERVAL_MS      # until SIGTERM

A request sets its chunk count as clients do: ``max_tokens`` or ``options.num_predict``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

VERSION = json.dumps({"version": "0.14.3"}).encode()
# A non-streamed answer (a gateway's warm-up asks for one): Ollama's OpenAI-compatible shape.
COMPLETION = json.dumps({"id": "chatcmpl-bench", "object": "chat.completion", "created": 1764000000,
                         "model": "llama3.2:latest", "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "token"}}],
                         "usage": {"prompt_tokens": 26, "completion_tokens": 1, "total_tokens": 27}}).encode()


def chunk_count(body: dict) -> int:
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    return int(body.get("max_tokens") or options.get("num_predict") or 5)


def frames(path: str, model: str, index: int, last: bool) -> bytes:
    """Chunk ``index`` of a stream, as Ollama frames it on ``path``, its token stamped with the send time
    (in the text, which a gateway passes on as it is, where it may rebuild the rest of the chunk)."""
    token = f" sent_ns={time.time_ns()}"
    if path == "/api/chat":
        return json.dumps({"model": model, "created_at": "2026-11-26T09:00:00Z",
                           "message": {"role": "assistant", "content": token}, "done": last}).encode() + b"\n"
    event = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764000000, "model": model,
             "system_fingerprint": "fp_ollama",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": token},
                          "finish_reason": "stop" if last else None}]}
    return b"data: " + json.dumps(event).encode() + b"\n\n" + (b"data: [DONE]\n\n" if last else b"")


def http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def stream(writer: asyncio.StreamWriter, path: str, body: dict, interval_s: float) -> None:
    """The answer to ``body``: its model, as many chunks as it asks for."""
    count, model = chunk_count(body), str(body.get("model", ""))
    kind = "application/x-ndjson" if path == "/api/chat" else "text/event-stream"
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    await writer.drain()
    started = time.monotonic()
    for index in range(count):
        await asyncio.sleep(max(0.0, started + (index + 1) * interval_s - time.monotonic()))
        writer.write(http_chunk(frames(path, model, index, index == count - 1)))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


def streams(path: str, body: dict) -> bool:
    """As Ollama: /api/chat streams unless told not to, /v1/chat/completions only when asked to."""
    return body.get("stream", True) is not False if path == "/api/chat" else body.get("stream") is True


async def reply(writer: asyncio.StreamWriter, status: str, payload: bytes) -> None:
    writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                 .encode() + payload)
    await writer.drain()


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, interval_s: float) -> None:
    try:
        while head := await reader.readuntil(b"\r\n\r\n"):
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            if method == "POST" and path in ("/v1/chat/completions", "/api/chat") and streams(path, json.loads(body)):
                await stream(writer, path, json.loads(body), interval_s)
            elif method == "POST" and path == "/v1/chat/completions":
                await reply(writer, "200 OK", COMPLETION)
            elif (method, path) == ("GET", "/api/version"):
                await reply(writer, "200 OK", VERSION)
            else:
                await reply(writer, "404 Not Found", b"404 page not found")
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client went away
    finally:
        writer.close()


async def main(port: int, interval_ms: int) -> None:
    server = await asyncio.start_server(lambda r, w: serve_connection(r, w, interval_ms / 1000), "127.0.0.1", port,
                                        backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
