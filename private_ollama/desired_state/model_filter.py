"""The model allowlist (and a pool's reading of the model) as the regular expressions HAProxy (PCRE2) runs.

A body is let through only when it is one JSON object (RFC 8259) whose every
top-level ``"model"`` and ``"name"`` member is a string naming an allowed model
(or empty), each key at most once, and no other top-level key could be read as
one of them. That matters: Ollama decodes bodies with Go's encoding/json, which
matches keys in any case (``"Model"``), decodes escapes in keys
(``"mod\\u0065l"``) and takes the *last* of duplicate keys, while HAProxy's
``json_query`` takes the first. So rather than read one value and trust it, the
expression walks the whole top level (nested objects and arrays are skipped by
recursion, strings by their escapes) and refuses every such spelling. It fails
closed: a body it cannot read (not an object, trailing data, nesting too deep
for PCRE's stack) is refused. A pool routes by the values the expression
captured (``VALUE_GROUPS``): read by the same walk, not by ``json_query``, which
finds nothing after 20 levels of nesting.

.. code:: python

    body_pattern(["llama3.2", "llama3.2:latest"])   # for ``req.body -m reg``; VALUE_GROUPS: what it read
    JSON_OBJECT                                       # any one JSON object: to tell "not JSON" from "not allowed"
    path_pattern(route, ["llama3.2:latest"])          # for ``path_reg``
    name_pattern(["llama3.2", "llama3.2:latest"])    # is a name read plainly an allowed one (to name it if not)
    spellings(["llama3.2", "qwen2.5:7b"])             # ["llama3.2", "llama3.2:latest", "qwen2.5:7b"]
    A_NAME                                            # could it be any model's name at all (to name it)
"""

from __future__ import annotations

import re

from private_ollama.desired_state.routes import Route

# JSON as RFC 8259 has it: only its four white-space bytes, strings without raw control characters and
# with only its escapes, its numbers and literals. Possessive repeats keep every part linear.
_WS = r"[ \t\n\r]*+"
_STRING = r'"(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4}))*+"'
_SCALAR = r"-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][-+]?+[0-9]++)?+|true|false|null"
# Any JSON value, skipped: recursion handles nesting.
_VALUE = (
    rf"(?<value>{_WS}(?:{_STRING}"
    rf"|\{{{_WS}(?:{_STRING}{_WS}:(?&value)(?:,{_WS}{_STRING}{_WS}:(?&value))*+)?\}}"
    rf"|\[(?:(?&value)(?:,(?&value))*+)?{_WS}\]"
    rf"|{_SCALAR}){_WS})"
)
_MODEL_KEYS = ("model", "name")

# A body that is one JSON object, whatever it holds.
JSON_OBJECT = rf"\A{_WS}\{{{_WS}(?:{_STRING}{_WS}:(?&value)(?:,{_WS}{_STRING}{_WS}:(?&value))*+)?\}}{_WS}\z(?(DEFINE){_VALUE})"


def _alternatives(models: list[str], colon: str = ":") -> str:
    """The models as one case-insensitive alternation (Ollama's names are case-insensitive on macOS)."""
    return "(?i:" + "|".join(re.escape(model).replace(":", colon) for model in models) + ")"


def spellings(models: list[str]) -> list[str]:
    """Every name of each model, once: a bare name and name:latest are the same model."""
    names = []
    for model in models:
        name, _, tag = model.partition(":")
        names += [name, f"{name}:latest"] if tag in ("", "latest") else [model]
    return list(dict.fromkeys(names))


# The groups a match of body_pattern captures each model key's value in (\1 and \3 in HAProxy's regsub):
# each key's value, then its mark, in the order of _MODEL_KEYS; nothing before them captures.
VALUE_GROUPS = {key: 1 + 2 * index for index, key in enumerate(_MODEL_KEYS)}


def body_pattern(models: list[str]) -> str:
    """The anchored PCRE2 expression a JSON request body must match.

    A model key may also be empty: Ollama's Go client writes every field, so its
    ``/api/show`` body holds ``"model":""`` beside ``"name":"llama3.2"`` (or the
    reverse), and Ollama reads an empty one as absent.
    """
    # A model key, exactly spelled and at most once (a capture marks it seen): an allowed model or "". Its
    # value is captured too (VALUE_GROUPS), for what reads the model from a body that matched.
    model_keys = "|".join(
        rf'"{key}"{_WS}:{_WS}(?(<seen_{key}>)(*FAIL))"(?<{key}_value>(?&names)?)"(?<seen_{key}>){_WS}'
        for key in _MODEL_KEYS)
    other_key = rf'"(?!(?i:{"|".join(_MODEL_KEYS)})")[^"\\\x00-\x1f]*+"{_WS}:(?&value)'  # no escapes; any value
    # The members in one repeat, so that a mark set by one is seen by the next: each is followed by a comma
    # and another member, or by the end of the object.
    members = rf'(?:(?:{model_keys}|{other_key})(?:,{_WS}(?=")|(?=\}})))*+'
    # The names are written once, in DEFINE, whatever the keys that call them.
    return rf"\A{_WS}\{{{_WS}{members}\}}{_WS}\z(?(DEFINE){_VALUE}(?<names>{_alternatives(models)}))"


def name_pattern(models: list[str]) -> str:
    """The anchored expression of one allowed model's name, as a plain reading of the body finds it: it only
    tells whether a refusal may name that model, never lets a request through."""
    return rf"\A{_alternatives(models)}\z"


# What a model's name can be (Ollama's: ASCII letters, digits and ._:/@-). Only such a name is shown back in
# a refusal: HAProxy's json_query decodes escapes above ASCII wrongly, so another name may not be what was sent.
A_NAME = r"\A[A-Za-z0-9][A-Za-z0-9._:/@-]*+\z"


def path_pattern(route: Route, models: list[str]) -> str:
    """The anchored expression of a ``{model}`` route that names an allowed model (the colon may be %3A)."""
    return route.regex(_alternatives(models, colon="(?::|%3[Aa])"))
