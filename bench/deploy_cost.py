"""Section 4: what a deploy and a drift check cost, on a lab started for the bench.

One lab with the most hosts of ``plan.lab_hosts`` (its own state dir, any free
slot, taken down at the end). Host 1 converges first, alone; then the others at
once. Then, in rounds: a no-change re-apply of host 1, the drift check
(``python -m private_ollama drift``) of the first 1, 4, 16 ... hosts, the same dry run on host 1
profiled as deployed and with Nagle's algorithm back on, and the SSH floor
(``true``, Nagle on and off). Each
run's wall time is measured from outside, with the share of the machine's cores
busy meanwhile (the lab's hosts run on this machine's cores too).

.. code:: python

    results = measure(FULL, Path("build/bench-lab"))
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import busy_between, cpu_sample
from bench.plan import Plan
from bench.ssh_round_trip import round_trips
from bench.stats import spread
from bench.where_time_goes import phases
from private_ollama.commands.drift import LOCAL_OPERATION_PREFIX

ROOT = Path(__file__).resolve().parent.parent
LABCTL = str(ROOT / "lab" / "labctl")
INVENTORY = "bench/lab_inventory.py"
TARGET_DRIFT_S = 3.0  # drift check of one converged host
TARGET_SCALING = 2.0  # 16 hosts at most 2x one host


def _timed(argv: list[str], env: dict[str, str], timeout: float = 600) -> dict:
    """Run ``argv`` from the project root; its wall time, exit code, local CPU and the machine's busy share."""
    cpu_before, children_before, spawned = cpu_sample(), resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    wall, children = time.time() - spawned, resource.getrusage(resource.RUSAGE_CHILDREN)
    local_cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    return {"wall_s": wall, "exit_code": done.returncode, "local_cpu_s": local_cpu,
            "machine_busy": busy_between(cpu_before, cpu_sample()), "spawned": spawned,
            "stdout": done.stdout, "stderr": done.stderr}


def _on_admin_laptop(name: str) -> bool:
    """An operation on the admin laptop's own files, which the drift check does not count as a host's change
    either (and which another lab with the same host names may have rewritten meanwhile)."""
    return name.split(" | ")[-1].startswith(LOCAL_OPERATION_PREFIX)


class BenchLab:
    """The bench's own lab: its state dir, its environment, the runs made against it."""

    def __init__(self, state_dir: Path, hosts: int):
        self.state_dir, self.hosts = state_dir, hosts
        self.base_env = {name: value for name, value in os.environ.items()
                         if name not in ("PRIVATE_OLLAMA_LAB_SLOT", "TAILSCALE_AUTHKEY", "BENCH_NAGLE")}
        self.base_env["PRIVATE_OLLAMA_LAB_DIR"] = str(state_dir)

    def labctl(self, *args: str) -> dict:
        run = _timed([LABCTL, *args], self.base_env)
        if run["exit_code"] != 0 and args[0] == "up":
            raise RuntimeError(f"lab/labctl up failed: {run['stdout']}{run['stderr']}")
        return run

    def env(self, hosts: int, authkey: bool = False, nagle: bool = False) -> dict[str, str]:
        env = {**self.base_env, "BENCH_LAB_HOSTS": str(hosts), "BENCH_NAGLE": "1" if nagle else "0"}
        if authkey:
            env["TAILSCALE_AUTHKEY"] = (self.state_dir / "authkey").read_text().strip()
        return env

    def pyinfra(self, hosts: int, *args: str, authkey: bool = False, nagle: bool = False,
                keep_round_trips: bool = False) -> dict:
        """pyinfra on the first ``hosts`` hosts, profiled (bench.profiled_pyinfra); fails loudly if it failed."""
        with tempfile.NamedTemporaryFile(suffix=".json") as profile:
            env = {**self.env(hosts, authkey, nagle), "BENCH_PROFILE": profile.name}
            run = _timed([sys.executable, "-m", "bench.profiled_pyinfra", INVENTORY, "deploy.py", "--json", *args], env)
            if run["exit_code"] != 0:
                raise RuntimeError(f"pyinfra {' '.join(args)} on {hosts} host(s) failed:\n{run['stderr'][-3000:]}")
            recorded = json.loads(Path(profile.name).read_text())
        result = json.loads(run.pop("stdout"))
        run.pop("stderr")
        run["hosts"] = hosts
        run["phases"] = phases(recorded, run.pop("spawned"))
        run["changed_operations"] = sorted({op["name"] for op in (result.get("results") or {}).get("operations", [])
                                            if op["success"] and not _on_admin_laptop(op["name"])})
        if keep_round_trips:
            run["round_trips"] = recorded["round_trips"]
        return run

    def drift(self, hosts: int) -> dict:
        """``python -m private_ollama drift`` on the first ``hosts`` hosts: the drift check exactly as CI runs it."""
        run = _timed([sys.executable, "-m", "private_ollama", "drift", "--inventory", INVENTORY], self.env(hosts))
        run["hosts"], run["converged"] = hosts, run["exit_code"] == 0
        for noise in ("stdout", "stderr", "spawned"):
            run.pop(noise)
        return run


