"""Operations that keep the Mac's models as declared: pulled through its own Ollama on loopback, with the
progress shown as the pull goes, and removed when they are not declared."""

from __future__ import annotations

import json
import shlex
from typing import Any

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, operation

from facts.ollama_models import OllamaModels
from facts.once import read
from private_ollama.desired_state.models import ModelName, human_bytes

# How often a running pull prints where it is.
PROGRESS_EVERY_S = 2
# How long to wait for Ollama to answer before a pull (it may have just been started).
OLLAMA_WAIT_S = 30
# Ollama's words for a failed pull, and what to do about each.
REMEDIES = (
    ("file does not exist", "{model} is not in the registry: check its name and tag (ollama.com/library) in ollama_models"),
    ("no space left on device", "the models volume is full: free space there, or set ollama_models_dir to a larger "
                                "disk; the next apply resumes the pull (Ollama keeps what it downloaded)"),
    ("dial tcp", "the Mac cannot reach the registry: check its network (and HTTPS_PROXY for Ollama); the next apply "
                 "resumes the pull"),
    ("certificate", "the Mac cannot check the registry's certificate: check its clock and network"),
)


@operation()
def present(model: str, port: int, pull_timeout_s: int, update: bool, facts: dict[str, Any]):
    """
    Make a model present on the Mac: pull it through its Ollama on 127.0.0.1 when it is missing (or, with
    ``update``, when the registry holds another manifest than the installed one).

    + model: ``name[:tag]``
    + port: Ollama's port on loopback (the pull never goes through the proxy)
    + pull_timeout_s: the longest the pull may take; the next apply resumes a pull cut short
    + update: compare with the registry's manifest (its digest) and pull a newer one
    + facts: the arguments of the ``OllamaModels`` read shared by the deploy's model operations

    The pull prints its progress (layer, percent, bytes) every few seconds. A failed pull fails the host
    with Ollama's own message and what to do.

    **Example:**

    .. code:: python

        models.present(
            name="Ensure the model llama3.2:latest is on the Mac",
            model="llama3.2", port=11434, pull_timeout_s=14400, update=False,
            facts={"port": 11434, "models_dir": "/Users/admin/.ollama/models", "manifests": {...}},
        )
    """
    wanted = ModelName.parse(model)
    found = read(OllamaModels, **facts)
    installed = found["models"].get(wanted.key)
    if installed is not None:
        registry = found["manifests"].get(wanted.key)
        if not update:
            host.noop(f"{wanted.shortest} is on the Mac ({human_bytes(installed['size'])})")
            return
        if registry is None or registry["digest"] is None:
            status = registry["status"] if registry else "not asked"
            host.noop(f"{wanted.shortest} is on the Mac; the registry did not say whether it has a newer one ({status})")
            return
        if registry["digest"] == installed["digest"]:
            host.noop(f"{wanted.shortest} is on the Mac, as the registry's newest ({installed['digest'][:12]})")
            return
    yield FunctionCommand(_pull, (wanted.shortest, port, pull_timeout_s), {})


@operation()
def absent(model: str, ollama: str, port: int):
    """
    Remove a model from the Mac, as ``ollama rm`` does: a loaded model is unloaded first (a generation that
    uses it at that moment is cut), then its manifest and the blobs no other model shares are deleted.

    + model: the model's name, as Ollama lists it
    + ollama: the ``ollama`` CLI on the Mac; it talks to the Ollama on ``127.0.0.1:port``

    **Example:**

    .. code:: python

        models.absent(name="Ensure the model qwen3:8b is gone (not declared)", model="qwen3:8b",
                      ollama="/opt/homebrew/bin/ollama", port=11434)
    """
    if host.state.is_executing:
        logger.warning(f"{host.print_prefix}Removing the model {model}: it is not in ollama_models")
    yield StringCommand(f"OLLAMA_HOST=127.0.0.1:{int(port)}", shlex.quote(ollama), "rm", shlex.quote(model))


# The last line of a pull, after the progress: one of these after "MODEL: ".
PULLED, OLLAMA_ERROR, OLLAMA_LAST, CURL_FAILED = "pulled", "Ollama says: ", "Ollama's last line: ", "curl failed: "


