"""Section 5: where a pyinfra run's time goes, from a ``bench.profiled_pyinfra`` profile.

.. code:: python

    phases(profile, spawned)["remote_s"]     # seconds in round trips on the slowest host
    breakdown(profile["round_trips"])        # per fact, per operation, repeated reads
"""

from __future__ import annotations

from bench.stats import spread

OUTSIDE_OPERATIONS = "(preflight and task files, outside operations)"


def phases(profile: dict, spawned: float) -> dict:
    """The run cut in phases: start-up, loading, connecting, round trips (slowest host), pyinfra's own work."""
    trips = profile["round_trips"]
    connects = [trip for trip in trips if trip["kind"] == "connect"]
    remote_by_host = {}
    for trip in trips:
        if trip["kind"] != "connect":
            remote_by_host[trip["host"]] = remote_by_host.get(trip["host"], 0.0) + trip["seconds"]
    run_s = profile["ended"] - profile["started"]
    before_connect = min((trip["start"] for trip in connects), default=run_s)
    connect_s = max((trip["seconds"] for trip in connects), default=0.0)
    remote_s = max(remote_by_host.values(), default=0.0)
    return {
        "startup_s": profile["started"] - spawned,  # Python and pyinfra's imports
        "load_s": before_connect,  # CLI, inventory (settings validated), until the first connect
        "connect_s": connect_s,
        "remote_s": remote_s,
        "local_s": run_s - before_connect - connect_s - remote_s,  # pyinfra's own work between and after
        "round_trips": len(trips) - len(connects),
        "round_trips_per_host": (len(trips) - len(connects)) / max(len(remote_by_host), 1),
    }


def breakdown(trips: list[dict]) -> dict:
    """Round trips and seconds per fact and per operation, and the reads that repeat an earlier one."""
    facts, operations, seen = {}, {}, set()
    repeated = {"count": 0, "seconds": 0.0}
    for trip in trips:
        if trip["kind"] == "connect":
            continue
        fact = trip["fact"] or f"({trip['kind']})"
        entry = facts.setdefault(fact, {"reads": 0, "seconds": 0.0, "arguments": set()})
        entry["reads"] += 1
        entry["seconds"] += trip["seconds"]
        entry["arguments"].add(trip["fact_args"])
        operation = operations.setdefault(trip["operation"] or OUTSIDE_OPERATIONS, {"round_trips": 0, "seconds": 0.0})
        operation["round_trips"] += 1
        operation["seconds"] += trip["seconds"]
        key = (trip["host"], trip["fact"], trip["fact_args"])
        if trip["fact"] and key in seen:
            repeated["count"] += 1
            repeated["seconds"] += trip["seconds"]
        seen.add(key)
    return {
        "facts": {name: {"reads": entry["reads"], "distinct_arguments": len(entry["arguments"]),
                         "seconds": entry["seconds"]}
                  for name, entry in sorted(facts.items(), key=lambda item: -item[1]["seconds"])},
        "operations": operations,
        "repeated_reads": repeated,
    }


def summarise(deploy: dict) -> dict:
    """Section 5 from section 4's runs: the no-change run's profile, its phases, and the measured cuts."""
    rounds = deploy["rounds"]
    runs = {"reapply": "no-change re-apply", "dry_run": "dry run (drift check's pyinfra)",
            "dry_run_nagle": "dry run, Nagle's algorithm back on"}
    return {
        "profile": breakdown(rounds[0]["reapply"]["round_trips"]),
        "phases": {name: {"about": about, **{phase: spread([r[name]["phases"][phase] for r in rounds])
                                             for phase in rounds[0][name]["phases"]}}
                   for name, about in runs.items()},
        "nagle_costs_s": deploy["summary"]["nagle_costs_s"],
        "ssh_true_ms": deploy["summary"]["ssh_true_ms"],
    }
