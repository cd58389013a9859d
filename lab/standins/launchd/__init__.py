"""A strict stand-in for macOS launchd, for the lab host that plays the Mac.

Modules: ``server`` (socket, reaping, shutdown), ``commands`` (the verbs and
their wording), ``registry`` (domains, GUI sessions, loading folders),
``jobs`` (process lifecycle, KeepAlive, throttle), ``spawn`` (user,
environment, logs), ``plists`` (reading and refusing plists), ``render``
(print/list layouts), ``darwin`` (Darwin's errno/signal numbers).

Choices where the captures leave room (each mirrors real launchd as far as
public evidence goes; stricter where unsure):
- Non-root acting on `system` (or another user's domain): ``1: Operation not
  permitted`` in each verb's wording (launchd logs ``code = 1: Operation not
  permitted``; ``Boot-out failed: 1: Operation not permitted`` is seen in the wild).
- A gui domain without a GUI login exits 125 everywhere: bootstrap prints
  ``Bootstrap failed: 125: Domain does not support specified action`` and
  ``Service cannot load in requested session``; kickstart its own 125 line;
  print, bootout, kill, enable, disable ``Could not find domain for user gui: 501``.
- A missing service: print ``Bad request.`` + ``Could not find service "x" in
  domain for user gui: 501`` (113); kickstart and kill the same sentence (113);
  bootout ``Boot-out failed: 3: No such process``; bootout of a plist that is
  not loaded ``Boot-out failed: 5``; ``list x`` ``Could not find service "x" in
  domain for port`` (113).
- Every bootstrap refusal is 5 (bad or missing plist, bad owner/mode, already
  loaded, disabled), 37 while the label is still being booted out; a second
  bootout during that window is 36. kickstart during it is 37.
- bootout returns at once after SIGTERM; SIGKILL follows after ExitTimeOut,
  capped at 5 s (default 20 s on a Mac, printed as 5 by recent releases).
- kickstart -k: SIGTERM, then the new process is started as soon as the old
  one exits, bypassing the throttle; the command returns once it runs (-p
  prints its pid). A disabled service cannot be kickstarted (119).
- kill takes Darwin signal names (``TERM``, ``SIGUSR2``) or Darwin numbers
  (`31` or `-31` = SIGUSR2); exit codes and signals are shown with Darwin numbers.
  Not running: ``Could not kill service "x": 3: No such process``.
- Spawn failures (missing program, unwritable or missing log directory or
  working directory, unknown UserName) record ``last exit code = 78: EX_CONFIG``.
- managername: ``Aqua`` for a uid with a GUI login, else ``Background``.
- Plist trust: LaunchDaemons owned by uid 0 and gid 0 (root:wheel); agents in
  ~/Library/LaunchAgents by that user, in /Library/LaunchAgents by root,
  elsewhere by root or the user; never group- or world-writable.
- `user/<uid>` exists for every passwd user and takes only plists whose
  LimitLoadToSessionType includes Background (else 125).
- Not implemented (usage error, exit 64): the legacy load/unload/start/stop/
  submit/remove, every other subcommand, and `bootout <domain>` alone (on a
  Mac that tears the whole domain down, i.e. logs the user out). KeepAlive
  keys other than SuccessfulExit and Crashed are ignored.
- Overrides are kept per domain name in <state-dir>/overrides.plist.
"""
