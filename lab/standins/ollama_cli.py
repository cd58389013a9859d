"""The ``ollama`` CLI of the stand-in: the commands the project runs, as Ollama's cmd/cmd.go runs them.

    ollama -v | --version           the server's version and the client's (warnings on stdout, exit 0)
    ollama list | ls [PREFIX]       NAME ID SIZE MODIFIED (a prefix in any case)
    ollama ps [PREFIX]              NAME ID SIZE PROCESSOR CONTEXT UNTIL
    ollama pull MODEL               the server's progress on stderr (see ollama_progress), nothing on stdout
    ollama rm MODEL [MODEL...]      unload first (show, then generate with keep_alive "0s"), delete,
                                    ``deleted 'MODEL'`` on stdout

They talk to the server OLLAMA_HOST names with the Go client's requests
(bodies with every field it writes, ``Accept: application/x-ndjson`` for
streams). pull, list, ps and rm first send ``HEAD /``; a refused connection is
``could not connect to ollama server, run 'ollama serve' to start it`` (the
Homebrew binary is no app to start). Every error is ``Error: <message>`` on
stderr and exit 1: an ``{"error"}`` line of a stream is its message, an HTTP
error of a stream ``<status line>: <message>`` (``404 Not Found: ...``), of a
plain call the message alone. rm warns ``Warning: unable to stop model 'M'``
when the unload fails for another reason than "not found", and stops at the
first model it cannot delete. A pull of an untagged name that fails with
``file does not exist`` asks ``/api/show`` about ``NAME:cloud`` (the CLI's
cloud suggestion), and keeps its error when that fails. Tables are
tablewriter's: columns padded to their widest cell, four spaces after each
cell of a row, one after the header's last. Argument counts are checked as
cobra does (``accepts 1 arg(s), received 0``).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

if __package__:  # the tests import the stand-in as lab.standins
    from .ollama_config import USER_AGENT, VERSION, env, parse_ollama_host
    from .ollama_progress import Bar, Progress, Spinner, human_bytes
else:  # the stand-in program (see ollama.py)
    from ollama_config import USER_AGENT, VERSION, env, parse_ollama_host
    from ollama_progress import Bar, Progress, Spinner, human_bytes

USAGE = """Large language model runner

Usage:
  ollama [flags]
  ollama [command]

Available Commands:
  serve       Start Ollama
  pull        Pull a model from a registry
  list        List models
  ps          List running models
  rm          Remove a model

Flags:
  -h, --help      help for ollama
  -v, --version   Show version information

