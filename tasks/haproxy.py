"""HAProxy: the allowlist config, checked by haproxy -c, served on the Tailscale address."""

from desired_state.files import haproxy_config, haproxy_job, plist_bytes
from desired_state.target import current
from operations import haproxy, launchd

mac = current()
settings, layout = mac.settings, mac.layout

haproxy.config_live(
    name="Ensure the HAProxy allowlist config is valid and live",
    path=layout.haproxy_config,
    render=lambda: (tailnet := mac.tailnet()) and haproxy_config(settings, layout, tailnet),
    haproxy=layout.brew_bin("haproxy"),
    job_target=layout.service_target("haproxy"),
)

launchd.job_loaded(
    name="Ensure HAProxy runs as a launchd job on the Tailscale address",
    target=layout.service_target("haproxy"),
    plist_path=layout.plist_path("haproxy"),
    plist=plist_bytes(haproxy_job(settings, layout)),
    **mac.plist_owner,
    **mac.root_args,
)
