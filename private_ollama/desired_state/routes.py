"""A route HAProxy lets through to Ollama: an HTTP method and an exact path.

.. code:: python

    route = Route(method="GET", path="/v1/models/{model}")
    route.has_model                                  # True
    route.regex(r"[a-z0-9.]+")                       # '^/v1/models/(?:[a-z0-9.]+)$'
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MODEL_PLACEHOLDER = "{model}"


class Route(BaseModel):
    """One allowlisted request. A path may hold ``{model}``: one path segment matched by the model id pattern."""

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


def routes_from_pairs(routes: object) -> list[dict[str, str]]:
    """``[("GET", "/api/tags"), ...]`` as pydantic reads a ``Route``; ``ValueError`` when it is not such a list."""
    if not isinstance(routes, (list, tuple)) or not routes:
        raise ValueError("must be a non-empty list of (method, path) pairs")
    pairs = []
    for route in routes:
        if not (isinstance(route, (list, tuple)) and len(route) == 2):
            raise ValueError(f"{route!r} is not a (method, path) pair")
        pairs.append({"method": route[0], "path": route[1]})
    return pairs
