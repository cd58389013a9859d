"""Preflight: read facts only, change nothing, and stop the whole run with every
problem found (and its remedy) before any host is touched. The remedies live here."""

import os

from pyinfra import host, logger
from pyinfra.api.exceptions import DeployError

from facts.launchd import LaunchdDomain
from facts.once import read
from facts.pool import current_pool
from facts.port_holders import port_holders
from facts.privileges import PasswordlessSudo
from facts.tailscale import TailscaleStatus
from facts.target import current
from private_ollama.desired_state.files import routing_expression_problem
from private_ollama.desired_state.models import human_bytes

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
        "or set homebrew_prefix to where it is",
    )

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
    problems.append(
        f"Tailscale on this Mac is not logged in (state: {tailscale['backend_state'] or 'unknown'}) and "
        f"{settings.tailscale_auth_key_env} is not set on the admin laptop. Create an auth key in the Tailscale "
        "admin console (Settings > Keys, tagged with the node's tags), then run again with "
        f"`export {settings.tailscale_auth_key_env}=tskey-auth-...`. The key is only sent to the Mac's tailscale CLI.",
    )

for holder in port_holders(settings.ollama_listen_address, settings.ollama_port, layout.service_target("ollama")):
    if holder["label"] is None:
        problems.append(
            f"{holder['command']} (pid {holder['pid']}) holds {holder['address']}:{settings.ollama_port} and was not "
            "started by launchd in this user's domain, so the deploy will not stop it: quit it "
            "(for Ollama.app: quit it and remove it from System Settings > General > Login Items), "
            "then run the deploy again",
        )

if settings.ollama_models or settings.ollama_models_dir:
    found = mac.models()
    volume = found["volume"]
    # An external disk is mounted under /Volumes/<name>; detached, its folder is on the internal disk (or absent),
    # and Ollama would start on an empty store and pull everything there.
    parts = layout.models_dir.split("/")
    disk = "/".join(parts[:3]) if layout.models_dir.startswith("/Volumes/") else None
    if volume is None:
        problems.append(f"cannot tell which disk holds the models folder {layout.models_dir} (df could not say)")
    elif disk and volume["mount"] != disk and not volume["mount"].startswith(f"{disk}/"):
        problems.append(
            f"the models folder {layout.models_dir} is on {disk}, which is not mounted (its nearest folder is on "
            f"{volume['mount']}): attach the disk, or set ollama_models_dir, and run again. Nothing was pulled: "
            "Ollama must not start on an empty folder and fill the internal disk",
        )
    pulls = [model for model in settings.declared_models if model.key not in found["models"]]
    unknown = [model for model in pulls if found["manifests"].get(model.key, {}).get("status") == 404]
    for model in unknown:
        problems.append(
            f"{model.shortest} is not in the registry (its manifest is a 404; `ollama pull` would say: pull model "
            "manifest: file does not exist): check the name and tag in ollama_models (ollama.com/library)",
        )
    sizes = {model.shortest: found["manifests"].get(model.key, {}).get("size") for model in pulls if model not in unknown}
    for name in [name for name, size in sizes.items() if size is None]:
        logger.warning(f"{host.name}: cannot tell the size of {name} before pulling it (the registry did not answer)")
    needed = sum(size for size in sizes.values() if size)
    if volume and needed > volume["available"]:
        short = (f"the models to pull ({', '.join(sizes)}) need {human_bytes(needed)}, and the models volume "
                 f"({volume['mount']}) has {human_bytes(volume['available'])} free: free space there, set "
                 "ollama_models_dir to a larger disk, or declare fewer models")
        if found["reachable"]:
            problems.append(short)
        else:  # Ollama is not up yet, so what is installed is unknown: some of these may already be there
            logger.warning(f"{host.name}: {short} (unless some are installed already)")

if problem := routing_expression_problem(settings, current_pool(mac)):
    problems.append(problem)

if problems:
    raise DeployError(f"preflight failed on {host.name}; nothing was changed:\n  - " + "\n  - ".join(problems))
