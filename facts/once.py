"""Facts read once per host while pyinfra prepares, afresh while it executes.

pyinfra 3 runs a fact's command each time the fact is asked for. While it
prepares (loads the deploy and, without -y, runs each operation to see what it
would change), nothing runs on the host but fact commands: a second read of the
same fact with the same arguments can only get the same answer, so it is served
from memory. That is the whole drift check (`--dry`). While pyinfra executes,
operations change the host, and every read goes to it. A read is the same read
only as the same user: the running operation's `_sudo`, `_su_user`, `_env`...
are part of it. (Deploy code that runs commands itself while pyinfra prepares,
through `host.run_shell_command`, would make answers stale: the project does not.)

.. code:: python

    from facts.once import read

    status = read(TailscaleStatus, cli="/opt/homebrew/bin/tailscale")
"""

from __future__ import annotations

import copy
import weakref
from typing import Any, TypeVar

from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments
from pyinfra.api.state import StateStage

T = TypeVar("T")

# Per pyinfra State (a run), per (host, fact, arguments).
_answers: weakref.WeakKeyDictionary[Any, dict[tuple, Any]] = weakref.WeakKeyDictionary()


def read(fact: type[FactBase[T]], **arguments: Any) -> T:
    """``host.get_fact(fact, **arguments)``, asked of the host at most once while preparing."""
    state = host.state
    if state.current_stage != StateStage.Prepare:
        return host.get_fact(fact, **arguments)
    answers = _answers.setdefault(state, {})
    key = (host.name, fact, _as_read(arguments))
    if key not in answers:
        answers[key] = host.get_fact(fact, **arguments)
    return copy.deepcopy(answers[key])  # callers cannot change what the next one reads


def _as_read(arguments: dict[str, Any]) -> str:
    """The fact's own arguments and how the host runs it (sudo, user, env...), merged as pyinfra does:
    the running operation's global arguments, overridden by the read's, defaults from host data."""
    merged = {**(host.current_op_global_arguments or {}), **arguments}
    how, _ = pop_global_arguments(host.state, host, merged)  # leaves the fact's own arguments in `merged`
    runs_as = {name: value for name, value in how.items() if name in CONNECTOR_ARGUMENT_KEYS}
    return repr((sorted(merged.items()), sorted(runs_as.items())))
