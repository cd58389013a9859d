"""pyinfra's own CLI, with every remote round trip timed and named by its fact or operation.

Wraps pyinfra's ``Host`` (connect, run_shell_command, put_file, get_file), so it
counts what really crosses SSH whatever the connector does, and writes one JSON
file: the run's start, end and exit code, and one record per round trip.

.. code:: console

    $ BENCH_PROFILE=build/p.json python -m bench.profiled_pyinfra lab/inventory.py deploy.py --dry
    $ BENCH_PROFILE=build/p.json BENCH_NAGLE=1 python -m bench.profiled_pyinfra ...

``BENCH_NAGLE=1`` turns Nagle's algorithm back on (paramiko's default) on the
SSH socket before each round trip, undoing ``tasks/connection.py``: what that
cut saves is measured in section 5.
"""

from __future__ import annotations

import contextvars
import json
import os
import socket
import sys
import time
from functools import wraps

from pyinfra.api import facts
from pyinfra.api.host import Host

STARTED = time.time()
_records: list[dict] = []
_fact = contextvars.ContextVar("fact", default=(None, None))  # (fact class, its arguments)


def _operation(host: Host) -> str | None:
    """The operation a round trip serves: the one executing, or the one being planned (facts read
    while pyinfra iterates an operation to see whether it would change anything); None at top level."""
    op_hash = host.executing_op_hash or host.current_op_hash
    return " | ".join(sorted(host.state.get_op_meta(op_hash).names)) if op_hash else None


def _timed(kind: str, method):
    @wraps(method)
    def timed(host: Host, *args, **kwargs):
        began = time.time()
        try:
            return method(host, *args, **kwargs)
        finally:
            fact, fact_args = _fact.get()
            _records.append({"host": host.name, "kind": kind, "fact": fact, "fact_args": fact_args,
                             "operation": _operation(host), "start": began - STARTED, "seconds": time.time() - began})
    return timed


def _named_fact(get_fact):
    @wraps(get_fact)
    def named(state, host, cls, args=None, kwargs=None, *rest, **options):
        token = _fact.set((cls.__name__, repr(sorted((kwargs or {}).items())) if kwargs else repr(args or [])))
        try:
            return get_fact(state, host, cls, args, kwargs, *rest, **options)
        finally:
            _fact.reset(token)
    return named


def _with_nagle(method):
    @wraps(method)
    def delayed(host: Host, *args, **kwargs):
        client = getattr(host.connector, "client", None)
        if client is not None:
            client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        return method(host, *args, **kwargs)
    return delayed


def instrument(nagle: bool) -> None:
    """Patch pyinfra in this process: time each round trip; optionally put Nagle's algorithm back on."""
    Host.connect = _timed("connect", Host.connect)
    Host.run_shell_command = _timed("command", Host.run_shell_command)
    Host.put_file = _timed("upload", Host.put_file)
    Host.get_file = _timed("download", Host.get_file)
    facts._get_fact = _named_fact(facts._get_fact)
    if nagle:
        for name in ("run_shell_command", "put_file", "get_file"):
            setattr(Host, name, _with_nagle(getattr(Host, name)))


def main() -> None:
    from pyinfra_cli.main import main as pyinfra_main

    instrument(os.environ.get("BENCH_NAGLE") == "1")
    code = 1
    try:
        sys.argv[0] = "pyinfra"
        pyinfra_main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        with open(os.environ["BENCH_PROFILE"], "w") as out:
            json.dump({"started": STARTED, "ended": time.time(), "exit_code": code, "round_trips": _records}, out)
    sys.exit(code)


if __name__ == "__main__":
    main()
