"""Facts about the Mac itself: its release and deploy user, and which paths exist."""

from __future__ import annotations

import re
import shlex
from typing import TypedDict, cast

from pyinfra import logger
from pyinfra.api import FactBase
from typing_extensions import override

# sw_vers prints `Key:<TAB><TAB>value` (one TAB for ProductVersionExtra).
_SW_VERS_LINE = re.compile(r"^(?P<key>[A-Za-z]+):\t+(?P<value>.*)$")
# The lines MacHost's own command prints after sw_vers.
_SHELL_LINE = re.compile(r"^(?P<key>arch|uid|user|home)=(?P<value>.*)$")


class MacHostInfo(TypedDict):
    product_name: str | None
    product_version: str | None
    build_version: str | None
    major: int | None
    arch: str | None
    uid: int | None
    user: str | None
    home: str | None


class MacHost(FactBase[MacHostInfo]):
    """
    The macOS release, the CPU architecture and the deploy user, in one round trip.
    Pieces that cannot be read are None: on a host that is not a Mac there is
    no ``sw_vers``, so ``product_name`` is None.

    .. code:: python

        {
            "product_name": "macOS", "product_version": "15.7.7", "build_version": "24G720",
            "major": 15, "arch": "arm64", "uid": 501, "user": "admin", "home": "/Users/admin",
        }
    """

    @override
    def command(self) -> str:
        # Off a Mac there is no sw_vers: that shows as missing lines, not an error.
        return (
            "sw_vers 2>/dev/null; "
            r"printf 'arch=%s\nuid=%s\nuser=%s\nhome=%s\n' "
            '"$(uname -m)" "$(id -u)" "$(id -un)" "$HOME"'
        )

    @staticmethod
    def default() -> MacHostInfo:
        return cast(MacHostInfo, dict.fromkeys(MacHostInfo.__annotations__))

    @override
    def process(self, output: list[str]) -> MacHostInfo:
        read: dict[str, str] = {}
        for line in output:
            match = _SW_VERS_LINE.match(line) or _SHELL_LINE.match(line)
            if match is None:
                logger.warning(f"MacHost: could not parse line {line!r}")
                continue
            read[match["key"]] = match["value"]

        version = read.get("ProductVersion") or None
        return MacHostInfo(
            product_name=read.get("ProductName") or None,
            product_version=version,
            build_version=read.get("BuildVersion") or None,
            major=_leading_int(version, "major version"),
            arch=read.get("arch") or None,
            uid=_leading_int(read.get("uid"), "uid"),
            user=read.get("user") or None,
            home=read.get("home") or None,
        )


def _leading_int(value: str | None, what: str) -> int | None:
    """The integer before the first dot: ``"15.7.7"`` -> 15, ``"501"`` -> 501."""
    if not value:
        return None
    leading = value.split(".")[0]
    if leading.isdigit():
        return int(leading)
    logger.warning(f"MacHost: could not read a {what} from {value!r}")
    return None


class PathsExist(FactBase[dict[str, bool]]):
    """
    Whether each of several absolute paths exists, in one round trip. A dangling
    symlink counts as missing (``test -e`` follows links).

    + paths: absolute paths (no ``~``: the shell would not expand it quoted)

    .. code:: python

        {"/Applications/Tailscale.app": True, "/Users/admin/Library/LaunchAgents/x.plist": False}
    """

    @override
    def command(self, paths: list[str]) -> str:
        relative = [path for path in paths if not path.startswith("/")]
        if relative:
            raise ValueError(f"PathsExist needs absolute paths, got {relative}")
        quoted = " ".join(shlex.quote(path) for path in paths)
        # printf, not echo: dash's echo would expand backslashes in a path.
        return f'for p in {quoted}; do if [ -e "$p" ]; then printf "1 %s\\n" "$p"; else printf "0 %s\\n" "$p"; fi; done'

    default = dict

    @override
    def process(self, output: list[str]) -> dict[str, bool]:
        exists: dict[str, bool] = {}
        for line in output:
            flag, _, path = line.partition(" ")
            if flag not in ("0", "1") or not path.startswith("/"):
                logger.warning(f"PathsExist: could not parse line {line!r}")
                continue
            exists[path] = flag == "1"
        return exists
