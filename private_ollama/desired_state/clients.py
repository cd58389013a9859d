"""Client recipes: how each client is pointed at the server, and the route sets it needs.

Defined once, here: the client settings file of each Mac lists the recipes its
route sets serve (``templates/client-settings.md.j2``), the README's client
recipes repeat them, and the client tests (``tests/clients``) run each recipe's
settings with the real library it names in ``tested_with``: the OpenAI SDK
test builds its client from the recipe's ``OPENAI_BASE_URL`` and
``OPENAI_API_KEY``, the LiteLLM tests read the variables aider sets, and so on.

Values may hold ``{url}`` (the server, ``http://<name>:<port>``, no trailing
slash), ``{key}`` (the client's API key; any value when keys are off) and
``{model}``.

.. code:: python

    recipe = RECIPES["openai-sdk"]
    recipe.environment("http://remote-ollama:11434", "po_…", "llama3.2")
    # {'OPENAI_BASE_URL': 'http://remote-ollama:11434/v1', 'OPENAI_API_KEY': 'po_…'}
    recipe.missing(["anthropic"])          # ['openai']: the sets to turn on for it
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# The key a client sends when the server asks for none: SDKs want a non-empty one.
ANY_KEY = "ollama"


@dataclass(frozen=True)
class Recipe:
    """One client's settings. ``env`` is always set; ``key_env`` only when the server asks for API keys
    (for clients that send no key unless told to)."""

    name: str
    route_sets: tuple[str, ...]  # every one must be on
    env: tuple[tuple[str, str], ...]
    use: tuple[str, ...]  # what to run or write once the variables are set
    calls: tuple[tuple[str, str], ...]  # (method, path) of the routes its everyday use sends
    model: str = "{model}"  # how the client names a model
    key_env: tuple[tuple[str, str], ...] = ()
    extras: tuple[tuple[str, str], ...] = ()  # (route set, what that set adds to this client)
    note: str = ""
    tested_with: str | None = None  # the library tests/clients drives with these settings

    def environment(self, url: str, key: str | None, model: str) -> dict[str, str]:
        """The variables, filled in; ``key`` None: the server asks for no key."""
        pairs = self.env + (self.key_env if key is not None else ())
        return {name: _fill(value, url, key, model) for name, value in pairs}

    def usage(self, url: str, key: str | None, model: str) -> list[str]:
        return [_fill(line, url, key, model) for line in self.use]

    def model_name(self, model: str) -> str:
        return self.model.replace("{model}", model)

    def missing(self, route_sets: Iterable[str]) -> list[str]:
        """The sets this client needs that are not in ``route_sets``."""
        on = set(route_sets)
        return [name for name in self.route_sets if name not in on]


def _fill(value: str, url: str, key: str | None, model: str) -> str:
    return value.replace("{url}", url).replace("{key}", ANY_KEY if key is None else key).replace("{model}", model)


_OPENAI_ENV = (("OPENAI_API_BASE", "{url}/v1"), ("OPENAI_API_KEY", "{key}"))  # LiteLLM's names, which aider sets
_OLLAMA_BASE = (("OLLAMA_API_BASE", "{url}"),)
_OLLAMA_KEY = (("OLLAMA_API_KEY", "{key}"),)
_EMBEDDINGS = ("embeddings",)

RECIPES: dict[str, Recipe] = {
    "openai-sdk": Recipe(
        "OpenAI SDK", ("openai",),
        env=(("OPENAI_BASE_URL", "{url}/v1"), ("OPENAI_API_KEY", "{key}")),
        use=("client = openai.OpenAI()  # reads both variables",),
        calls=(("GET", "/v1/models"), ("GET", "/v1/models/{model}"), ("POST", "/v1/chat/completions"),
               ("POST", "/v1/responses")),
        extras=((*_EMBEDDINGS, "`client.embeddings.create`"),),
        tested_with="openai",
    ),
    "anthropic-sdk": Recipe(
        "Anthropic SDK", ("anthropic",),
        env=(("ANTHROPIC_BASE_URL", "{url}"), ("ANTHROPIC_API_KEY", "{key}")),
        use=("client = anthropic.Anthropic()  # reads both variables",),
        calls=(("POST", "/v1/messages"),),
        note="`messages.count_tokens` is refused (403, not retried): Ollama has no such route.",
        tested_with="anthropic",
    ),
    "claude-code": Recipe(
        "Claude Code", ("anthropic",),
        env=(("ANTHROPIC_BASE_URL", "{url}"), ("ANTHROPIC_AUTH_TOKEN", "{key}"), ("ANTHROPIC_API_KEY", "")),
        use=("claude --model {model}",),
        calls=(("POST", "/v1/messages"),),
        note="The token goes as `Authorization: Bearer`; the empty ANTHROPIC_API_KEY keeps an Anthropic key "
             "of yours from being sent here. Coding agents want a long context (`ollama_context_length`).",
        tested_with="anthropic",  # the Anthropic SDK reads the same three variables
    ),
    "aider": Recipe(
        "aider", ("openai",),
        env=_OPENAI_ENV, use=("aider --model openai/{model}",), model="openai/{model}",
        calls=(("POST", "/v1/chat/completions"),),
        tested_with="litellm",  # aider calls LiteLLM, which reads these variables
    ),
    "litellm-openai": Recipe(
        "LiteLLM (`openai/`)", ("openai",),
        env=_OPENAI_ENV, use=('litellm.completion(model="openai/{model}", messages=[...])',), model="openai/{model}",
        calls=(("POST", "/v1/chat/completions"),),
        extras=((*_EMBEDDINGS, '`litellm.embedding(model="openai/{model}", input=[...])`'),),
        tested_with="litellm",
    ),
    "litellm-anthropic": Recipe(
        "LiteLLM (`anthropic/`)", ("anthropic",),
        env=(("ANTHROPIC_BASE_URL", "{url}"), ("ANTHROPIC_API_KEY", "{key}")),
        use=('litellm.completion(model="anthropic/{model}", max_tokens=1024, messages=[...])',),
        model="anthropic/{model}", calls=(("POST", "/v1/messages"),),
        note="The key goes as `x-api-key`. Give `max_tokens`: LiteLLM asks for 128000 otherwise.",
        tested_with="litellm",
    ),
    "open-webui-openai": Recipe(
        "Open WebUI (OpenAI connection)", ("openai",),
        env=(("OPENAI_API_BASE_URL", "{url}/v1"), ("OPENAI_API_KEY", "{key}")),
        use=(), calls=(("GET", "/v1/models"), ("POST", "/v1/chat/completions")),
        extras=((*_EMBEDDINGS, "RAG with the OpenAI embedding engine"),),
        note="Or in Admin Settings > Connections > OpenAI API: the same URL and key.",
    ),
    "ollama-client": Recipe(
        "`ollama` Python client", ("ollama-metadata", "ollama-inference"),
        env=(("OLLAMA_HOST", "{url}"),), key_env=_OLLAMA_KEY,
        use=("client = ollama.Client()  # reads OLLAMA_HOST (and OLLAMA_API_KEY)",),
        calls=(("GET", "/api/tags"), ("POST", "/api/show"), ("POST", "/api/chat"), ("POST", "/api/generate")),
        extras=((*_EMBEDDINGS, "`client.embed`, `client.embeddings`"),),
        note="OLLAMA_HOST needs the port: `http://` and a name without one means port 80.",
        tested_with="ollama",
    ),
    "litellm-ollama": Recipe(
        "LiteLLM (`ollama_chat/`, `ollama/`)", ("ollama-metadata", "ollama-inference"),
        env=_OLLAMA_BASE, key_env=_OLLAMA_KEY,
        use=('litellm.completion(model="ollama_chat/{model}", messages=[...])',), model="ollama_chat/{model}",
        calls=(("POST", "/api/chat"), ("POST", "/api/generate"), ("POST", "/api/show")),
        extras=((*_EMBEDDINGS, '`litellm.embedding(model="ollama/{model}", input=[...])`'),),
        tested_with="litellm",
    ),
    "aider-ollama": Recipe(
        "aider (Ollama's API)", ("ollama-metadata", "ollama-inference"),
        env=_OLLAMA_BASE, key_env=_OLLAMA_KEY, use=("aider --model ollama_chat/{model}",),
        model="ollama_chat/{model}", calls=(("POST", "/api/chat"), ("POST", "/api/show")),
        tested_with="litellm",  # aider calls LiteLLM, which reads these variables
    ),
    "open-webui-ollama": Recipe(
        "Open WebUI (Ollama connection)", ("ollama-metadata", "ollama-inference"),
        env=(("OLLAMA_BASE_URL", "{url}"),),
        use=(), calls=(("GET", "/api/tags"), ("GET", "/api/ps"), ("GET", "/api/version"), ("POST", "/api/chat")),
        extras=((*_EMBEDDINGS, "RAG with the Ollama embedding engine"),),
        note="Or in Admin Settings > Connections > Ollama API: the same URL. With API keys, put yours in that "
             "connection's key field: Open WebUI sends it as a Bearer token.",
    ),
}


def served(route_sets: Iterable[str]) -> tuple[list[Recipe], list[Recipe]]:
    """(the recipes ``route_sets`` serve, the others), each in RECIPES' order."""
    sets = list(route_sets)
    on = [recipe for recipe in RECIPES.values() if not recipe.missing(sets)]
    return on, [recipe for recipe in RECIPES.values() if recipe.missing(sets)]

