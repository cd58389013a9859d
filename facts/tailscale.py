"""Facts about Tailscale on the Mac: is it installed, running, logged in, and as what."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any, TypedDict

from pyinfra import logger
from pyinfra.api import FactBase
from typing_extensions import override

from facts import split_exit_status, with_exit_status

_NOT_EXECUTABLE = "__not_executable"


class TailscaleState(TypedDict):
    installed: bool
    daemon_running: bool
    backend_state: str | None
    ipv4: str | None
    ipv6: str | None
    dns_name: str | None
    hostname: str | None
    tags: list[str]
    magicdns_suffix: str | None
    peers: dict[str, str]  # the other nodes' MagicDNS names (no trailing dot) -> their Tailscale IPv4
    error: str | None


class TailscaleStatus(FactBase[TailscaleState]):
    """
    What ``tailscale status --json`` says about this node. ``daemon_running`` is
    True when tailscaled answered, whatever its ``backend_state`` (``Running``,
    ``NeedsLogin``, ``Stopped``...). ``dns_name`` is the MagicDNS name without
    the trailing dot.

    + cli: absolute path of the CLI: ``/opt/homebrew/bin/tailscale`` (formula) or
      ``/Applications/Tailscale.app/Contents/MacOS/Tailscale`` (app)

    .. code:: python

        {
            "installed": True, "daemon_running": True, "backend_state": "Running",
            "ipv4": "100.101.102.103", "ipv6": "fd7a:115c:a1e0::a01:2b3c",
            "dns_name": "remote-ollama.tail1234.ts.net", "hostname": "remote-ollama",
            "tags": ["tag:ai-server"], "magicdns_suffix": "tail1234.ts.net",
            "peers": {"mac-mini.tail1234.ts.net": "100.101.102.104"}, "error": None,
        }
    """

    @override
    def command(self, cli: str) -> str:
        quoted = shlex.quote(cli)
        # The app binary runs as the GUI app unless TAILSCALE_BE_CLI is set.
        status = with_exit_status(f"TAILSCALE_BE_CLI=1 {quoted} status --json")
        return f"if [ -x {quoted} ]; then {status}; else echo {_NOT_EXECUTABLE}; fi"

    @staticmethod
    def default() -> TailscaleState:
        return TailscaleState(
            installed=False, daemon_running=False, backend_state=None, ipv4=None, ipv6=None,
            dns_name=None, hostname=None, tags=[], magicdns_suffix=None, peers={}, error=None,
        )

    @override
    def process(self, output: list[str]) -> TailscaleState:
        if output == [_NOT_EXECUTABLE]:
            return self.default()
        split = split_exit_status(output, "TailscaleStatus")
        if split is None:
            return self.default()
        lines, status = split

        state = self.default()
        state["installed"] = True
        json_lines, messages = _split_json(lines)
        if status != 0 or not json_lines:
            # tailscaled unreachable, or the CLI failed before asking it.
            state["error"] = messages[0] if messages else f"tailscale exited with status {status}"
            if status == 0:
                logger.warning(f"TailscaleStatus: no JSON in output {lines[:3]!r}")
            return state

        for message in messages:
            logger.warning(f"TailscaleStatus: {message}")
        state["daemon_running"] = True
        text = "\n".join(json_lines)
        try:
            status_json = json.loads(text)
        except json.JSONDecodeError as error:
            logger.warning(f"TailscaleStatus: status JSON does not parse ({error}); reading BackendState only")
            backend = re.search(r'"BackendState":\s*"([^"]*)"', text)
            state["backend_state"] = backend[1] if backend else None
            return state
        state.update(_from_status_json(status_json))
        return state


def _split_json(lines: list[str]) -> tuple[list[str], list[str]]:
    """The indented JSON object (from a ``{`` line to the last ``}`` line) and the other lines (stderr)."""
    try:
        start = lines.index("{")
    except ValueError:
        return [], [line for line in lines if line.strip()]
    ends = [index for index, line in enumerate(lines) if line.startswith("}")]
    end = ends[-1] + 1 if ends and ends[-1] > start else len(lines)
    return lines[start:end], [line for line in lines[:start] + lines[end:] if line.strip()]


def _from_status_json(status: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``ipnstate.Status`` the deploy needs; JSON nulls and "" become None."""
    node = status.get("Self") or {}
    addresses = status.get("TailscaleIPs") or []
    tailnet = status.get("CurrentTailnet") or {}
    return {
        "backend_state": status.get("BackendState") or None,
        "ipv4": next((address for address in addresses if "." in address), None),
        "ipv6": next((address for address in addresses if ":" in address), None),
        "dns_name": (node.get("DNSName") or "").rstrip(".") or None,
        "hostname": node.get("HostName") or None,
        "tags": list(node.get("Tags") or []),
        # MagicDNSSuffix at the top level is deprecated in favour of CurrentTailnet's.
        "magicdns_suffix": tailnet.get("MagicDNSSuffix") or status.get("MagicDNSSuffix") or None,
        "peers": {
            (peer.get("DNSName") or "").rstrip("."): ipv4
            for peer in (status.get("Peer") or {}).values()
            if peer.get("DNSName") and (ipv4 := next((a for a in peer.get("TailscaleIPs") or [] if "." in a), None))
        },
    }
