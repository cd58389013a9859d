"""The daemon: a Unix socket that runs launchctl commands, and the supervisor of all jobs.

Callers are known by SO_PEERCRED (their real uid), so permissions are the
kernel's word, not the client's. The protocol is one JSON line each way:
``{"argv": [...], "cwd": "/dir"}`` in, ``{"status": N, "stdout": "...",
"stderr": "..."}`` out. The daemon is a child subreaper, reaps every child,
and on SIGTERM/SIGINT stops every job (SIGTERM, then SIGKILL) before it exits.

.. code:: python

    serve(Path("/var/run/launchd-standin.sock"), Path("/var/db/launchd-standin"),
          library=Path("/Library"), var_folders=Path("/var/folders"))
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import struct
import sys
import traceback
from pathlib import Path

from . import commands
from .loop import EventLoop
from .registry import Launchd

PR_SET_CHILD_SUBREAPER = 36
SESSION_POLL_S = 0.5  # how soon a GUI login/logout in the gui-sessions file takes effect
# launchctl sends its request right after connecting; on a loaded machine it can be descheduled
# in between for seconds, and a request cut off by this makes a command fail for no reason.
REQUEST_TIMEOUT_S = 10.0
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def serve(socket_path: Path, state_dir: Path, library: Path, var_folders: Path) -> None:
    state_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
    # Orphaned grandchildren (a job's workers) come to us, so none is left a zombie.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    loop = EventLoop()
    launchd = Launchd(state_dir, library, var_folders, loop)
    stopping = False

    wake_read, wake_write = socket.socketpair()
    for end in (wake_read, wake_write):
        end.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    for number in (signal.SIGCHLD, *STOP_SIGNALS):
        signal.signal(number, lambda *_: None)  # the wakeup fd carries the signal to the loop

    listener = _listen(socket_path)

    def on_signals() -> None:
        nonlocal stopping
        received = set(wake_read.recv(256))
        _reap(launchd)
        if received & STOP_SIGNALS and not stopping:
            stopping = True
            loop.unwatch(listener)
            listener.close()
            socket_path.unlink(missing_ok=True)
            launchd.unload_all()

    loop.watch(wake_read, on_signals)
    loop.watch(listener, lambda: _answer(launchd, listener))
    launchd.boot()
    print(f"launchd: serving {socket_path}", file=sys.stderr, flush=True)
    loop.run(until=lambda: stopping and not launchd.processes, every=SESSION_POLL_S, tick=lambda: stopping or launchd.sync_sessions())


def _listen(path: Path) -> socket.socket:
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    os.chmod(path, 0o666)  # every user may ask; what they may do is decided per request
    listener.listen(64)
    listener.setblocking(False)
    return listener


def _reap(launchd: Launchd) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        job = launchd.processes.get(pid)
        if job is not None:
            job.reaped(status)


def _answer(launchd: Launchd, listener: socket.socket) -> None:
    try:
        connection, _ = listener.accept()
    except BlockingIOError:
        return
    connection.settimeout(REQUEST_TIMEOUT_S)
    try:
        _, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        request = json.loads(connection.makefile("rb").readline())
        caller = commands.Caller(uid=uid, cwd=request.get("cwd") or "/")
        result = commands.run(launchd, caller, [str(argument) for argument in request["argv"]])
    except (OSError, ValueError, KeyError, TypeError):
        connection.close()  # not a launchctl client
        return
    except Exception:  # a bug here must not take the lab's launchd down
        traceback.print_exc()
        result = commands.Reply(1, stderr="launchd stand-in: internal error (see its log)\n")
    if isinstance(result, commands.Deferred):
        result.on_reply(lambda reply: _send(connection, reply))
    else:
        _send(connection, result)


def _send(connection: socket.socket, reply: commands.Reply) -> None:
    try:
        connection.sendall(json.dumps(reply.__dict__).encode() + b"\n")
    except OSError:
        pass  # the client gave up waiting
    finally:
        connection.close()
