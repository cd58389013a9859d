"""Preflight: read facts only, change nothing, and stop the whole run with every
problem found (and its remedy) before any host is touched."""

import os

from pyinfra import host, logger
from pyinfra.api.exceptions import DeployError

from desired_state.target import current
from facts.launchd import LaunchdDomain
from facts.once import read
from facts.privileges import PasswordlessSudo
from facts.tailscale import TailscaleStatus
from operations.launchd import foreign_holder_remedy, port_holders
from operations.tailscale import not_logged_in_remedy

mac = current()
settings, layout, facts = mac.settings, mac.layout, mac.mac
problems = []

if facts["product_name"] != "macOS":
    problems.append(f"this is not macOS (sw_vers says {facts['product_name']!r}): the deploy targets a Mac")
elif (facts["major"] or 0) < settings.macos_min_version:
    problems.append(
        f"macOS {facts['product_version']} is older than {settings.macos_min_version}: "
        "update macOS, or lower macos_min_version at your own risk",
    )
if facts["arch"] != "arm64":
    logger.warning(f"{host.name}: {facts['arch']} is not Apple Silicon: Ollama will run on the CPU, slowly")
if facts["uid"] == 0:
    problems.append("the SSH user is root: deploy as the Mac's own (admin) user, the services run as that user")
if not (facts["home"] or "").startswith("/"):
    problems.append(f"the SSH user's home directory is unknown ({facts['home']!r}): check the account on the Mac")
if not mac.homebrew_present:
    problems.append(
        f"Homebrew is not at {settings.homebrew_prefix}: install it (https://brew.sh), "
        "or set homebrew_prefix (and _env's PATH) to where it is",
    )
elif not host.data.get("_env", {}).get("PATH", "").startswith(f"{settings.homebrew_prefix}/bin:"):
    problems.append(f"_env's PATH must start with {settings.homebrew_prefix}/bin: (see group_data/all.py)")

if layout.needs_root:
    if not read(PasswordlessSudo):
        problems.append(
            "service_mode is 'daemon', which installs LaunchDaemons as root, but sudo asks for a "
            "password: allow it for this user (a sudoers rule), or use service_mode 'agent'",
        )
elif not read(LaunchdDomain, domain=layout.domain)["available"]:
    problems.append(
        f"the launchd domain {layout.domain} does not exist: {layout.user} has no GUI login "
        "session, so LaunchAgents cannot run (usual over SSH on a headless Mac). Either turn on "
        "automatic login for this user (System Settings > Users & Groups) and reboot, or set "
        "service_mode = 'daemon' to run the services as LaunchDaemons at boot",
    )

tailscale = read(TailscaleStatus, cli=mac.tailscale_cli)
if tailscale["backend_state"] != "Running" and not os.environ.get(settings.tailscale_auth_key_env):
    problems.append(not_logged_in_remedy(tailscale["backend_state"], settings.tailscale_auth_key_env))

for holder in port_holders(settings.ollama_listen_address, settings.ollama_port, layout.service_target("ollama")):
    if holder["label"] is None:
        problems.append(foreign_holder_remedy(holder, settings.ollama_port))

if problems:
    raise DeployError(f"preflight failed on {host.name}; nothing was changed:\n  - " + "\n  - ".join(problems))
