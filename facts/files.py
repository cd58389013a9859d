"""Facts about files on the Mac: the SHA-1 and mode of several at once."""

from __future__ import annotations

import re
import shlex
from typing import TypedDict

from pyinfra import logger
from pyinfra.api import FactBase
from typing_extensions import override

_LINE = re.compile(r"^(?P<sha1>[0-9a-f]{40}|-) (?P<mode>[0-7]{3,4}|-) (?P<path>/.*)$")


class FileDigest(TypedDict):
    sha1: str
    mode: int  # octal digits as an int (644), as pyinfra's File fact has them


class FileDigests(FactBase[dict[str, FileDigest | None]]):
    """
    The SHA-1 and mode of each of several files, in one round trip; None for a
    path that is not a regular file. ``shasum`` is the Mac's (``sha1sum`` where
    there is one), ``stat -f`` BSD's.

    + paths: absolute paths

    .. code:: python

        {"/Users/admin/.private-ollama/errors/400.http": {"sha1": "3f2a...", "mode": 600},
         "/Users/admin/.private-ollama/api-keys.map": None}
    """

    @override
    def command(self, paths: list[str]) -> str:
        relative = [path for path in paths if not path.startswith("/")]
        if relative:
            raise ValueError(f"FileDigests needs absolute paths, got {relative}")
        quoted = " ".join(shlex.quote(path) for path in paths)
        digest = '$( (sha1sum "$p" 2>/dev/null || shasum -a 1 "$p") | cut -d" " -f1)'
        return (f'for p in {quoted}; do if [ -f "$p" ] && [ ! -L "$p" ]; then'
                f' printf "%s %s %s\\n" "{digest}" "$(stat -f %Lp "$p")" "$p";'
                ' else printf -- "- - %s\\n" "$p"; fi; done')

    default = dict

    @override
    def process(self, output: list[str]) -> dict[str, FileDigest | None]:
        digests: dict[str, FileDigest | None] = {}
        for line in output:
            match = _LINE.match(line)
            if match is None:
                logger.warning(f"FileDigests: could not parse line {line!r}")
                continue
            found = match["sha1"] != "-" and match["mode"] != "-"
            digests[match["path"]] = FileDigest(sha1=match["sha1"], mode=int(match["mode"])) if found else None
        return digests
