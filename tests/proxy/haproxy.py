"""The rendered HAProxy config, run by the real haproxy binary as launchd runs it.

.. code:: python

    settings = Settings.from_data({"proxy_port": free_port(), "ollama_port": ollama.port})
    with running_haproxy(settings, tmp_path) as proxy:
        ...  # talk to 127.0.0.1:{proxy.port} with Host {proxy.host}
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from private_ollama.desired_state.files import Tailnet, haproxy_config, haproxy_files
from private_ollama.desired_state.layout import MacLayout
from private_ollama.desired_state.pool import Pool
from private_ollama.desired_state.settings import Settings
from tests.proxy.processes import spawn, stop, wait_until

# PRIVATE_OLLAMA_HAPROXY runs the suite against another build (e.g. a 3.x) than the one on PATH.
HAPROXY = (os.environ.get("PRIVATE_OLLAMA_HAPROXY") or shutil.which("haproxy")
           or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin"))
DNS_NAME = "remote-ollama.tail1234.ts.net"


def render(settings: Settings, bind_address: str, home: str = "/Users/admin", pool: Pool | None = None) -> str:
    """The config the deploy installs, for a Mac whose Tailscale address is ``bind_address``."""
    layout = MacLayout(settings, user="admin", uid=501, home=home)
    return haproxy_config(settings, layout, Tailnet(ip=bind_address, dns_name=DNS_NAME), pool)


def installed(settings: Settings, workdir: Path, bind_address: str, pool: Pool | None = None) -> Path:
    """Write the config, and the files it reads (error bodies, the API key map, a pool's routes), into
    ``workdir`` as the deploy installs them, ``workdir`` playing the Mac's home; the config's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    layout = MacLayout(settings, user="admin", uid=501, home=str(workdir))
    for path, text in haproxy_files(settings, layout, pool).items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
    config = workdir / "haproxy.cfg"
    config.write_text(render(settings, bind_address, str(workdir), pool))
    return config


def check(config: Path) -> subprocess.CompletedProcess:
    """``haproxy -c -f config``: what the deploy validates before installing."""
    return subprocess.run([HAPROXY, "-c", "-f", str(config)], check=False, capture_output=True, text=True, timeout=30)


@dataclass(frozen=True)
class Proxy:
    port: int
    settings: Settings
    host: str  # a Host header value the proxy allows: the short MagicDNS name with the port
    log: Path
    config: Path  # the live config, as the deploy installs it
    master_pid: int  # the -W master: a reload is SIGUSR2 to it, as launchctl kill sends it
    address: str = "127.0.0.1"  # what it binds: this Mac's "Tailscale address"


def forwards(proxy: Proxy) -> bool:
    """Whether the proxy is up and Ollama answers through it."""
    connection = http.client.HTTPConnection(proxy.address, proxy.port, timeout=2)
    try:
        connection.request("GET", "/api/version", headers={"Host": proxy.host})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def listening(proxy: Proxy) -> bool:
    """Whether the proxy accepts connections (for a proxy that asks for an API key)."""
    try:
        socket.create_connection((proxy.address, proxy.port), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def running_haproxy(settings: Settings, workdir: Path, ready: Callable[[Proxy], bool] = forwards,
                    address: str = "127.0.0.1", pool: Pool | None = None) -> Iterator[Proxy]:
    """``haproxy -W -db -f cfg`` on ``address``:settings.proxy_port, once ``ready(proxy)``."""
    config = installed(settings, workdir, address, pool)
    checked = check(config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = workdir / "haproxy.log"
    process = spawn([HAPROXY, "-W", "-db", "-f", str(config)], log)
    proxy = Proxy(settings.proxy_port, settings, f"{DNS_NAME.split('.')[0]}:{settings.proxy_port}", log, config,
                  process.pid, address)
    try:
        wait_until(lambda: ready(proxy), f"{ready.__name__}(HAProxy on {address}:{proxy.port})")
        yield proxy
    finally:
        stop(process)
