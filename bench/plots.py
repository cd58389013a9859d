"""One PNG per section of docs/benchmarks.md, drawn from a results file (matplotlib, no display).

.. code:: python

    names = draw_all(results, Path("docs/benchmarks"))   # {"proxy_overhead": "proxy-overhead.png", ...}
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the backend

COLOURS = [matplotlib.colormaps["tab10"](index) for index in range(10)]


def _bars(axis, groups: list[str], series: dict[str, list[float | None]], ylabel: str, log: bool = False) -> None:
    """Grouped bars: one group per x label, one bar per series (None: not measured)."""
    width = 0.8 / max(len(series), 1)
    for index, (name, values) in enumerate(series.items()):
        xs = [group + index * width for group, value in enumerate(values) if value is not None]
        axis.bar(xs, [value for value in values if value is not None], width, label=name,
                 color=COLOURS[index % len(COLOURS)])
    axis.set_xticks([group + width * (len(series) - 1) / 2 for group in range(len(groups))], groups)
    axis.set_ylabel(ylabel)
    if log:
        axis.set_yscale("log")
    axis.grid(axis="y", alpha=0.3)


def _caption(figure, results: dict, title: str) -> None:
    box, versions = results["machine"], results["versions"]
    figure.suptitle(title, fontsize=12)
    figure.text(0.01, 0.005, f"{box['cores']} cores {box['cpu_model']}, kernel {box['kernel']}; "
                f"HAProxy {versions['haproxy']}, nginx {versions['nginx']}, pyinfra {versions['pyinfra']}; "
                f"{results['date']}{' (quick run)' if results['quick'] else ''}", fontsize=7, color="#555555")


def _legend(figure, axis, columns: int = 4) -> None:
    """One legend for the figure, below the plots, where it hides no bar."""
    handles, labels = axis.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.03), ncol=columns, fontsize=8,
                  frameon=False)


def _save(figure, path: Path, bottom: float = 0.12) -> str:
    figure.tight_layout(rect=(0, bottom, 1, 0.95))
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path.name


def proxy_overhead(results: dict, path: Path, rows: list[dict], title: str, log_rps: bool = False) -> str:
    """p50 latency and throughput per request and concurrency; ``log_rps`` when ways differ by orders of
    magnitude."""
    requests = list(dict.fromkeys(row["request"] for row in rows))
    levels = sorted({row["concurrency"] for row in rows})
    names = list(dict.fromkeys(row["variant"] for row in rows))
    figure, axes = plt.subplots(2, len(requests), figsize=(max(6 * len(requests), 10), 7), squeeze=False)
    for column, request in enumerate(requests):
        cell = {(row["concurrency"], row["variant"]): row for row in rows if row["request"] == request}
        for line, (measure, label) in enumerate((("p50_ms", "p50 latency (ms, log)"),
                                                  ("rps", "requests/s" + (" (log)" if log_rps else "")))):
            series = {name: [cell[(level, name)][measure]["median"] if (level, name) in cell else None
                             for level in levels] for name in names}
            _bars(axes[line][column], [f"concurrency {level}" for level in levels], series, label,
                  log=line == 0 or log_rps)
            axes[line][column].set_title(request, fontsize=10)
    _legend(figure, axes[0][0], columns=min(len(names), 3 if len(requests) == 1 else 4))
    _caption(figure, results, title)
    return _save(figure, path, bottom=0.06 + 0.025 * ((len(names) + 3) // 4))


def streaming(results: dict, path: Path) -> str:
    rows = results["sections"]["streaming"]["summary"]
    cells = list(dict.fromkeys((row["format"], row["streams"]) for row in rows))
    names = list(dict.fromkeys(row["variant"] for row in rows))
    by = {(row["format"], row["streams"], row["variant"]): row for row in rows}
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, measure in zip(axes, ("delay_p50_ms", "delay_p99_ms"), strict=True):
        series = {name: [by[(form, count, name)][measure]["median"] for form, count in cells] for name in names}
        _bars(axis, [f"{form}\n{count} stream(s)" for form, count in cells], series,
              f"per-chunk delay {measure.split('_')[1]} (ms, log)", log=True)
    _legend(figure, axes[0])
    _caption(figure, results, "Streaming: per-chunk delay, send to arrival (median of rounds)")
    return _save(figure, path)


def deploy(results: dict, path: Path) -> str:
    section = results["sections"]["deploy"]
    drift = section["summary"]["drift"]
    counts = list(drift)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for round_ in section["rounds"]:
        axes[0].scatter([int(c) for c in counts], [round_["drift"][c]["wall_s"] for c in counts], color="#999999", s=12)
    axes[0].plot([int(c) for c in counts], [drift[c]["wall_s"]["median"] for c in counts], marker="o",
                 color=COLOURS[0], label="median")
    axes[0].plot([int(counts[0]), int(counts[-1])], [drift[counts[0]]["wall_s"]["median"] * 2] * 2, linestyle="--",
                 color=COLOURS[3], label="target: 2x one host")
    axes[0].set_xlabel("lab hosts checked at once")
    axes[0].set_ylabel("drift check wall time (s)")
    axes[0].set_xscale("log", base=2)
    axes[0].set_xticks([int(c) for c in counts], counts)
    axes[0].minorticks_off()
    axes[0].legend(fontsize=8)
    axes[0].grid(alpha=0.3)
    summary = section["summary"]
    labels = ["first converge", "no-change re-apply", "drift check", "dry run", "dry run, Nagle back on"]
    values = [section["first_converge"]["wall_s"], summary["reapply_wall_s"]["median"],
              drift[counts[0]]["wall_s"]["median"], summary["dry_run_wall_s"]["median"],
              summary["dry_run_nagle_wall_s"]["median"]]
    axes[1].barh(labels, values, color=COLOURS[1])
    axes[1].axvline(3.0, linestyle="--", color=COLOURS[3], label="target: drift check 3 s")
    axes[1].set_xlabel("wall time, one host (s)")
    axes[1].invert_yaxis()
    axes[1].legend(fontsize=8)
    _caption(figure, results, "Deploy and drift check on lab hosts")
    return _save(figure, path, bottom=0.04)


def where_time_goes(results: dict, path: Path) -> str:
    phases = results["sections"]["where_time_goes"]["phases"]
    parts = (("startup_s", "Python + pyinfra import"), ("load_s", "CLI, inventory, settings"),
             ("connect_s", "SSH connect"), ("remote_s", "remote round trips"), ("local_s", "pyinfra's own work"))
    figure, axis = plt.subplots(figsize=(10, 3.8))
    runs = list(phases)
    left = [0.0] * len(runs)
    for index, (key, label) in enumerate(parts):
        widths = [phases[run][key]["median"] for run in runs]
        axis.barh([phases[run]["about"] for run in runs], widths, left=left, label=label,
                  color=COLOURS[index % len(COLOURS)])
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axis.invert_yaxis()
    axis.set_xlabel("seconds (median of rounds), one host")
    _legend(figure, axis, columns=5)
    _caption(figure, results, "Where a no-change run's time goes")
    return _save(figure, path, bottom=0.14)


def pool_hop(results: dict, path: Path) -> str:
    section = results["sections"]["pool_hop"]
    names = [way["name"] for way in section["ways"]]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, rows, level, measure, label in (
            (axes[0], section["requests"], "concurrency", "p50_ms", "request p50 latency (ms)"),
            (axes[1], section["streams"], "streams", "delay_p99_ms", "per-chunk delay p99 (ms)")):
        levels = sorted({row[level] for row in rows})
        by = {(row[level], row["variant"]): row[measure]["median"] for row in rows}
        _bars(axis, [f"{level} {value}" for value in levels],
              {name: [by.get((value, name)) for value in levels] for name in names}, label)
    axes[0].set_title("POST /v1/chat/completions", fontsize=10)
    axes[1].set_title("SSE stream", fontsize=10)
    _legend(figure, axes[0], columns=2)
    _caption(figure, results, "A pool's hop: a member without the model forwards to the holder (median of rounds)")
    return _save(figure, path)


def draw_all(results: dict, folder: Path) -> dict[str, str]:
    """Every section's PNG in ``folder``; section name -> file name (none for a section without data)."""
    folder.mkdir(parents=True, exist_ok=True)
    proxy_rows = [row for row in results["sections"]["proxy_overhead"]["summary"]
                  if row not in results["sections"]["hardening_knobs"]["summary"]]
    drawn = {
        "proxy_overhead": proxy_overhead(results, folder / "proxy-overhead.png", proxy_rows,
                                         "Proxy overhead: small requests (median of rounds)"),
        "streaming": streaming(results, folder / "streaming.png"),
        "deploy": deploy(results, folder / "deploy.png"),
        "where_time_goes": where_time_goes(results, folder / "where-time-goes.png"),
        "pool_hop": pool_hop(results, folder / "pool-hop.png"),
        "gateways": proxy_overhead(results, folder / "gateways.png", results["sections"]["gateways"]["requests"],
                                   "Beside LiteLLM's proxy: a small chat completion (median of rounds)", log_rps=True),
    }
    knob_rows = results["sections"]["hardening_knobs"]["summary"]
    if knob_rows:
        base = [row for row in proxy_rows if row["variant"] == "rendered"]
        drawn["hardening_knobs"] = proxy_overhead(results, folder / "hardening-knobs.png", base + knob_rows,
                                                  "Hardening knobs, one at a time (median of rounds)")
    return drawn
