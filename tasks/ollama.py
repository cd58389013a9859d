"""Ollama: `ollama serve` as a launchd job on loopback, and nothing else on its port."""

from pyinfra.operations import files

from facts.target import current
from operations import launchd
from private_ollama.desired_state.files import ollama_job, plist_bytes

mac = current()
settings, layout = mac.settings, mac.layout

for directory, mode in ((layout.config_dir, "700"), (layout.log_dir, "755")):
    files.directory(name=f"Ensure {directory} exists", path=directory, mode=mode)
files.directory(name=f"Ensure {layout.plist_dir} exists", path=layout.plist_dir, **mac.root_args)

launchd.port_released(
    name=f"Ensure nothing else holds {settings.ollama_listen_address}:{settings.ollama_port}",
    address=settings.ollama_listen_address,
    port=settings.ollama_port,
    owner_target=layout.service_target("ollama"),
    squatter_domain=f"gui/{layout.uid}",
)

launchd.job_loaded(
    name="Ensure Ollama runs as a launchd job on loopback",
    target=layout.service_target("ollama"),
    plist_path=layout.plist_path("ollama"),
    plist=plist_bytes(ollama_job(settings, layout)),
    **mac.plist_owner,
    **mac.root_args,
    **mac.rolling_args,
)