Use "ollama [command] --help" for more information about a command."""
NOT_RUNNING = "could not connect to ollama server, run 'ollama serve' to start it"
NOT_FOUND_ON_PULL = "pull model manifest: file does not exist"


class CLIError(Exception):
    """Printed as ``Error: <message>``; exit 1."""


class Client:
    """api.ClientFromEnvironment: the server OLLAMA_HOST names (a wildcard address means this host)."""

    def __init__(self) -> None:
        host, self.port = parse_ollama_host(env(os.environ, "OLLAMA_HOST"))
        self.host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
        self.base = f"http://{f'[{self.host}]' if ':' in self.host else self.host}:{self.port}"

    def _send(self, method: str, path: str, body: object, accept: str) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection(self.host, self.port)
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Accept": accept, "User-Agent": USER_AGENT}
        try:
            connection.request(method, path, body=data, headers=headers)
            return connection.getresponse()
        except OSError as error:
            reason = os.strerror(error.errno).lower() if error.errno else str(error)
            raise CLIError(f'{method[0]}{method[1:].lower()} "{self.base}{path}": dial tcp {self.host}:{self.port}: '
                           f"connect: {reason}") from None

    def heartbeat(self) -> None:
        """checkServerHeartbeat: HEAD /."""
        try:
            self._send("HEAD", "/", None, "application/json").close()
        except CLIError as error:
            raise CLIError(NOT_RUNNING if " refused" in str(error) else str(error)) from None

    def do(self, method: str, path: str, body: object = None) -> dict:
        """Client.do: the JSON answer; an HTTP error is its message alone."""
        with self._send(method, path, body, "application/json") as response:
            answer = response.read()
        if response.status >= 400:
            try:
                raise CLIError(json.loads(answer)["error"])
            except (ValueError, KeyError, TypeError):
                raise CLIError(answer.decode(errors="replace")) from None
        return json.loads(answer) if answer else {}

    def stream(self, method: str, path: str, body: object) -> Iterator[dict]:
        """Client.stream: each NDJSON line; an error line or an HTTP error ends it."""
        with self._send(method, path, body, "application/x-ndjson") as response:
            status = f"{response.status} {response.reason}"
            for line in response:
                text = line.decode(errors="replace").rstrip("\n")
                try:
                    value = json.loads(text)
                except ValueError:
                    raise CLIError(f"{status}: {text}" if response.status >= 400 else text) from None
                said = value.get("error", "") if isinstance(value, dict) else ""
                if response.status >= 400:
                    raise CLIError(f"{status}: {said}" if said else status)
                if said:
                    raise CLIError(said)
                yield value


def show_request(model: str) -> dict:
    """api.ShowRequest as the Go client writes it: every field."""
    return {"model": model, "system": "", "template": "", "verbose": False, "options": None, "name": ""}


# --- Commands ---------------------------------------------------------------------------------


def run(arguments: list[str]) -> int:
    """Every command but ``serve``: its exit status."""
    if not arguments or arguments[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = arguments[0], arguments[1:]
    commands = {"-v": version, "--version": version, "list": list_models, "ls": list_models, "ps": running,
                "pull": pull, "rm": remove}
    if command not in commands:
        print(f'Error: unknown command "{command}" for "ollama"\nRun \'ollama --help\' for usage.', file=sys.stderr)
        return 1
    try:
        return commands[command](rest)
    except CLIError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1


def version(arguments: list[str]) -> int:
    """versionHandler: warnings on stdout, exit 0 even with no server."""
    try:
        server_version = Client().do("GET", "/api/version").get("version", "")
    except (CLIError, ValueError):
        print("Warning: could not connect to a running Ollama instance")
        server_version = ""
    if server_version:
        print(f"ollama version is {server_version}")
    if server_version != VERSION:
        print(f"Warning: client version is {VERSION}")
    return 0


def list_models(arguments: list[str]) -> int:
    client = Client()
    client.heartbeat()
    prefix = arguments[0].lower() if arguments else ""
    rows = [[m["name"], m["digest"][:12], human_bytes(m["size"]), human_time(_parse_time(m["modified_at"]), "Never")]
            for m in client.do("GET", "/api/tags")["models"] if m["name"].lower().startswith(prefix)]
    sys.stdout.write(table(["NAME", "ID", "SIZE", "MODIFIED"], rows))
    return 0


def running(arguments: list[str]) -> int:
    client = Client()
    client.heartbeat()
    rows = []
    for m in client.do("GET", "/api/ps")["models"]:
        if arguments and not m["name"].startswith(arguments[0]):
            continue
        expires = _parse_time(m["expires_at"])
        until = "Stopping..." if expires < datetime.now(UTC) else human_time(expires, "Never")
        rows.append([m["name"], m["digest"][:12], human_bytes(m["size"]), processor(m["size"], m["size_vram"]),
                     str(m["context_length"]), until])
    sys.stdout.write(table(["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"], rows))
    return 0


def processor(size: int, vram: int) -> str:
    """Where a loaded model is: ``100% GPU``, ``100% CPU``, ``48%/52% CPU/GPU``."""
    if vram == 0:
        return "100% CPU"
    if vram == size:
        return "100% GPU"
    if vram > size or size == 0:
        return "Unknown"
    cpu = math.floor((size - vram) / size * 100 + 0.5)
    return f"{cpu}%/{100 - cpu}% CPU/GPU"


def pull(arguments: list[str]) -> int:
    if len(arguments) != 1:
        raise CLIError(f"accepts 1 arg(s), received {len(arguments)}")
    client = Client()
    client.heartbeat()
    name = arguments[0]
    try:
        _pull_with_progress(client, name)
    except CLIError as error:
        if NOT_FOUND_ON_PULL not in str(error) or not _cloud_candidate(name):
            raise
        try:
            client.do("POST", "/api/show", show_request(f"{name}:cloud"))
        except CLIError:
            raise error from None
        raise CLIError(f'{error}\n\n"{name}:cloud" is available as a cloud model. Try:\n  ollama pull {name}:cloud') from None
    return 0


def _pull_with_progress(client: Client, name: str) -> None:
    """pullModelWithProgress: a bar per digest (from its first event with bytes), a spinner per new status."""
    progress = Progress(sys.stderr.buffer)
    bars: dict[str, Bar] = {}
    status, spinner = None, None
    try:
        for event in client.stream("POST", "/api/pull", {"model": "", "username": "", "password": "", "name": name}):
            digest = event.get("digest", "")
            if digest:
                if not event.get("completed"):
                    continue  # the layer's first event: no 0% bar
                if spinner:
                    spinner.stop()
                if digest not in bars:
                    label = digest.removeprefix("sha256:").strip()
                    bars[digest] = Bar(f"pulling {label[:12] if digest.startswith('sha256:') else label}:",
                                       event.get("total", 0), event["completed"])
                    progress.add(bars[digest])
                bars[digest].set(event["completed"])
            elif event.get("status") != status:
                if spinner:
                    spinner.stop()
                status = event.get("status")
                spinner = Spinner(status or "")
                progress.add(spinner)
    finally:
        progress.stop()


def _cloud_candidate(name: str) -> bool:
    """cloudSuggestionName: a default-registry name with no tag and no :cloud/:local source."""
    if name.rfind(":") > name.rfind("/") or name.endswith(("-cloud", "-local")):
        return False
    parts = name.split("/")
    return len(parts) < 3 or parts[0].lower() == "registry.ollama.ai"


def remove(arguments: list[str]) -> int:
    if not arguments:
        raise CLIError("requires at least 1 arg(s), only received 0")
    client = Client()
    client.heartbeat()
    for name in arguments:
        try:
            _unload(client, name)
        except CLIError as error:
            if "not found" not in str(error).lower():
                print(f"Warning: unable to stop model '{name}'", file=sys.stderr)
        client.do("DELETE", "/api/delete", {"model": "", "name": name})
        print(f"deleted '{name}'")
    return 0


def _unload(client: Client, name: str) -> None:
    """loadOrUnloadModel with keep_alive 0: a nameless spinner, cleared after."""
    progress = Progress(sys.stderr.buffer)
    progress.add(Spinner(""))
    try:
        if client.do("POST", "/api/show", show_request(name)).get("remote_host"):
            return  # a cloud model: nothing runs here
        request = {"model": name, "prompt": "", "suffix": "", "system": "", "template": "", "keep_alive": "0s",
                   "options": None}
        for _ in client.stream("POST", "/api/generate", request):
            pass
    finally:
        progress.stop_and_clear()


# --- Formats ---------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    """tablewriter v0.0.5 as Ollama sets it up: left aligned, no borders, no header line, 4 spaces of padding."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["".join(cell.ljust(width) + (" " if last else "    ")
                     for cell, width, last in zip(header, widths, [False] * (len(header) - 1) + [True], strict=True))]
    lines += ["".join(cell.ljust(width) + "    " for cell, width in zip(row, widths, strict=True)) for row in rows]
    return "".join(f"{line}\n" for line in lines)


