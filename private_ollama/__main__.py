"""python -m private_ollama SUBCOMMAND ...: the admin tools (see ``commands``)."""

import sys

from private_ollama.commands import main

sys.exit(main())
