"""Packages: Ollama, HAProxy and (unless the Tailscale app is there) the tailscale formula."""

from pyinfra.operations import brew

from facts.target import current

mac = current()

brew.packages(
    name="Ensure Ollama, HAProxy and Tailscale are installed with Homebrew",
    packages=mac.formulae,
)
