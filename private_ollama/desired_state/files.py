"""The files the deploy installs, rendered from settings and the host's facts.

A launchd job is data (label, argv, environment, keep-alive) turned into a plist
by ``plistlib``; the HAProxy config and the client files are jinja2 templates
rendered with ``StrictUndefined``. deploy.py, render.py and the tests all call
these functions, so what is tested is what is installed.

.. code:: python

    tailnet = Tailnet(ip="100.101.102.103", dns_name="remote-ollama.tail1234.ts.net")
    config = haproxy_config(settings, layout, tailnet)
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import plistlib
from dataclasses import dataclass
from typing import Any

import jinja2

from private_ollama import PROJECT
from private_ollama.desired_state import clients, model_filter
from private_ollama.desired_state.api_keys import KeyStore, haproxy_map
from private_ollama.desired_state.layout import MacLayout
from private_ollama.desired_state.pool import Pool
from private_ollama.desired_state.refusals import (
    HAPROXY_ERRORS,
    PARSER_ERRORS,
    PARSER_ERRORS_3X,
    REFUSALS,
    errorfile,
    refusals_map,
)
from private_ollama.desired_state.settings import Settings, SettingsError

TEMPLATES = PROJECT / "templates"

_jinja = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
)
_jinja.filters["tojson"] = json.dumps


@dataclass(frozen=True)
class Tailnet:
    """The Mac's identity in the tailnet: its IPv4 address and MagicDNS name."""

    ip: str
    dns_name: str  # full MagicDNS name, without the trailing dot

    def __post_init__(self) -> None:
        address = ipaddress.IPv4Address(self.ip)
        # Never a wildcard: a Tailscale address, or loopback for offline tests.
        if not (address in ipaddress.IPv4Network("100.64.0.0/10") or address.is_loopback):
            raise ValueError(f"{self.ip} is not a Tailscale (100.64.0.0/10) address")
        if not self.dns_name or self.dns_name.endswith(".") or " " in self.dns_name:
            raise ValueError(f"{self.dns_name!r} is not a MagicDNS name")

    @property
    def short_name(self) -> str:
        return self.dns_name.split(".", 1)[0]

    def host_headers(self, port: int) -> list[str]:
        """Every Host value a tailnet client may send: IP, short and full name (a name also with its
        trailing dot, as in a fully qualified lookup), each with or without the port."""
        names = [self.ip, self.short_name, f"{self.short_name}.", self.dns_name, f"{self.dns_name}."]
        return [value for name in names for value in (name, f"{name}:{port}")]


def ollama_job(settings: Settings, layout: MacLayout) -> dict[str, Any]:
    """The launchd job that runs ``ollama serve`` on loopback."""
    environment = {"HOME": layout.home, "OLLAMA_MODELS": layout.models_dir}
    environment.update(settings.ollama_environment())
    return _job(settings, layout, "ollama", [layout.brew_bin("ollama"), "serve"], environment)


def haproxy_job(settings: Settings, layout: MacLayout) -> dict[str, Any]:
    """The launchd job that runs HAProxy in master-worker mode in the foreground.

    ``-W`` lets a reload (SIGUSR2 to the master) start new workers while the old
    ones finish the streams they carry; ``-db`` keeps it in the foreground, as
    launchd wants.
    """
    argv = [layout.brew_bin("haproxy"), "-W", "-db", "-f", layout.haproxy_config]
    job = _job(settings, layout, "haproxy", argv, {"HOME": layout.home})
    if settings.proxy_access_log:
        # HAProxy writes the access log to stdout, errors to stderr.
        job["StandardOutPath"] = access_log_path(layout)
    return job


def access_log_path(layout: MacLayout) -> str:
    """HAProxy's access log on the Mac: launchd appends its stdout there."""
    return layout.log_path("access")


def api_key_map_path(layout: MacLayout) -> str:
    """The key-hash map HAProxy reads, beside its config (a directory of mode 700)."""
    return f"{layout.config_dir}/api-keys.map"


def api_key_map(settings: Settings) -> str:
    """The map file of the key store ``proxy_api_keys_file`` (relative to the project)."""
    return haproxy_map(KeyStore(PROJECT / settings.proxy_api_keys_file).clients())


