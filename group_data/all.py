"""Every knob of the deploy, with its default. Override any of them per host in
the inventory (``inventory.py``, ``lab/inventory.py``) or in another group file.

The values are validated by ``desired_state.settings`` before anything connects:
a bad value fails the run with the name of the key.
"""

# --- The Mac -------------------------------------------------------------------

# Where Homebrew lives: /opt/homebrew on Apple Silicon, /usr/local on Intel.
homebrew_prefix = "/opt/homebrew"

# PATH for every remote command: a non-interactive SSH session on a Mac has no
# Homebrew in PATH, and brew facts then silently come back empty. Keep the first
# two entries in step with homebrew_prefix.
_env = {"PATH": "/opt/homebrew/bin:/opt/homebrew/sbin:/usr/bin:/bin:/usr/sbin:/sbin"}

# Oldest macOS release the deploy accepts (major version).
macos_min_version = 14

# "agent": user LaunchAgents in gui/UID (needs a GUI login session, e.g. auto-login).
# "daemon": LaunchDaemons with UserName, which run at boot with nobody logged in
# (installing them needs sudo on the Mac).
service_mode = "agent"

# Prefix of the launchd labels of the two services.
launchd_label_prefix = "org.private-ollama"

# launchd waits this many seconds before restarting a job that exited (KeepAlive).
launchd_throttle_interval_s = 10

# --- Tailscale -------------------------------------------------------------------

# Node name in the tailnet, so the MagicDNS name is <hostname>.<tailnet>.ts.net.
tailscale_hostname = "remote-ollama"

# ACL tags the node advertises (the auth key must be allowed to use them).
tailscale_tags = ["tag:ai-server"]

# Name of the environment variable, on the admin laptop, that holds the auth key
# used when the Mac is not logged in yet. The key itself never goes in data.
tailscale_auth_key_env = "TAILSCALE_AUTHKEY"

# Who may reach the server, for the ACL snippet written after a deploy
# (users, groups or tags, in Tailscale ACL syntax).
tailscale_acl_sources = ["group:ai-users"]

# --- Ollama ----------------------------------------------------------------------

# Ollama listens here and nowhere else. Only a loopback address is accepted.
ollama_listen_address = "127.0.0.1"
ollama_port = 11434

# Turn off cloud models, which Ollama would otherwise forward to ollama.com with
# this Mac's account.
ollama_no_cloud = True

# How long a model stays loaded after its last request (OLLAMA_KEEP_ALIVE).
# OpenAI-style clients cannot ask for this themselves. "-1" keeps models forever.
ollama_keep_alive = "30m"

# Default context window in tokens (OLLAMA_CONTEXT_LENGTH); 4096 is too small
# for coding agents.
ollama_context_length = 32768

# Flash attention (OLLAMA_FLASH_ATTENTION): less memory for long contexts.
ollama_flash_attention = True

# Requests served at once per model (OLLAMA_NUM_PARALLEL).
ollama_num_parallel = 2

# Models kept in memory at once (OLLAMA_MAX_LOADED_MODELS).
ollama_max_loaded_models = 2

# Extra browser origins allowed by Ollama's CORS check (OLLAMA_ORIGINS); empty
# keeps Ollama's own default.
ollama_origins = []

# Any other environment variable for `ollama serve`, e.g. {"OLLAMA_DEBUG": "1"}.
# OLLAMA_HOST is not accepted here: it is always ollama_listen_address:ollama_port.
ollama_extra_env = {}

# --- HAProxy ---------------------------------------------------------------------

# The only requests HAProxy forwards to Ollama: (method, exact path). A path may
# hold {model}, one path segment matched by ollama_model_id_pattern. Everything
# else is denied with a JSON error and never reaches Ollama.
ollama_allowed_routes = [
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model}"),
    ("POST", "/v1/responses"),
    ("POST", "/v1/messages"),
    ("GET", "/api/version"),
    ("GET", "/api/tags"),
    ("POST", "/api/show"),
]

# What a {model} segment may look like: name[:tag], where clients may
# percent-encode the colon as %3A. No "/", no "%" other than %3A, no dot segment.
ollama_model_id_pattern = r"[A-Za-z0-9][A-Za-z0-9._-]*((:|%3[Aa])[A-Za-z0-9][A-Za-z0-9._-]*)?"