def _ssh_floor(lab: dict, count: int) -> dict[str, list[float]]:
    """Milliseconds of ``true`` over SSH to host 1, with Nagle's algorithm on and off, back to back."""
    return {label: [seconds * 1000 for seconds in round_trips(lab, lab["hosts"][0], count, no_delay)]
            for label, no_delay in (("nagle", False), ("no_delay", True))}


def measure(plan: Plan, state_dir: Path) -> dict:
    lab = BenchLab(state_dir, max(plan.lab_hosts))
    lab.labctl("down")  # a lab left behind by an interrupted bench
    try:
        up = lab.labctl("up", "--hosts", str(lab.hosts))
        info = json.loads((state_dir / "lab.json").read_text())
        first = lab.pyinfra(1, "-y", authkey=True)
        others = lab.pyinfra(lab.hosts, "-y", authkey=True) if lab.hosts > 1 else None
        rounds = []
        for _ in range(plan.deploy_repeats):
            rounds.append({
                "reapply": lab.pyinfra(1, "-y", keep_round_trips=not rounds),
                "drift": {str(count): lab.drift(count) for count in plan.lab_hosts},
                "dry_run": lab.pyinfra(1, "--dry"),
                "dry_run_nagle": lab.pyinfra(1, "--dry", nagle=True),
                "ssh_true_ms": _ssh_floor(info, plan.ssh_round_trips),
            })
    finally:
        down = lab.labctl("down")
    return {
        "lab": {"hosts": lab.hosts, "up_s": up["wall_s"], "down_s": down["wall_s"], "slot": info.get("slot")},
        "first_converge": first,
        "first_converge_others": others,
        "rounds": rounds,
        "summary": summarise(rounds, plan),
    }


def summarise(rounds: list[dict], plan: Plan) -> dict:
    one = str(plan.lab_hosts[0])
    drift = {
        count: {
            "wall_s": spread([r["drift"][count]["wall_s"] for r in rounds]),
            "ratio_to_one": spread([r["drift"][count]["wall_s"] / r["drift"][one]["wall_s"] for r in rounds]),
            "machine_busy": spread([r["drift"][count]["machine_busy"] for r in rounds]),
            "local_cpu_s": spread([r["drift"][count]["local_cpu_s"] for r in rounds]),
            "all_converged": all(r["drift"][count]["converged"] for r in rounds),
        }
        for count in map(str, plan.lab_hosts)
    }
    return {
        "reapply_wall_s": spread([r["reapply"]["wall_s"] for r in rounds]),
        "reapply_changed": sorted({name for r in rounds for name in r["reapply"]["changed_operations"]}),
        "drift": drift,
        "dry_run_wall_s": spread([r["dry_run"]["wall_s"] for r in rounds]),
        "dry_run_nagle_wall_s": spread([r["dry_run_nagle"]["wall_s"] for r in rounds]),
        "nagle_costs_s": spread([r["dry_run_nagle"]["wall_s"] - r["dry_run"]["wall_s"] for r in rounds]),
        "ssh_true_ms": {label: spread([ms for r in rounds for ms in r["ssh_true_ms"][label]])
                        for label in ("nagle", "no_delay")},
    }


def targets(summary: dict, plan: Plan) -> list[dict]:
    one, most = str(plan.lab_hosts[0]), str(plan.lab_hosts[-1])
    drift_one = summary["drift"][one]["wall_s"]["median"]
    ratio = summary["drift"][most]["ratio_to_one"]["median"]
    return [
        {"target": f"drift check of one converged host <= {TARGET_DRIFT_S} s", "measured": drift_one,
         "met": drift_one <= TARGET_DRIFT_S},
        {"target": f"drift check of {most} hosts <= {TARGET_SCALING}x one host", "measured": ratio,
         "met": ratio <= TARGET_SCALING},
    ]
