"""Forward proxies for the lab: Debian's squid (HTTP CONNECT, as in corporate networks) and
microsocks (SOCKS5), each a child process on loopback, stopped with everything it started.

Squid resolves names from a hosts file of the lab (never the system resolver), so a tunnel to
``ws.lab.test`` reaches the lab's nginx the way a corporate proxy reaches a service by name.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

from wsdoctor.lab.process import LabProcess, find_binary, free_port


@dataclass
class SquidSite:
    """How the lab's squid behaves."""

    hosts: dict[str, str] = field(default_factory=dict)
    """name → address, squid's hosts file (the names it resolves for CONNECT)."""
    connect_ports: list[int] = field(default_factory=list)
    """Ports CONNECT may reach besides 443 (squid's stock SSL_ports); the rest are refused
    the way a stock squid.conf refuses them (403, ERR_ACCESS_DENIED)."""
    deny_connect: bool = False
    """Refuse every CONNECT (a proxy that allows only plain HTTP)."""
    accel_to: int | None = None
    """Act as a reverse proxy (accel mode) in front of this port on 127.0.0.1."""
    forward_websocket: bool = False
    """``http_upgrade_request_protocols websocket allow all``: without it squid strips
    Upgrade, as its stock configuration does."""


def render_squid(site: SquidSite, port: int, scratch: str) -> str:
    """squid.conf: the stock access rules (CONNECT only to SSL_ports) for loopback clients."""
    hosts = os.path.join(scratch, "hosts")
    with open(hosts, "w", encoding="utf-8") as handle:
        handle.writelines(f"{address} {name}\n" for name, address in site.hosts.items())
    ports = " ".join(str(p) for p in [443, *site.connect_ports])
    deny = "http_access deny CONNECT\n" if site.deny_connect else ""
    user = "cache_effective_user proxy\n" if os.geteuid() == 0 else ""
    mode = ""
    if site.accel_to is not None:
        mode = (" accel defaultsite=backend vhost\ncache_peer 127.0.0.1 parent "
                f"{site.accel_to} 0 no-query originserver name=app\n"
                "cache_peer_access app allow all")
    if site.forward_websocket:
        mode += "\nhttp_upgrade_request_protocols websocket allow all"
    return f"""http_port 127.0.0.1:{port}{mode}
pid_filename {scratch}/squid.pid
cache_log {scratch}/cache.log
access_log none
cache deny all
cache_mem 8 MB
coredump_dir {scratch}
hosts_file {hosts}
dns_nameservers 127.0.0.1
shutdown_lifetime 0 seconds
{user}acl SSL_ports port {ports}
acl CONNECT method CONNECT
acl lab src 127.0.0.0/8
{deny}http_access deny CONNECT !SSL_ports
http_access allow lab
http_access deny all
"""


class Squid(LabProcess):
    """Debian's squid as a forward proxy on 127.0.0.1."""

    name = "squid"

    def __init__(self, site: SquidSite) -> None:
        super().__init__()
        os.chmod(self.dir, 0o777)  # squid drops to the proxy user when started as root
        self.site = site
        self.port = free_port()
        conf = self.dir / "squid.conf"
        conf.write_text(render_squid(site, self.port, str(self.dir)))
        self._spawn([find_binary("squid"), "-N", "-f", str(conf)], ("127.0.0.1", self.port))

    @property
    def url(self) -> str:
        """The proxy URL for ``--proxy``."""
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Kill squid's process group at once: a graceful squid shutdown takes seconds even
        with shutdown_lifetime 0, and the lab keeps nothing."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(5)
        super().stop()


class Microsocks(LabProcess):
    """microsocks, a small SOCKS5 server, on 127.0.0.1 (optionally with a user name)."""

    name = "microsocks"

    def __init__(self, user: str | None = None, password: str = "") -> None:
        super().__init__()
        self.port = free_port()
        argv = [find_binary("microsocks"), "-i", "127.0.0.1", "-p", str(self.port)]
        if user is not None:
            argv += ["-u", user, "-P", password]
        self._spawn(argv, ("127.0.0.1", self.port))

    def url(self, scheme: str = "socks5h") -> str:
        """The proxy URL for ``--proxy``."""
        return f"{scheme}://127.0.0.1:{self.port}"
