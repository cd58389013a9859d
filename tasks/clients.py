"""For clients: the settings to reach the server and the Tailscale ACL snippet, written locally."""

from pathlib import Path

from pyinfra import host

from facts.pool import current_pool
from facts.target import current
from operations import local_files
from private_ollama.desired_state.files import client_files

mac = current()

local_files.written(
    name="[admin laptop] Ensure the client settings and the Tailscale ACL snippet are written",
    directory=str(Path(mac.settings.client_settings_dir) / host.name),
    render=lambda: (tailnet := mac.tailnet()) and client_files(mac.settings, tailnet, current_pool(mac)),
)
