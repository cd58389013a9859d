"""The first $BENCH_LAB_HOSTS hosts of the running lab (all when unset), so that one
lab serves the drift check on 1, 4 and 16 hosts, interleaved.

    BENCH_LAB_HOSTS=4 pyinfra bench/lab_inventory.py deploy.py --dry
"""

import os

from private_ollama.inventory import lab_hosts

lab_macs = lab_hosts()[: int(os.environ.get("BENCH_LAB_HOSTS") or 0) or None]
