"""The recipes the client settings file and the README give are the ones this suite runs: each recipe
that names a library is run by a test of that library, the library is pinned, and a recipe's variables
are all a library needs (a fresh process with nothing else set reaches the server)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from private_ollama.desired_state.clients import RECIPES
from tests.clients.asks import ANSWER, TOKENS
from tests.clients.conftest import LITELLM_OFFLINE
from tests.clients.servers import server_url

HERE = Path(__file__).resolve().parent
REQUIREMENTS = (HERE.parents[1] / "requirements.txt").read_text()
TESTED = {name: recipe for name, recipe in RECIPES.items() if recipe.tested_with}
# Each library's everyday call (a line of FRESH_RUN below).
FRESH_CALL = {
    "openai": "openai.OpenAI().chat.completions.create(model=MODEL, messages=CHAT, max_tokens=TOKENS)"
              ".choices[0].message.content",
    "anthropic": "anthropic.Anthropic().messages.create(model=MODEL, messages=CHAT, max_tokens=TOKENS).content[0].text",
    "ollama": "ollama.Client().chat(model=MODEL, messages=CHAT, options={'num_predict': TOKENS}).message.content",
    "litellm": "litellm.completion(model=MODEL, messages=CHAT, max_tokens=TOKENS).choices[0].message.content",
}


@pytest.mark.parametrize("name", sorted(TESTED))
def test_the_library_of_each_tested_recipe_is_pinned(name):
    assert re.search(rf"^{re.escape(TESTED[name].tested_with)}==\S+$", REQUIREMENTS, flags=re.MULTILINE)


@pytest.mark.parametrize("name", sorted(TESTED))
def test_each_tested_recipe_is_run_by_a_test_of_its_library(name):
    library = TESTED[name].tested_with
    runners = [path.name for path in HERE.glob("test_*.py")
               if f'"{name}"' in (text := path.read_text()) and re.search(rf"^(import|from) {library}\b", text, re.M)]
    assert runners, f"no test module imports {library} and runs the recipe {name}"


FRESH_RUN = """
import json, os, sys
import {library}
for environment, model in json.loads(sys.argv[1]):
    os.environ.clear()
    os.environ.update(environment)
    MODEL, CHAT, TOKENS = model, [{{"role": "user", "content": "hi"}}], int(os.environ["TOKENS"])
    print("answer: " + {call})
"""


@pytest.mark.parametrize("library", sorted(FRESH_CALL))
def test_a_process_with_only_a_recipes_variables_reaches_the_server(full_proxy, model_id, library):
    """Each recipe of ``library`` in turn, in one fresh process whose environment is only that recipe's
    variables (and, for LiteLLM, the offline ones): nothing of the test process helps."""
    recipes = [recipe for recipe in TESTED.values() if recipe.tested_with == library]
    base = {"PATH": "/usr/bin:/bin", "TOKENS": str(TOKENS), **(LITELLM_OFFLINE if library == "litellm" else {})}
    runs = [({**base, **recipe.environment(server_url(full_proxy), None, model_id)}, recipe.model_name(model_id))
            for recipe in recipes]
    run = subprocess.run([sys.executable, "-c", FRESH_RUN.format(library=library, call=FRESH_CALL[library]), json.dumps(runs)],
                         env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    answers = [line.removeprefix("answer: ") for line in run.stdout.splitlines() if line.startswith("answer: ")]
    assert answers == [ANSWER] * len(recipes)
