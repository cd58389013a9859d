"""Bring a Mac into the desired state of a private Ollama server:

Ollama on loopback, HAProxy forwarding only an allowlist on the Tailscale
address, Tailscale deciding who reaches it. Idempotent: a second run changes
nothing.

    pyinfra inventory.py deploy.py          # apply
    pyinfra inventory.py deploy.py --dry    # plan only
"""

from pyinfra import local

local.include("tasks/connection.py")
local.include("tasks/preflight.py")
local.include("tasks/packages.py")
local.include("tasks/tailscale.py")
local.include("tasks/ollama.py")
local.include("tasks/haproxy.py")
local.include("tasks/models.py")
local.include("tasks/clients.py")
