"""A tiny streaming "Ollama" for the streaming measure (standard library, asyncio).

It streams like Ollama, SSE on ``POST /v1/chat/completions`` and NDJSON on
``POST /api/chat``, one chunk per token on a fixed schedule (request time +
k x interval, so a late chunk does not push the next ones back), each stamped
with ``sent_ns``, its send time. ``GET /api/version`` answers HAProxy's health
check. Unlike the lab's stand-in (a thread per connection and Python's default
listen backlog of 5), it takes many simultaneous streams as Ollama's Go server
does, so that what is measured is the proxy.

    python -m bench.stream_backend PORT INTERVAL_MS      # until SIGTERM

A request sets its chunk count as clients do: ``max_tokens`` or ``options.num_predict``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

VERSION = json.dumps({"version": "0.14.3"}).encode()


def chunk_count(body: dict) -> int:
    options = body.get("options") if isinstance(body.get("options"), dict) else {}
    return int(body.get("max_tokens") or options.get("num_predict") or 5)


def frames(path: str, index: int, last: bool) -> bytes:
    """Chunk ``index`` of a stream, as Ollama frames it on ``path``, stamped now."""
    if path == "/api/chat":
        return json.dumps({"message": {"role": "assistant", "content": " token"}, "done": last,
                           "sent_ns": time.time_ns()}).encode() + b"\n"
    event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": " token"}}],
             "sent_ns": time.time_ns()}
    return b"data: " + json.dumps(event).encode() + b"\n\n" + (b"data: [DONE]\n\n" if last else b"")


def http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def stream(writer: asyncio.StreamWriter, path: str, count: int, interval_s: float) -> None:
    kind = "application/x-ndjson" if path == "/api/chat" else "text/event-stream"
    writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    await writer.drain()
    started = time.monotonic()
    for index in range(count):
        await asyncio.sleep(max(0.0, started + (index + 1) * interval_s - time.monotonic()))
        writer.write(http_chunk(frames(path, index, index == count - 1)))
        await writer.drain()
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, interval_s: float) -> None:
    try:
        while head := await reader.readuntil(b"\r\n\r\n"):
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            if method == "POST" and path in ("/v1/chat/completions", "/api/chat"):
                await stream(writer, path, chunk_count(json.loads(body)), interval_s)
            else:
                status = "200 OK" if (method, path) == ("GET", "/api/version") else "404 Not Found"
                payload = VERSION if status == "200 OK" else b"404 page not found"
                writer.write(f"HTTP/1.1 {status}\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
                await writer.drain()
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
