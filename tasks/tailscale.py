"""Tailscale: the daemon runs and the node is logged in to the tailnet."""

import os

from facts.target import current
from operations import tailscale

mac = current()
settings = mac.settings

if not mac.tailscale_app:
    tailscale.daemon_running(
        name="Ensure tailscaled runs as a system daemon",
        cli=mac.tailscale_cli,
        tailscaled=mac.layout.brew_bin("tailscaled"),
        _sudo=True,
    )

tailscale.logged_in(
    name="Ensure the Mac is logged in to the tailnet",
    cli=mac.tailscale_cli,
    hostname=settings.tailscale_hostname,
    tags=settings.tailscale_tags,
    auth_key=os.environ.get(settings.tailscale_auth_key_env),
    auth_key_env=settings.tailscale_auth_key_env,
)
