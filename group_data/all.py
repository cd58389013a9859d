"""Group-wide overrides of the deploy's knobs, for every Mac of the inventory.

Every knob already has its default (``private_ollama/desired_state/settings.py``
defines each one once; the README's knob table lists them). Set here only what
all your Macs should do differently; per-host values go in the inventory, and
``pyinfra ... --data KEY=VALUE`` overrides both for one run. Another file here,
``group_data/<group>.py``, applies to the inventory group of that name.

A key that is not a knob (nor one of pyinfra's own, such as ``ssh_user`` or
``_sudo``) stops the run before anything connects, naming the knob it was
probably meant to be.

Examples:

    service_mode = "daemon"                  # run at boot, with nobody logged in (needs sudo)
    tailscale_acl_sources = ["group:ml-team"]
    ollama_keep_alive = "-1"                 # keep models loaded
    proxy_api_keys = True                    # per-client keys: `python -m private_ollama keys add alice`
    ollama_allowed_models = ["qwen2.5-coder:32b", "llama3.2"]
    proxy_buffer_bytes = 1048576             # with the model allowlist: coding agents send large bodies
"""