def _parse_time(value: str) -> datetime:
    """An RFC 3339 time with nanoseconds, which ``fromisoformat`` does not take."""
    whole, _, rest = value.partition(".")
    digits = "".join(c for c in rest if c.isdigit())
    zone = rest[len(digits):] if rest else whole[19:]
    return datetime.fromisoformat(whole[:19] + (f".{digits[:6]}" if digits else "") + (zone or "+00:00"))


def human_time(moment: datetime, zero: str) -> str:
    """format.HumanTime: ``7 months ago``, ``4 minutes from now``, ``Forever`` past 20 years ahead."""
    if moment.year == 1:
        return zero
    seconds = (datetime.now(UTC) - moment).total_seconds()
    if int(int(seconds / 3600) / 24 / 365) < -20:  # Go's int division truncates toward zero
        return "Forever"
    return _human_duration(abs(seconds)) + (" ago" if seconds >= 0 else " from now")


def _human_duration(seconds: float) -> str:
    hours = math.floor(seconds / 3600 + 0.5)
    if seconds < 1:
        return "Less than a second"
    if seconds < 60:
        return "1 second" if int(seconds) == 1 else f"{int(seconds)} seconds"
    if seconds < 3600:
        return "About a minute" if int(seconds // 60) == 1 else f"{int(seconds // 60)} minutes"
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 14:
        return f"{hours // 24} days"
    if hours < 24 * 60:
        return f"{hours // (24 * 7)} weeks"
    if hours < 24 * 730:
        return f"{hours // (24 * 30)} months"
    return f"{int(seconds // 3600) // 24 // 365} years"
