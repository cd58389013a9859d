"""What the tests ask the model, in each API's shape, and what the stand-in answers.

The stand-in's model says ``WORDS`` one token at a time, as many as the request's limit
(``TOKENS``), and calls a tool it is offered when the user's last turn names it.

.. code:: python

    client.chat.completions.create(model=model_id, messages=CHAT, max_tokens=TOKENS)  # says ANSWER
    client.chat.completions.create(model=model_id, messages=TOOL_CHAT, tools=OPENAI_TOOLS)  # calls get_weather
"""

from __future__ import annotations

from lab.standins.ollama import WORDS

TOKENS = 3
STREAMED = list(WORDS[:TOKENS])  # the tokens, one per streamed chunk
ANSWER = "".join(STREAMED)  # "The sky is"
PROMPT = "Why is the sky blue?"
CHAT = [{"role": "user", "content": PROMPT}]
TOOL = "get_weather"
TOOL_PROMPT = f"What is the weather in Paris? Use {TOOL}."
TOOL_CHAT = [{"role": "user", "content": TOOL_PROMPT}]
PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CALLED_WITH = {"city": ""}  # the stand-in fills a required string with ""

# The same tool in each API's shape.
OPENAI_TOOLS = [{"type": "function", "function": {"name": TOOL, "description": "The weather of a city",
                                                  "parameters": PARAMETERS}}]
RESPONSES_TOOLS = [{"type": "function", "name": TOOL, "description": "The weather of a city",
                    "parameters": PARAMETERS}]
ANTHROPIC_TOOLS = [{"name": TOOL, "description": "The weather of a city", "input_schema": PARAMETERS}]
OLLAMA_TOOLS = OPENAI_TOOLS
