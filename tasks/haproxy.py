"""HAProxy: the allowlist config, checked by haproxy -c, served on the Tailscale address;
the files it reads (error bodies, with API keys on the key hashes, in a pool its
routes and listings) installed first; with the access log on, the log kept private
and rotated. In a pool, the members change one at a time."""

from pyinfra.operations import files

from facts.pool import current_pool
from facts.target import current
from operations import haproxy, launchd, logs, private_files
from private_ollama.desired_state.files import (
    access_log_path,
    api_key_map_path,
    haproxy_config,
    haproxy_files,
    haproxy_job,
    plist_bytes,
    pool_files,
)
from private_ollama.desired_state.pool import Pool

mac = current()
settings, layout = mac.settings, mac.layout

for folder in (layout.errors_dir, *([layout.pool_dir] if settings.proxy_pool else [])):
    files.directory(name=f"Ensure {folder} exists", path=folder, mode="700")
private_files.installed(
    name="Ensure the files HAProxy reads are installed (error bodies, API key hashes, pool routes), "
         "readable by the service only",
    render=lambda: haproxy_files(settings, layout, current_pool(mac)),
    # What another apply's settings installed: the key hashes of keys turned off, a pool left.
    absent=[api_key_map_path(layout), *pool_files(layout, Pool("", ()))],
)

haproxy.config_live(
    name="Ensure the HAProxy allowlist config is valid and live",
    path=layout.haproxy_config,
    render=lambda: (tailnet := mac.tailnet()) and haproxy_config(settings, layout, tailnet, current_pool(mac)),
    haproxy=layout.brew_bin("haproxy"),
    job_target=layout.service_target("haproxy"),
    **mac.rolling_args,
)

if settings.proxy_access_log:
    # Before the job starts: launchd would create it readable by all.
    files.file(name="Ensure the access log is readable by the service only", path=access_log_path(layout), mode="600")
    logs.rotated(
        name="Ensure the access log is rotated once over proxy_access_log_max_bytes",
        path=access_log_path(layout),
        max_bytes=settings.proxy_access_log_max_bytes,
        keep=settings.proxy_access_log_keep,
    )

launchd.job_loaded(
    name="Ensure HAProxy runs as a launchd job on the Tailscale address",
    target=layout.service_target("haproxy"),
    plist_path=layout.plist_path("haproxy"),
    plist=plist_bytes(haproxy_job(settings, layout)),
    **mac.plist_owner,
    **mac.root_args,
    **mac.rolling_args,
)
