"""The lab's launchd: supervises jobs and answers /bin/launchctl over a Unix socket.

Runs as root with Debian's /usr/bin/python3 and only the standard library, as
a module run from the stand-ins' folder (the behaviour is documented in
``__init__.py``).

.. code:: shell

    cd lab/standins && /usr/bin/python3 -m launchd --socket /var/run/launchd-standin.sock \\
        --state-dir /var/db/launchd-standin
"""

import argparse
from pathlib import Path

from .server import serve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", type=Path, default=Path("/var/run/launchd-standin.sock"))
    parser.add_argument("--state-dir", type=Path, default=Path("/var/db/launchd-standin"), help="gui-sessions, overrides")
    parser.add_argument("--library", type=Path, default=Path("/Library"), help="holds LaunchDaemons/ and LaunchAgents/")
    parser.add_argument("--var-folders", type=Path, default=Path("/var/folders"), help="where per-user TMPDIRs go")
    options = parser.parse_args()
    serve(options.socket, options.state_dir, options.library, options.var_folders)


if __name__ == "__main__":
    main()