# Port HAProxy listens on, on the Tailscale address only.
proxy_port = 11434

# Largest request body accepted, in bytes (coding agents send a few hundred KB).
proxy_max_body_bytes = 8 * 1024 * 1024

# Most simultaneous client connections.
proxy_max_connections = 256

# Time to connect to Ollama on loopback.
proxy_timeout_connect = "5s"

# Time a client has to send its whole request headers (slow-loris guard).
proxy_timeout_http_request = "15s"

# Longest silence from Ollama before the request fails with 504: this must be
# longer than a model load plus the longest non-streaming generation.
proxy_timeout_server = "30m"

# Longest silence from a client on an open connection.
proxy_timeout_client = "30m"

# Serve HAProxy's Prometheus metrics on 127.0.0.1:<port>/metrics; 0 turns it off.
proxy_metrics_port = 0

# --- Hardening: what an admitted client may do (each knob off by default) -----------
# README "Security model" says what each one protects against and what it does not.

# Per-client API keys. On: HAProxy forwards only requests that carry a known key
# (`Authorization: Bearer <key>` or `x-api-key: <key>`); others get 401. Make and
# revoke keys with `keys.py` on the admin laptop, then re-apply. The Mac holds
# only the keys' SHA-256 hashes; the client's name goes to the access log.
proxy_api_keys = False

# The key store on the admin laptop (client names and key hashes, never keys),
# relative to the project. It stays out of git: keys.py refuses a path git would track.
proxy_api_keys_file = "secrets/api-keys.json"

# Requests a client (its key name, or its tailnet address when keys are off) may
# send per proxy_rate_limit_window; more get 429 with Retry-After. 0 turns it off.
proxy_rate_limit_requests = 0
proxy_rate_limit_window = "1m"

# Requests a client may have in progress at once (a stream counts until it ends);
# more get 429. 0 turns it off.
proxy_client_max_concurrent = 0

# Requests HAProxy lets reach Ollama at once, from all clients together; more wait
# in a queue for up to proxy_queue_timeout, then get 503. 0 turns it off.
proxy_ollama_max_concurrent = 0
proxy_queue_timeout = "2m"

# The only models clients may use, e.g. ["qwen2.5-coder:32b", "llama3.2"] (a name
# without a tag also means :latest). Checked in the JSON body ("model", "name")
# and in /v1/models/{model}; others get 403. Empty: any model.
ollama_allowed_models = []

# HAProxy's buffer (tune.bufsize), in bytes: the largest request, headers and body,
# the model allowlist can read; a larger body gets 413. Coding agents send a few
# hundred KB: use 1048576 (1 MiB) with the allowlist. Memory: up to
# 2 x proxy_max_connections x this (256 x 2 x 1 MiB = 512 MiB), so lower
# proxy_max_connections when raising it. 16384 is HAProxy's own default.
proxy_buffer_bytes = 16384

# One JSON line per request (time, client, method, path, status, bytes, durations,
# model) in ~/Library/Logs/private-ollama/access.log on the Mac; never a prompt,
# a query string or a key.
proxy_access_log = False

# Each apply rotates the access log once it is larger than this, keeping this
# many older files (access.log.1 is the newest).
proxy_access_log_max_bytes = 64 * 1024 * 1024
proxy_access_log_keep = 3

# --- Files on the admin laptop ------------------------------------------------------

# Where the client settings and the Tailscale ACL snippet are written after a deploy.
client_settings_dir = "build/clients"

# --- Uninstall (uninstall.py) --------------------------------------------------------

# Also `brew uninstall` ollama, haproxy and the tailscale formula.
uninstall_remove_packages = False

# Also delete the downloaded models (~/.ollama/models).
uninstall_remove_models = False

# --- Periodic re-apply (reapply.py, on the admin laptop) ------------------------------

# Seconds between two re-applies of the deploy by the schedule (launchd or systemd).
reapply_interval_s = 3600

# Where each re-apply appends its JSON report line (relative to the project).
reapply_report = "build/reapply.jsonl"