def _job(settings: Settings, layout: MacLayout, service: str, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    job: dict[str, Any] = {
        "Label": settings.label(service),
        "ProgramArguments": argv,
        "EnvironmentVariables": env,
        "RunAtLoad": True,
        # Always come back: a crash, a kill, or (HAProxy at boot) a bind that
        # failed because the Tailscale address does not exist yet.
        "KeepAlive": True,
        "ThrottleInterval": settings.launchd_throttle_interval_s,
        "ProcessType": "Interactive" if service == "ollama" else "Standard",
        "WorkingDirectory": layout.home,
        "StandardOutPath": layout.log_path(service),
        "StandardErrorPath": layout.log_path(service),
    }
    if settings.service_mode == "daemon":
        job["UserName"] = layout.user
    return job


def plist_bytes(job: dict[str, Any]) -> bytes:
    """The XML plist of a launchd job, byte-for-byte stable across runs."""
    return plistlib.dumps(job, fmt=plistlib.FMT_XML, sort_keys=True)


def haproxy_config(settings: Settings, layout: MacLayout, tailnet: Tailnet, pool: Pool | None = None) -> str:
    """The HAProxy config: the allowlist on the Tailscale address, Ollama behind it (and, in a pool of
    several Macs, the members' proxies, each request routed by its model)."""
    routes: dict[str, dict[str, list[str]]] = {}
    for route in settings.allowed_routes:
        by_kind = routes.setdefault(route.method, {"paths": [], "patterns": []})
        if route.has_model:
            by_kind["patterns"].append(route.regex(settings.ollama_model_id_pattern))
        else:
            by_kind["paths"].append(route.path)
    return _jinja.get_template("haproxy.cfg.j2").render(
        settings=settings,
        layout=layout,
        bind_address=tailnet.ip,
        allowed_hosts=tailnet.host_headers(settings.proxy_port),
        routes=routes,
        errors=_errors_context(layout),
        refusals=REFUSALS,
        api_keys=_api_keys_context(settings, layout),
        models=_models_context(settings),
        body_check=_body_check_context(settings, pool),
        access_log=access_log_path(layout) if settings.proxy_access_log else None,
        pool=_pool_context(layout, pool),
    )


def haproxy_files(settings: Settings, layout: MacLayout, pool: Pool | None = None) -> dict[str, str]:
    """The files HAProxy's config reads, by path on the Mac: its error bodies, the API key hashes when on,
    and in a pool its routing table and the pool's model listings."""
    files = error_files(layout)
    if settings.proxy_api_keys:
        files[api_key_map_path(layout)] = api_key_map(settings)
    if serves_a_pool(pool):
        files.update(pool_files(layout, pool))
    return files


def serves_a_pool(pool: Pool | None) -> bool:
    """A pool with no other member reachable is one Mac: it behaves as no pool."""
    return pool is not None and bool(pool.peers)


def pool_files(layout: MacLayout, pool: Pool) -> dict[str, str]:
    """The pool's routing table (model -> backend of its holders) and the whole pool's listings."""
    return {f"{layout.pool_dir}/routes.map": pool.routes_map(), f"{layout.pool_dir}/tags.json": pool.tags(),
            f"{layout.pool_dir}/models.json": pool.openai_models()}


def _pool_context(layout: MacLayout, pool: Pool | None) -> dict[str, Any] | None:
    if not serves_a_pool(pool):
        return None
    files = pool_files(layout, pool)
    return {
        "name": pool.name,
        "this_member": next(member for member in pool.members if member.local).server,
        "peers": pool.peers,
        "backends": pool.backends(),
        "map": f"{layout.pool_dir}/routes.map",
        "tags": f"{layout.pool_dir}/tags.json",
        "models": f"{layout.pool_dir}/models.json",
        # Their digest in the config: a change in any member's models reloads HAProxy, which reads them at start.
        "digest": hashlib.sha256("".join(files.values()).encode()).hexdigest()[:16],
    }


def error_files(layout: MacLayout) -> dict[str, str]:
    """HAProxy's error bodies as files on the Mac, by path: the refusals map and the parser's errorfiles."""
    files = {f"{layout.errors_dir}/refusals.map": refusals_map()}
    files.update({f"{layout.errors_dir}/{status}.http": errorfile(status) for status in PARSER_ERRORS})
    return files


def _errors_context(layout: MacLayout) -> dict[str, Any]:
    files = error_files(layout)
    # Their digest in the config: changed bodies change the config, so HAProxy reloads and reads them.
    digest = hashlib.sha256("".join(files.values()).encode()).hexdigest()[:16]
    errorfiles = {status: f"{layout.errors_dir}/{status}.http" for status in PARSER_ERRORS}
    return {
        "map": f"{layout.errors_dir}/refusals.map",
        "digest": digest,
        "files": {status: path for status, path in errorfiles.items() if status not in PARSER_ERRORS_3X},
        "files_3x": {status: path for status, path in errorfiles.items() if status in PARSER_ERRORS_3X},
        "by_status": HAPROXY_ERRORS,
    }


def _api_keys_context(settings: Settings, layout: MacLayout) -> dict[str, str] | None:
    if not settings.proxy_api_keys:
        return None
    # The map's digest in the config: a changed map changes the config, so the
    # deploy checks and reloads HAProxy, which reads maps only when it starts.
    digest = hashlib.sha256(api_key_map(settings).encode()).hexdigest()[:16]
    return {"map": api_key_map_path(layout), "digest": digest}


def _models_context(settings: Settings) -> dict[str, Any] | None:
    if not settings.allowed_models:
        return None
    models = settings.allowed_model_spellings
    model_routes = [route for route in settings.allowed_routes if route.has_model]
    return {
        "any_in_path": [route.regex(settings.ollama_model_id_pattern) for route in model_routes],
        "allowed_in_path": [model_filter.path_pattern(route, models) for route in model_routes],
        "allowed_name": model_filter.name_pattern(models),
        "a_name": model_filter.A_NAME,
    }


# HAProxy decodes a converter's argument into a buffer of its default size (16 KB, less two bytes,
# whatever tune.bufsize says) while it parses the config: a pool's routing expression must fit in it.
CONVERTER_ARGUMENT_MAX = 16_382


def _strictly_read_names(settings: Settings, pool: Pool | None) -> tuple[list[str], str] | None:
    """The model names a body is read strictly against, and whose they are: the allowlist's when it is on,
    else in a pool the pool's; None when no body is read so."""
    if settings.allowed_models:
        return settings.allowed_model_spellings, "ollama_allowed_models"
    if serves_a_pool(pool):
        return model_filter.spellings(pool.models()), "the pool's members"
    return None


def routing_expression_problem(settings: Settings, pool: Pool | None) -> str | None:
    """Why a pool's routing expression would not fit in HAProxy, with the remedy; None when it fits (or no
    pool routes). Preflight asks, so that such an apply stops before it changes anything."""
    read = _strictly_read_names(settings, pool)
    if not serves_a_pool(pool) or read is None:
        return None
    return _too_long_to_route_by(model_filter.body_pattern(read[0]), *read)


def _too_long_to_route_by(pattern: str, names: list[str], whose: str) -> str | None:
    if len(pattern) <= CONVERTER_ARGUMENT_MAX:
        return None
    return (f"the {len(names)} model names of {whose} make the pool's routing expression {len(pattern)} bytes, "
            f"and HAProxy reads at most {CONVERTER_ARGUMENT_MAX}: declare fewer models (or allow fewer)")


def _body_check_context(settings: Settings, pool: Pool | None) -> dict[str, Any] | None:
    """How a body's model is read strictly, so that the model HAProxy acts on is the one Ollama will read."""
    read = _strictly_read_names(settings, pool)
    if read is None:
        return None
    names, whose = read
    pattern = model_filter.body_pattern(names)
    if serves_a_pool(pool) and (problem := _too_long_to_route_by(pattern, names, whose)):
        raise SettingsError(problem)
    return {"known_in_body": pattern, "json_object": model_filter.JSON_OBJECT,
            # The same expression as a converter's quoted argument (regsub), and the groups it reads the keys in.
            "known_in_body_arg": pattern.replace("\\", "\\\\").replace('"', '\\"'),
            "value_groups": model_filter.VALUE_GROUPS}


def client_settings(settings: Settings, tailnet: Tailnet, pool: Pool | None = None) -> str:
    """How to point each client at the server: the recipes (``clients.RECIPES``) its route sets serve, filled
    in with its MagicDNS name, and which set turns on each of the others."""
    url = f"http://{tailnet.dns_name}:{settings.proxy_port}"
    key = "po_YOUR_KEY" if settings.proxy_api_keys else None
    model = settings.allowed_models[0] if settings.allowed_models else "llama3.2"
    on, off = clients.served(settings.ollama_route_sets)
    return _jinja.get_template("client-settings.md.j2").render(
        tailnet=tailnet, port=settings.proxy_port, routes=settings.allowed_routes,
        api_keys=settings.proxy_api_keys, models=settings.allowed_models, key=key or clients.ANY_KEY,
        pool=pool if serves_a_pool(pool) else None,
        model=model, recipes=[_recipe_context(recipe, url, key, model, settings) for recipe in on],
        unserved=[{"name": recipe.name, "missing": recipe.missing(settings.ollama_route_sets)} for recipe in off],
    )


def _recipe_context(recipe: clients.Recipe, url: str, key: str | None, model: str,
                    settings: Settings) -> dict[str, Any]:
    environment = recipe.environment(url, key, model)
    return {
        "name": recipe.name,
        "env": [f"{name}={value or chr(34) * 2}" for name, value in environment.items()],
        "use": recipe.usage(url, key, model),
        "extras": [{"set": name, "adds": adds.replace("{model}", model), "on": name in settings.ollama_route_sets}
                   for name, adds in recipe.extras],
        "note": recipe.note,
    }


def tailscale_acl(settings: Settings, pool: Pool | None = None) -> str:
    """The Tailscale ACL policy snippet: the listed sources reach the tagged server's port, nothing else;
    in a pool, the members (which carry the same tags) reach each other's proxy port too, and nothing else."""
    server_port = [f"{tag}:{settings.proxy_port}" for tag in settings.tailscale_tags]
    acls = [{"action": "accept", "src": settings.tailscale_acl_sources, "dst": server_port}]
    if serves_a_pool(pool):
        acls.append({"action": "accept", "src": settings.tailscale_tags,
                     "dst": sorted({f"{tag}:{member.port}" for member in pool.members for tag in settings.tailscale_tags})})
    policy = {"tagOwners": {tag: ["autogroup:admin"] for tag in settings.tailscale_tags}, "acls": acls}
    return json.dumps(policy, indent=2) + "\n"


def client_files(settings: Settings, tailnet: Tailnet, pool: Pool | None = None) -> dict[str, str]:
    """The files written on the admin laptop after a deploy, by name."""
    return {
        "client-settings.md": client_settings(settings, tailnet, pool),
        "tailscale-acl.json": tailscale_acl(settings, pool),
    }
