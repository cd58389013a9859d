"""What `lab/labctl` needs to build a lab host: its plan, network, root file system and boot."""
