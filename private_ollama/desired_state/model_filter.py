"""The model allowlist as the regular expressions HAProxy (PCRE2) checks requests with.

A body is let through only when it is one JSON object whose every top-level
``"model"`` and ``"name"`` member is a string naming an allowed model, and no
other top-level key could be read as one of them. That last part matters:
Ollama decodes bodies with Go's encoding/json, which matches keys in any case
(``"Model"``), decodes escapes in keys (``"mod\\u0065l"``) and takes the *last*
of duplicate keys, while HAProxy's ``json_query`` takes the first. So rather
than read one value and trust it, the expression walks the whole top level
(nested objects and arrays are skipped by recursion, strings by their escapes)
and refuses every such spelling. It fails closed: a body it cannot read
(not an object, trailing data, nesting too deep for PCRE's stack) is refused.

.. code:: python

    body_pattern(["llama3.2", "llama3.2:latest"])   # for ``req.body -m reg``
    path_pattern(route, ["llama3.2:latest"])          # for ``path_reg``
"""

from __future__ import annotations

import re

from private_ollama.desired_state.routes import Route

_STRING = r'"(?:[^"\\]++|\\.)*+"'
# Any JSON value, skipped: recursion handles nesting; possessive repeats keep it linear.
_VALUE = (
    r"(?<value>\s*+(?:" + _STRING
    + r"|\{\s*+(?:" + _STRING + r"\s*+:(?&value)(?:,\s*+" + _STRING + r"\s*+:(?&value))*+)?\}"
    + r"|\[(?:(?&value)(?:,(?&value))*+)?\s*+\]"
    + r"|[-+.0-9A-Za-z]++)\s*+)"
)
_MODEL_KEYS = ("model", "name")


def _alternatives(models: list[str], colon: str = ":") -> str:
    """The models as one case-insensitive alternation (Ollama's names are case-insensitive on macOS)."""
    return "(?i:" + "|".join(re.escape(model).replace(":", colon) for model in models) + ")"


def body_pattern(models: list[str]) -> str:
    """The anchored PCRE2 expression a JSON request body must match."""
    keys = "|".join(_MODEL_KEYS)
    member = (
        rf'(?:"(?:{keys})"\s*+:\s*+"{_alternatives(models)}"\s*+'  # a model key, exactly spelled, an allowed model
        rf'|"(?!(?i:{keys})")[^"\\]*+"\s*+:(?&value))'  # any other key, with no escapes: any value
    )
    return rf"\A\s*+\{{\s*+(?:{member}(?:,\s*+{member})*+)?\}}\s*+\z(?(DEFINE){_VALUE})"


def path_pattern(route: Route, models: list[str]) -> str:
    """The anchored expression of a ``{model}`` route that names an allowed model (the colon may be %3A)."""
    return route.regex(_alternatives(models, colon="(?::|%3[Aa])"))
