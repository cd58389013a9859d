"""Every knob of the deploy, defined once: its type and limits, its default and what it does.

A host's settings are its pyinfra host data (the inventory, ``group_data/*.py``,
``--data KEY=VALUE``) over these defaults. ``Settings.from_data`` checks them
all; an unknown key or a bad value fails with the name of the key (and, for a
typo, the knob it was probably meant to be). The README's knob table is made
from the definitions below (``python -m private_ollama knobs``).

.. code:: python

    settings = Settings.from_data({"ssh_user": "admin", "proxy_api_keys": True}, host="mac-studio.local")
    settings.proxy_port             # 11434, the default
    Settings.from_data({"proxy_api_key": True}, host="mac-studio.local")
    # SettingsError: host mac-studio.local: proxy_api_key is not a knob; did you mean proxy_api_keys?
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyinfra.api.exceptions import PyinfraError

from private_ollama.desired_state import model_filter
from private_ollama.desired_state.host_data import closest, is_pyinfra_key
from private_ollama.desired_state.models import ModelName
from private_ollama.desired_state.routes import DEFAULT_ROUTE_SETS, ROUTE_SETS, Route, routes_from_pairs

DURATION = r"^[1-9][0-9]*(ms|s|m|h|d)$"
DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# A model as clients name it: name[:tag], the name maybe with a namespace (hf.co/org/name).
MODEL_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*(:[A-Za-z0-9][A-Za-z0-9._-]*)?"

# The buffer a pool member needs: it reads a request's whole body for the model to route it by.
POOL_BUFFER_BYTES = 1024 * 1024
Port = Annotated[int, Field(ge=1, le=65535)]
RouteSetName = Literal[tuple(ROUTE_SETS)]
Duration = Annotated[str, Field(pattern=DURATION)]


class SettingsError(PyinfraError, ValueError):
    """A knob has a bad value or does not exist; the message names the host and the key and says why.

    A ``PyinfraError``, so that pyinfra prints the message rather than a traceback.
    """


def knob(default: Any, description: str) -> Any:
    """A knob's default and its one-line description (a row of the README's knob table)."""
    return Field(default=default, description=description)


class Settings(BaseModel):
    """Every knob, with its default. Override any of them per host or group in the inventory."""

    # Defaults are validated too: the routes default is written as (method, path) pairs.
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    # --- The Mac ---
    homebrew_prefix: str = knob(
        "/opt/homebrew", "where Homebrew lives (`/usr/local` on Intel); remote commands get its `bin` first in PATH")
    macos_min_version: Annotated[int, Field(ge=11)] = knob(14, "oldest macOS release accepted (major version)")
    service_mode: Literal["agent", "daemon"] = knob(
        "agent", "`agent` (LaunchAgents, need a GUI login) or `daemon` (LaunchDaemons at boot, need sudo)")
    launchd_label_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$")] = knob(
        "org.private-ollama", "labels are `<prefix>.ollama`, `<prefix>.haproxy` and `<prefix>.reapply`")
    launchd_throttle_interval_s: Annotated[int, Field(ge=1, le=3600)] = knob(
        10, "seconds launchd waits before restarting a job that exited")

    # --- Tailscale ---
    tailscale_hostname: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")] = knob(
        "remote-ollama", "node name, so MagicDNS is `<hostname>.<tailnet>.ts.net`")
    tailscale_tags: list[Annotated[str, Field(pattern=r"^tag:[A-Za-z0-9-]+$")]] = knob(
        ["tag:ai-server"], "ACL tags the node advertises (the auth key must be allowed to use them)")
    tailscale_auth_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = knob(
        "TAILSCALE_AUTHKEY", "environment variable on the admin laptop holding the auth key (never the key itself)")
    tailscale_acl_sources: list[Annotated[str, Field(min_length=1)]] = knob(
        ["group:ai-users"], "who may reach the server, in the ACL snippet (users, groups or tags)")

    # --- Ollama ---
    ollama_listen_address: str = knob("127.0.0.1", "Ollama's address; only loopback is accepted")
    ollama_port: Port = knob(11434, "Ollama's port")
    ollama_no_cloud: bool = knob(
        True, "`OLLAMA_NO_CLOUD=1`: no cloud models forwarded to ollama.com with the Mac's account")
    ollama_keep_alive: Annotated[str, Field(pattern=r"^(-1|0|[1-9][0-9]*(s|m|h)?)$")] = knob(
        "30m", "`OLLAMA_KEEP_ALIVE`: how long a model stays loaded after its last request (`-1`: forever)")
    ollama_context_length: Annotated[int, Field(ge=512)] = knob(
        32768, "`OLLAMA_CONTEXT_LENGTH`: default context in tokens (4096 is too small for coding agents)")
    ollama_flash_attention: bool = knob(True, "`OLLAMA_FLASH_ATTENTION`: less memory for long contexts")
    ollama_num_parallel: Annotated[int, Field(ge=1, le=64)] = knob(
        2, "`OLLAMA_NUM_PARALLEL`: requests served at once per model")
    ollama_max_loaded_models: Annotated[int, Field(ge=1, le=64)] = knob(
        2, "`OLLAMA_MAX_LOADED_MODELS`: models kept in memory at once")
    ollama_origins: list[Annotated[str, Field(min_length=1)]] = knob(
        [], "`OLLAMA_ORIGINS`: extra browser origins for Ollama's CORS check (empty: Ollama's default)")
    ollama_extra_env: dict[Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")], str] = knob(
        {}, "any other variable for `ollama serve`, e.g. `{\"OLLAMA_DEBUG\": \"1\"}` (not `OLLAMA_HOST`)")

    # --- Models ---
    ollama_models: list[Annotated[str, Field(pattern=f"^{MODEL_NAME}$", max_length=200)]] = knob(
        [], "models the Mac holds (`name[:tag]`): each missing one is pulled through its own Ollama, with progress")
    ollama_models_prune: bool = knob(
        False, "also remove the models not in `ollama_models`, each named first (a loaded one is unloaded)")
    ollama_models_update: bool = knob(
        False, "at each apply, pull a declared model again when the registry holds a newer one (a change only then)")
    ollama_models_dir: str = knob(
        "", "`OLLAMA_MODELS`: where the models live, e.g. a folder on an external disk; empty: `~/.ollama/models`")
    ollama_pull_timeout: Duration = knob(
        "4h", "longest one model's pull may take before the host fails; the next apply resumes it")

    # --- HAProxy: what it lets through ---
    ollama_route_sets: list[RouteSetName] = knob(
        DEFAULT_ROUTE_SETS,
        "named sets of routes HAProxy forwards (the README's route sets); everything else is denied",
    )
    ollama_extra_routes: list[Route] = knob(
        [], "more routes to forward: (method, exact path) pairs; `{model}` is one path segment")
    ollama_model_id_pattern: Annotated[str, Field(min_length=1)] = knob(
        r"[A-Za-z0-9][A-Za-z0-9._-]*((:|%3[Aa])[A-Za-z0-9][A-Za-z0-9._-]*)?",
        "what a `{model}` segment may be: `name[:tag]`, the colon maybe `%3A`; never `/`, `%` or a dot segment")
    proxy_port: Port = knob(11434, "HAProxy's port, on the Tailscale address only")
    proxy_max_body_bytes: Annotated[int, Field(ge=1024, le=1024**3)] = knob(
        8 * 1024**2, "larger request bodies get 413")
    proxy_max_connections: Annotated[int, Field(ge=1, le=100_000)] = knob(256, "HAProxy `maxconn`")
    proxy_timeout_connect: Duration = knob("5s", "time to connect to Ollama on loopback")
    proxy_timeout_http_request: Duration = knob(
        "15s", "time a client has to send its request headers (slow-loris guard)")
    proxy_timeout_server: Duration = knob(
        "30m", "longest silence from Ollama (model load + longest non-streamed answer) before 504")
    proxy_timeout_client: Duration = knob("30m", "longest silence from a client on an open connection")
    proxy_pool: Annotated[str, Field(pattern=r"^([a-z0-9][a-z0-9-]{0,62})?$")] = knob(
        "", "the pool this Mac serves in: Macs naming the same pool route each request to a member holding its "
        "model; empty: no pool")
    proxy_metrics_port: Annotated[int, Field(ge=0, le=65535)] = knob(
        0, "HAProxy's Prometheus metrics on `127.0.0.1:<port>/metrics`; 0 turns them off")

    # --- Hardening: what an admitted client may do (each off by default) ---
    proxy_api_keys: bool = knob(
        False, "per-client API keys: only requests with a known key (`Authorization: Bearer`, `x-api-key`) pass")
    proxy_api_keys_file: Annotated[str, Field(min_length=1)] = knob(
        "secrets/api-keys.json", "the key store on the admin laptop (names and key hashes), kept by the `keys` command")
    proxy_rate_limit_requests: Annotated[int, Field(ge=0, le=1_000_000)] = knob(
        0, "requests per client per window; more get 429 with `Retry-After`; 0 turns it off")
    proxy_rate_limit_window: Duration = knob("1m", "the rate limit's window, from 1s to 1d")
    proxy_client_max_concurrent: Annotated[int, Field(ge=0, le=100_000)] = knob(
        0, "requests (streams) a client may have in progress; more get 429; 0 turns it off")
    proxy_ollama_max_concurrent: Annotated[int, Field(ge=0, le=100_000)] = knob(
        0, "requests reaching Ollama at once, all clients together; the rest queue; 0 turns it off")
    proxy_queue_timeout: Duration = knob("2m", "longest wait in that queue before a 503")
    ollama_allowed_models: list[Annotated[str, Field(pattern=f"^{MODEL_NAME}$", max_length=200)]] | Literal[
        "declared"] = knob(
        [], "the only models clients may use (body `model`/`name`, `/v1/models/{model}`); empty: any; "
        "`\"declared\"`: exactly `ollama_models`")
    proxy_buffer_bytes: Annotated[int, Field(ge=16384, le=16 * 1024**2)] = knob(
        16384, "HAProxy's `tune.bufsize`: the largest request the model allowlist can read (use 1048576 with it)")
    proxy_access_log: bool = knob(
        False, "one JSON line per request in `~/Library/Logs/private-ollama/access.log` on the Mac")
    proxy_access_log_max_bytes: Annotated[int, Field(ge=1024**2)] = knob(
        64 * 1024**2, "each apply rotates the access log above this size")
    proxy_access_log_keep: Annotated[int, Field(ge=1, le=100)] = knob(3, "rotated access logs kept")

    # --- The admin laptop ---
    client_settings_dir: Annotated[str, Field(min_length=1)] = knob(
        "build/clients", "where the client settings and the ACL snippet are written on the admin laptop")
    uninstall_remove_packages: bool = knob(False, "`uninstall.py` also removes the Homebrew packages")
    uninstall_remove_models: bool = knob(False, "`uninstall.py` also deletes the downloaded models")
    reapply_interval_s: Annotated[int, Field(ge=60)] = knob(3600, "seconds between two scheduled re-applies")
    reapply_report: Annotated[str, Field(min_length=1)] = knob(
        "build/reapply.jsonl", "where each re-apply appends its JSON report line (relative to the project)")

    @field_validator("homebrew_prefix")
    @classmethod
    def _absolute_prefix(cls, prefix: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", prefix):
            raise ValueError(f"{prefix!r} must be an absolute path without spaces or a trailing /")
        return prefix

    @field_validator("ollama_listen_address")
    @classmethod
    def _loopback_only(cls, address: str) -> str:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise ValueError(f"{address!r} is not an IP address") from None
        if not parsed.is_loopback:
            raise ValueError(f"{address!r} is not a loopback address: Ollama must never listen elsewhere")
        return address

    @field_validator("ollama_extra_routes", mode="before")
    @classmethod
    def _routes_from_pairs(cls, routes: Any) -> Any:
        return routes_from_pairs(routes)

    @field_validator("ollama_model_id_pattern")
    @classmethod
    def _safe_segment_pattern(cls, pattern: str) -> str:
        try:
            compiled = re.compile(f"^(?:{pattern})$")
        except re.error as error:
            raise ValueError(f"malformed pattern: {error}") from None
        if "^" in pattern or "$" in pattern:
            raise ValueError("must not hold ^ or $: the deploy anchors it")
        if "'" in pattern or any(char.isspace() for char in pattern):
            raise ValueError("must not hold quotes or white space (it is quoted in the HAProxy config)")
        for hostile in ("/", "..", ".", "", "a/b", "%2F", "%2e%2e", "a b", "a?b", "a#b"):
            if compiled.fullmatch(hostile):
                raise ValueError(f"matches {hostile!r}: a model id must be one safe path segment")
        return pattern

    @field_validator("ollama_extra_env")
    @classmethod
    def _no_host_override(cls, env: dict[str, str]) -> dict[str, str]:
        if "OLLAMA_HOST" in env:
            raise ValueError("OLLAMA_HOST is set from ollama_listen_address and ollama_port only")
        return env

    @field_validator("ollama_route_sets", "ollama_extra_routes")
    @classmethod
    def _nothing_twice(cls, items: list) -> list:
        for index, item in enumerate(items):
            if item in items[:index]:
                shown = f"{item.method} {item.path}" if isinstance(item, Route) else item
                raise ValueError(f"lists {shown} twice")
        return items

    @field_validator("ollama_allowed_models", "ollama_models")
    @classmethod
    def _no_duplicate_models(cls, models: list[str] | str) -> list[str] | str:
        seen = set()
        for model in models if isinstance(models, list) else []:
            if ModelName.parse(model).key in seen:
                raise ValueError(f"lists {model} twice")
            seen.add(ModelName.parse(model).key)
        return models

    @field_validator("ollama_models_dir")
    @classmethod
    def _absolute_models_dir(cls, folder: str) -> str:
        if folder and not re.fullmatch(r"(/[^/\0\n]+)+", folder):
            raise ValueError(f"{folder!r} must be an absolute path without a trailing / (or empty: Ollama's own)")
        return folder

    @field_validator("proxy_rate_limit_window")
    @classmethod
    def _window_of_seconds(cls, window: str) -> str:
        if not 1000 <= duration_ms(window) <= DURATION_MS["d"]:
            raise ValueError("must be from 1s to 1d")
        return window

    @model_validator(mode="after")
    def _routes_to_forward(self) -> Settings:
        if not self.allowed_routes:
            raise ValueError("no route to forward: name a route set in ollama_route_sets or add ollama_extra_routes")
        for route in self.ollama_extra_routes:
            in_set = next((name for name in self.ollama_route_sets if route in ROUTE_SETS[name].routes), None)
            if in_set:
                raise ValueError(f"ollama_extra_routes: {route.method} {route.path} is already in the {in_set} set")
        return self

    @model_validator(mode="after")
    def _declared_models_to_allow(self) -> Settings:
        if self.ollama_allowed_models == "declared" and not self.ollama_models:
            raise ValueError('ollama_allowed_models is "declared" but ollama_models is empty: declare the models')
        if self.ollama_models_prune and not self.ollama_models:
            raise ValueError("ollama_models_prune with no ollama_models would remove every model: declare the ones to keep")
        return self

    @model_validator(mode="after")
    def _pool_reads_whole_bodies(self) -> Settings:
        if self.proxy_pool and self.proxy_buffer_bytes < POOL_BUFFER_BYTES:
            raise ValueError(
                f"proxy_pool routes by the model in the whole request body: set proxy_buffer_bytes to at least "
                f"{POOL_BUFFER_BYTES} (coding agents send bodies of a few hundred KB)",
            )
        return self

    @model_validator(mode="after")
    def _distinct_ports(self) -> Settings:
        if self.proxy_metrics_port in (self.proxy_port, self.ollama_port):
            raise ValueError("proxy_metrics_port must differ from proxy_port and ollama_port")
        return self

    @classmethod
    def from_data(cls, data: Mapping[str, Any], host: str | None = None) -> Settings:
        """Validate a host's data: pyinfra's own keys pass, every other key must be a knob with a good value.

        Raises ``SettingsError`` naming ``host``, each unknown key with the nearest knob, and each bad value.
        """
        knobs = _knobs_of(data)
        problems = [unknown_key(key) for key in knobs if key not in cls.model_fields]
        if not problems:
            try:
                return cls.model_validate(knobs)
            except ValidationError as error:
                problems = [f"{key or '(settings)'}: {message}" for key, message in _described(error, knobs)]
        where = f"host {host}: " if host else ""
        if len(problems) == 1:
            raise SettingsError(where + problems[0])
        raise SettingsError(f"{where}invalid settings:\n  " + "\n  ".join(problems))

    @classmethod
    def layer_problems(cls, data: Mapping[str, Any]) -> list[str]:
        """What is wrong with one layer of host data (a host's own, a group file, ``--data``) by itself:
        unknown keys and bad values of single knobs. Whether knobs fit together is for the merged data."""
        knobs = _knobs_of(data)
        problems = [unknown_key(key) for key in knobs if key not in cls.model_fields]
        try:
            cls.model_validate({key: value for key, value in knobs.items() if key in cls.model_fields})
        except ValidationError as error:
            problems += [f"{key}: {message}" for key, message in _described(error, knobs) if key]
        return problems

    @property
    def allowed_routes(self) -> list[Route]:
        """Every route HAProxy forwards: the named sets' routes, then the extra ones."""
        routes = [route for name in self.ollama_route_sets for route in ROUTE_SETS[name].routes]
        return routes + self.ollama_extra_routes

    @property
    def client_limits(self) -> bool:
        """Whether HAProxy counts each client's requests (rate or concurrency limit)."""
        return bool(self.proxy_rate_limit_requests or self.proxy_client_max_concurrent)

    @property
    def rate_limit_window_ms(self) -> int:
        return duration_ms(self.proxy_rate_limit_window)

    @property
    def rate_limit_retry_after_s(self) -> int:
        """Seconds a client told 429 should wait: one rate window, rounded up."""
        return math.ceil(self.rate_limit_window_ms / 1000)

    @property
    def allowed_models(self) -> list[str]:
        """The only models clients may use (empty: any)."""
        return self.ollama_models if self.ollama_allowed_models == "declared" else self.ollama_allowed_models

    @property
    def declared_models(self) -> list[ModelName]:
        return [ModelName.parse(model) for model in self.ollama_models]

    @property
    def allowed_model_spellings(self) -> list[str]:
        """Every name of each allowed model, once: a bare name and name:latest are the same model."""
        return model_filter.spellings(self.allowed_models)

    @property
    def remote_path(self) -> str:
        """PATH for every command on the Mac: non-interactive SSH has no Homebrew in it, and
        brew's facts then silently come back empty."""
        return f"{self.homebrew_prefix}/bin:{self.homebrew_prefix}/sbin:/usr/bin:/bin:/usr/sbin:/sbin"

    def label(self, service: str) -> str:
        """The launchd label of ``service`` ("ollama", "haproxy" or "reapply")."""
        return f"{self.launchd_label_prefix}.{service}"

    def ollama_environment(self) -> dict[str, str]:
        """The environment of ``ollama serve``: OLLAMA_HOST is always loopback."""
        env = {
            "OLLAMA_HOST": f"{self.ollama_listen_address}:{self.ollama_port}",
            "OLLAMA_KEEP_ALIVE": self.ollama_keep_alive,
            "OLLAMA_CONTEXT_LENGTH": str(self.ollama_context_length),
            "OLLAMA_FLASH_ATTENTION": "1" if self.ollama_flash_attention else "0",
            "OLLAMA_NUM_PARALLEL": str(self.ollama_num_parallel),
            "OLLAMA_MAX_LOADED_MODELS": str(self.ollama_max_loaded_models),
        }
        if self.ollama_no_cloud:
            env["OLLAMA_NO_CLOUD"] = "1"
        if self.ollama_origins:
            env["OLLAMA_ORIGINS"] = ",".join(self.ollama_origins)
        env.update(self.ollama_extra_env)
        return env


def unknown_key(key: str) -> str:
    """What to say of a key that is neither a knob nor pyinfra's."""
    nearest = closest(key, list(Settings.model_fields))
    hint = f"did you mean {nearest}?" if nearest else "the README's knob table lists every knob"
    return f"{key} is not a knob; {hint}"


def duration_ms(duration: str) -> int:
    """A validated duration ("90s", "2m") in milliseconds."""
    number, unit = re.fullmatch(r"([0-9]+)([a-z]+)", duration).groups()
    return int(number) * DURATION_MS[unit]


def _knobs_of(data: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if not is_pyinfra_key(key)}


def _described(error: ValidationError, knobs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dotted key, or "" for the settings as a whole; message) of each problem pydantic found.

    A knob that is a list or a word (ollama_allowed_models) fails once per kind, the kind named in the
    location: only the failure of the kind the value is of is told, without that name.
    """
    described = []
    for problem in error.errors():
        location = list(problem["loc"])
        kinds = [part for part in location if isinstance(part, str) and part.startswith(("list[", "literal["))]
        if kinds:
            if kinds[0].startswith("list[") != isinstance(knobs.get(location[0]), list):
                continue
            location = [part for part in location if part not in kinds]
        described.append((".".join(map(str, location)), problem["msg"].removeprefix("Value error, ")))
    return described
