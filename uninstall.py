"""Remove the private Ollama server from a Mac: boot out and remove both launchd
jobs, the HAProxy config and key hashes, and the logs (the access log says who
asked what). Models and Homebrew packages stay unless
uninstall_remove_models / uninstall_remove_packages say otherwise.

    pyinfra inventory.py uninstall.py
    pyinfra inventory.py uninstall.py --data uninstall_remove_packages=true
"""

from pyinfra import local
from pyinfra.operations import brew, files

from facts.target import current
from operations import launchd

local.include("tasks/connection.py")

mac = current()
settings, layout = mac.settings, mac.layout

for service in ("haproxy", "ollama"):
    launchd.job_absent(
        name=f"Ensure the {service} launchd job is gone",
        target=layout.service_target(service),
        plist_path=layout.plist_path(service),
        **mac.root_args,
    )

for directory in (layout.config_dir, layout.log_dir):
    files.directory(name=f"Ensure {directory} is gone", path=directory, present=False)

if settings.uninstall_remove_models:
    files.directory(name=f"Ensure the models in {layout.models_dir} are gone", path=layout.models_dir, present=False)

if settings.uninstall_remove_packages:
    brew.packages(name="Ensure the Homebrew packages are gone", packages=mac.formulae, present=False)