def pull_script(model: str, port: int, timeout_s: int) -> str:
    """The shell that pulls ``model`` with ``POST /api/pull`` on loopback and prints where it is every few
    seconds, then one last line, ``MODEL: `` and: ``pulled``; Ollama's error line; Ollama's last NDJSON line
    when it is not a success; or curl's exit status and message."""
    api = f"http://127.0.0.1:{int(port)}"
    quoted = shlex.quote(model)
    text = """sed -n 's/.*"status":"\\([^"]*\\)".*/\\1/p'"""
    number = """sed -n 's/.*"{}":\\([0-9]*\\).*/\\1/p'"""
    # human_bytes's units: decimal, as Ollama shows sizes.
    size = ("""awk -v n="$1" 'BEGIN { split("TB GB MB KB", u); for (i = 1; i <= 4; i++) { s = 10 ^ (3 * (5 - i));"""
            """ if (n >= s) { v = n / s; f = "%.1f %s"; if (v >= 10) f = "%d %s"; printf f, v, u[i]; exit } }"""
            """ printf "%d B", n }'""")
    last = f"printf '%s: %s%s\\n' {quoted}"
    return "\n".join([
        f"size() {{ {size}; }}",
        f'show() {{ last=$(tail -n 1 "$out"); s=$(printf "%s" "$last" | {text});',
        f'  t=$(printf "%s" "$last" | {number.format("total")}); c=$(printf "%s" "$last" | {number.format("completed")})',
        '  if [ -n "$t" ] && [ -n "$c" ] && [ "$t" -gt 0 ]; then',
        f'    printf "%s: %s %d%% (%s of %s)\\n" {quoted} "$s" $((c * 100 / t)) "$(size "$c")" "$(size "$t")"',
        f'  elif [ -n "$s" ]; then printf "%s: %s\\n" {quoted} "$s"; fi; }}',
        f"i=0; until curl -s -m 2 -o /dev/null {api}/api/version; do i=$((i + 1))",
        f'  if [ $i -ge {OLLAMA_WAIT_S * 2} ]; then {last} "{CURL_FAILED}" "7 Ollama did not answer on {api} within'
        f' {OLLAMA_WAIT_S}s"; exit 1; fi; sleep 0.5; done',
        'out=$(mktemp); err=$(mktemp)',
        f"curl -sS -N -m {int(timeout_s)} -X POST {api}/api/pull -H 'Content-Type: application/json'"
        f' -d {shlex.quote(json.dumps({"model": model}))} > "$out" 2> "$err" & pid=$!',
        f"while kill -0 $pid 2>/dev/null; do sleep {PROGRESS_EVERY_S}; show; done",
        "wait $pid; rc=$?",
        f'if [ $rc -ne 0 ]; then {last} "{CURL_FAILED}" "$rc $(tr "\\n" " " < "$err")"',
        f'elif grep -q \'^{{"error"\' "$out"; then {last} "{OLLAMA_ERROR}" "$(grep \'^{{"error"\' "$out" | tail -n 1)"',
        f'elif [ "$(tail -n 1 "$out")" = \'{{"status":"success"}}\' ]; then {last} "{PULLED}" ""',
        f'else {last} "{OLLAMA_LAST}" "$(tail -n 1 "$out")"; fi',
        'rm -f "$out" "$err"',
    ])


def _pull(state, host, model: str, port: int, timeout_s: int) -> bool:
    """Run the pull, its progress printed as it comes; on failure, say Ollama's words and the remedy."""
    ok, output = host.run_shell_command(StringCommand(pull_script(model, port, timeout_s)), print_output=True,
                                        _timeout=timeout_s + OLLAMA_WAIT_S + 60)
    lines = [line.line for line in output.combined_lines if line.line.startswith(f"{model}: ")]
    failure = pull_failure(lines[-1].removeprefix(f"{model}: ") if lines else "", model, timeout_s)
    if failure is None and ok:
        return True
    host.log_styled(failure or f"the pull of {model} failed: it printed nothing", fg="red", log_func=logger.error)
    return False


def pull_failure(last: str, model: str, timeout_s: int) -> str | None:
    """What to say of a pull's last line (after ``MODEL: ``); None when it is pulled."""
    if last == PULLED:
        return None
    if last.startswith(CURL_FAILED):
        status, _, said = last.removeprefix(CURL_FAILED).partition(" ")
        if status == "28":
            return (f"the pull of {model} did not finish within ollama_pull_timeout ({timeout_s}s): raise it, or "
                    "apply again to resume it (Ollama keeps what it downloaded)")
        return f"the pull of {model} could not ask Ollama (curl {status}: {said.strip()})"
    if last.startswith(OLLAMA_ERROR):
        try:
            said = str(json.loads(last.removeprefix(OLLAMA_ERROR)).get("error"))
        except ValueError:
            said = last.removeprefix(OLLAMA_ERROR)
        remedy = next((remedy for words, remedy in REMEDIES if words in said), "see Ollama's log on the Mac")
        return f"the pull of {model} failed; Ollama says: {said}. {remedy.format(model=model)}"
    return f"the pull of {model} ended without Ollama saying it succeeded: {last[:200]!r}"
