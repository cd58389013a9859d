"""The lab's Macs, as `lab/labctl up` made them (see lab/README.md), read from its state file.

    pyinfra lab/inventory.py deploy.py

Same deploy, same knobs as for a real Mac: only the connection differs, over
real SSH with host-key checking on.
"""

from private_ollama.inventory import lab_hosts

lab_macs = lab_hosts()
