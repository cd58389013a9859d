"""The deploy's knobs as one validated object.

``group_data/all.py`` holds every knob with its default; the inventory may
override them per host. ``Settings.from_data`` checks them all before anything
connects, and a bad value fails with the name of its key:

.. code:: python

    settings = Settings.from_data(host.data.dict())
    settings.allowed_routes[0].method  # "POST"
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pyinfra.api.exceptions import PyinfraError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MODEL_PLACEHOLDER = "{model}"
DURATION = r"^[1-9][0-9]*(ms|s|m|h|d)$"
DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# A model as clients name it: name[:tag], the name maybe with a namespace (hf.co/org/name).
MODEL_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*(:[A-Za-z0-9][A-Za-z0-9._-]*)?"

Port = Annotated[int, Field(ge=1, le=65535)]
Duration = Annotated[str, Field(pattern=DURATION)]


class SettingsError(PyinfraError, ValueError):
    """A knob has a bad value; the message names the key and says why.

    A ``PyinfraError``, so that pyinfra prints the message rather than a traceback.
    """


class Route(BaseModel):
    """One allowlisted request: an HTTP method and an exact path.

    A path may hold ``{model}``: one path segment matched by the model id pattern.
    """

    model_config = ConfigDict(frozen=True)

    method: str
    path: str

    @field_validator("method")
    @classmethod
    def _known_method(cls, method: str) -> str:
        if method not in HTTP_METHODS:
            raise ValueError(f"unknown HTTP method {method!r}; use one of {', '.join(HTTP_METHODS)}")
        return method

    @field_validator("path")
    @classmethod
    def _exact_absolute_path(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"path {path!r} is not absolute (it must start with /)")
        bare = path.replace(MODEL_PLACEHOLDER, "model")
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", bare):
            raise ValueError(
                f"path {path!r} must be plain segments of letters, digits and ._~- "
                "(no query, no percent-encoding, no //, no trailing /); "
                f"the only placeholder is {MODEL_PLACEHOLDER} as a whole segment",
            )
        if any(segment in (".", "..") for segment in bare.split("/")):
            raise ValueError(f"path {path!r} holds a dot segment")
        if re.search(r"[{}]", path.replace(MODEL_PLACEHOLDER, "")) or re.search(
            r"[^/]\{model\}|\{model\}[^/]", path,
        ):
            raise ValueError(f"path {path!r}: {MODEL_PLACEHOLDER} must be a whole segment")
        return path

    @property
    def has_model(self) -> bool:
        return MODEL_PLACEHOLDER in self.path

    def regex(self, model_id_pattern: str) -> str:
        """The anchored regular expression for a route with ``{model}``."""
        escaped = re.escape(self.path).replace(re.escape(MODEL_PLACEHOLDER), f"(?:{model_id_pattern})")
        return f"^{escaped}$"


class Settings(BaseModel):
    """Every knob of ``group_data/all.py``, validated."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    homebrew_prefix: str
    macos_min_version: Annotated[int, Field(ge=11)]
    service_mode: Literal["agent", "daemon"]
    launchd_label_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$")]
    launchd_throttle_interval_s: Annotated[int, Field(ge=1, le=3600)]

    tailscale_hostname: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    tailscale_tags: list[Annotated[str, Field(pattern=r"^tag:[A-Za-z0-9-]+$")]]
    tailscale_auth_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    tailscale_acl_sources: list[Annotated[str, Field(min_length=1)]]

    ollama_listen_address: str
    ollama_port: Port
    ollama_no_cloud: bool
    ollama_keep_alive: Annotated[str, Field(pattern=r"^(-1|0|[1-9][0-9]*(s|m|h)?)$")]
    ollama_context_length: Annotated[int, Field(ge=512)]
    ollama_flash_attention: bool
    ollama_num_parallel: Annotated[int, Field(ge=1, le=64)]
    ollama_max_loaded_models: Annotated[int, Field(ge=1, le=64)]
    ollama_origins: list[Annotated[str, Field(min_length=1)]]
    ollama_extra_env: dict[Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")], str]

    ollama_allowed_routes: list[Route]
    ollama_model_id_pattern: Annotated[str, Field(min_length=1)]

    proxy_port: Port
    proxy_max_body_bytes: Annotated[int, Field(ge=1024, le=1024**3)]
    proxy_max_connections: Annotated[int, Field(ge=1, le=100_000)]
    proxy_timeout_connect: Duration
    proxy_timeout_http_request: Duration
    proxy_timeout_server: Duration
    proxy_timeout_client: Duration
    proxy_metrics_port: Annotated[int, Field(ge=0, le=65535)]

    proxy_api_keys: bool
    proxy_api_keys_file: Annotated[str, Field(min_length=1)]
    proxy_rate_limit_requests: Annotated[int, Field(ge=0, le=1_000_000)]
    proxy_rate_limit_window: Duration
    proxy_client_max_concurrent: Annotated[int, Field(ge=0, le=100_000)]
    proxy_ollama_max_concurrent: Annotated[int, Field(ge=0, le=100_000)]
    proxy_queue_timeout: Duration
    ollama_allowed_models: list[Annotated[str, Field(pattern=f"^{MODEL_NAME}$", max_length=200)]]
    proxy_buffer_bytes: Annotated[int, Field(ge=16384, le=16 * 1024**2)]
    proxy_access_log: bool
    proxy_access_log_max_bytes: Annotated[int, Field(ge=1024**2)]
    proxy_access_log_keep: Annotated[int, Field(ge=1, le=100)]

    client_settings_dir: Annotated[str, Field(min_length=1)]

    uninstall_remove_packages: bool
    uninstall_remove_models: bool

    reapply_interval_s: Annotated[int, Field(ge=60)]
    reapply_report: Annotated[str, Field(min_length=1)]

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

    @field_validator("ollama_allowed_routes", mode="before")
    @classmethod
    def _routes_from_pairs(cls, routes: Any) -> Any:
        if not isinstance(routes, (list, tuple)) or not routes:
            raise ValueError("must be a non-empty list of (method, path) pairs")
        pairs = []
        for route in routes:
            if isinstance(route, (list, tuple)) and len(route) == 2:
                pairs.append({"method": route[0], "path": route[1]})
            else:
                raise ValueError(f"{route!r} is not a (method, path) pair")
        return pairs

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

    @field_validator("ollama_allowed_routes")
    @classmethod
    def _no_duplicate_routes(cls, routes: list[Route]) -> list[Route]:
        seen = set()
        for route in routes:
            if (route.method, route.path) in seen:
                raise ValueError(f"lists {route.method} {route.path} twice")
            seen.add((route.method, route.path))
        return routes

    @field_validator("ollama_allowed_models")
    @classmethod
    def _no_duplicate_models(cls, models: list[str]) -> list[str]:
        seen = set()
        for model in models:
            if model.lower() in seen:
                raise ValueError(f"lists {model} twice")
            seen.add(model.lower())
        return models

    @field_validator("proxy_rate_limit_window")
    @classmethod
    def _window_of_seconds(cls, window: str) -> str:
        if not 1000 <= duration_ms(window) <= DURATION_MS["d"]:
            raise ValueError("must be from 1s to 1d")
        return window

    @model_validator(mode="after")
    def _distinct_ports(self) -> Settings:
        if self.proxy_metrics_port in (self.proxy_port, self.ollama_port):
            raise ValueError("proxy_metrics_port must differ from proxy_port and ollama_port")
        return self

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Settings:
        """Validate host data; raise ``SettingsError`` naming each bad key."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as error:
            raise SettingsError(_describe(error)) from None

    @property
    def allowed_routes(self) -> list[Route]:
        return self.ollama_allowed_routes

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
    def allowed_model_spellings(self) -> list[str]:
        """Every name of each allowed model, once: a bare name and name:latest are the same model."""
        spellings = []
        for model in self.ollama_allowed_models:
            name, _, tag = model.partition(":")
            spellings += [name, f"{name}:latest"] if tag in ("", "latest") else [model]
        return list(dict.fromkeys(spellings))

    def label(self, service: str) -> str:
        """The launchd label of ``service`` ("ollama" or "haproxy")."""
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


def duration_ms(duration: str) -> int:
    """A validated duration ("90s", "2m") in milliseconds."""
    number, unit = re.fullmatch(r"([0-9]+)([a-z]+)", duration).groups()
    return int(number) * DURATION_MS[unit]


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(settings)"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "missing":
            message = "missing (group_data/all.py defines every knob; is it loaded?)"
        lines.append(f"{key}: {message}")
    return "invalid settings:\n  " + "\n  ".join(lines)
