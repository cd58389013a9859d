"""How long and how hard each section runs: the full run and the smoke run.

.. code:: python

    plan = FULL if not quick else QUICK
    plan.proxy_seconds   # length of one load run
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Plan:
    repeats: int  # interleaved rounds of every measure (A, B, C, A, B, C ...)
    proxy_seconds: int  # length of one wrk run (wrk takes whole seconds)
    concurrency: tuple[int, ...]  # simultaneous connections of the small-request measure
    backend_connection_cap: int  # nginx worker_connections: the backend's own limit
    stream_chunks: int  # chunks per stream
    stream_interval_ms: int  # pause before each chunk
    stream_counts: tuple[int, ...]  # simultaneous streams
    hop_concurrency: tuple[int, ...]  # simultaneous requests and streams through a pool's hop
    install_litellm: bool  # the gateway section installs LiteLLM's proxy if missing (else measures it only if there)
    lab_hosts: tuple[int, ...]  # host counts of the drift-check scaling (the lab has the largest)
    deploy_repeats: int  # rounds of re-apply and drift checks
    ssh_round_trips: int  # `true` commands per SSH round-trip measure

    def as_dict(self) -> dict:
        return asdict(self)


# About 16 minutes on 2 cores (plus LiteLLM's install, once); the quick run about two.
FULL = Plan(repeats=4, proxy_seconds=2, concurrency=(1, 16, 64), backend_connection_cap=32,
            stream_chunks=200, stream_interval_ms=10, stream_counts=(1, 32), hop_concurrency=(1, 16),
            install_litellm=True, lab_hosts=(1, 4, 16), deploy_repeats=3, ssh_round_trips=30)
QUICK = Plan(repeats=1, proxy_seconds=1, concurrency=(1, 64), backend_connection_cap=32,
             stream_chunks=20, stream_interval_ms=5, stream_counts=(1, 4), hop_concurrency=(1, 16),
             install_litellm=False, lab_hosts=(1, 2), deploy_repeats=1, ssh_round_trips=5)
