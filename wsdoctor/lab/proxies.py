"""Real proxies for the lab: nginx configured like ingress-nginx, HAProxy like the HAProxy
ingress controllers, and dnsmasq as cluster DNS, each started as a child process on loopback
with a generated configuration, and stopped with everything it started."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from wsdoctor.lab.certs import CertPair
from wsdoctor.lab.process import LabError, LabProcess, find_binary, free_port

# The process plumbing lives in wsdoctor.lab.process; tests and benches import it from here.
__all__ = [
    "DnsZone", "Dnsmasq", "HAProxy", "HAProxySite", "LabError", "LabProcess", "Nginx",
    "NginxLocation", "NginxSite", "find_binary", "free_port", "render_haproxy", "render_nginx",
]


@dataclass
class NginxLocation:
    """One ``location``: a path proxied to upstream replicas, like one Ingress path."""

    path: str = "/ws"
    upstreams: list[int] = field(default_factory=list)
    """Backend ports on 127.0.0.1; empty means no ready backend (nginx answers 502)."""
    forward_upgrade: bool = True
    """False mimics a proxy that drops the hop-by-hop Upgrade/Connection headers."""
    read_timeout: float = 60
    send_timeout: float = 60
    ip_hash: bool = False
    limit_conn: int | None = None
    """Connections per client address, as ingress-nginx renders ``limit-connections``
    (``limit_conn`` on a ``$binary_remote_addr`` zone, answered with 503)."""
    limit_rps: int | None = None
    """Requests per second per client address, as ingress-nginx renders ``limit-rps``
    (``limit_req`` with a burst of five times the rate, ``nodelay``, answered with 503)."""
    http_version: str = "1.1"
    """``proxy_http_version``; nginx's own default is 1.0, which cannot carry an upgrade."""
    directives: list[str] = field(default_factory=list)
    """More directives in the location (``deny all;``)."""


@dataclass
class NginxSite:
    """An nginx server block configured the way ingress-nginx renders an Ingress."""

    host: str = "ws.lab.test"
    locations: list[NginxLocation] = field(default_factory=lambda: [NginxLocation()])
    tls: CertPair | None = None
    listen: str = "127.0.0.1"
    port: int = 0
    http_port: int | None = None
    """Also listen for plain HTTP here, redirecting to HTTPS like ingress-nginx (308)."""
    worker_connections: int = 1024
    """nginx ``worker_connections`` (ingress-nginx: ConfigMap ``max-worker-connections``): a
    proxied WebSocket holds two, the client's and the upstream's."""
    client_ca: bytes | None = None
    """Require client certificates signed by this CA (PEM): ``ssl_verify_client``."""
    verify_client: str = "on"
    """``on`` (nginx answers 400 without a certificate) or ``optional``."""
    worker_shutdown_timeout: float | None = None
    """After a reload, old workers close the connections they still hold this long later
    (ingress-nginx ``worker-shutdown-timeout``; nginx's default: wait for them forever)."""


def _duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


def render_nginx(site: NginxSite, scratch: Path) -> str:
    """The nginx.conf for ``site`` (ingress-nginx's upgrade map, timeouts and 404 default)."""
    upstreams, locations, zones = [], [], []
    for index, loc in enumerate(site.locations):
        name = f"upstream_{index}"
        servers = [f"server 127.0.0.1:{p} max_fails=0;" for p in loc.upstreams] or [
            f"server 127.0.0.1:{_closed_port()} max_fails=0;"
        ]
        balance = "ip_hash;" if loc.ip_hash else ""
        upstreams.append(f"upstream {name} {{ {balance} {' '.join(servers)} }}")
        upgrade = (
            "proxy_set_header Upgrade $http_upgrade;\n"
            "      proxy_set_header Connection $connection_upgrade;"
            if loc.forward_upgrade
            else "proxy_set_header Connection \"\";"
        )
        limit = ""
        if loc.limit_conn is not None:
            zones.append(f"limit_conn_zone $binary_remote_addr zone=conn_{index}:1m;")
            limit = f"limit_conn conn_{index} {loc.limit_conn};\n      limit_conn_status 503;"
        if loc.limit_rps is not None:
            zones.append(f"limit_req_zone $binary_remote_addr zone=rps_{index}:1m "
                         f"rate={loc.limit_rps}r/s;")
            limit += (f"\n      limit_req zone=rps_{index} burst={loc.limit_rps * 5} nodelay;"
                      "\n      limit_req_status 503;")
        locations.append(
            f"""    location {loc.path} {{
      {limit}
      proxy_pass http://{name};
      proxy_http_version {loc.http_version};
      {upgrade}
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_connect_timeout 5s;
      proxy_read_timeout {_duration(loc.read_timeout)};
      proxy_send_timeout {_duration(loc.send_timeout)};
      proxy_buffering off;
      {" ".join(loc.directives)}
    }}"""
        )
    listen = f"[{site.listen}]" if ":" in site.listen else site.listen
    tls = ""
    listen_line = f"listen {listen}:{site.port};"
    if site.tls is not None:
        cert, key = site.tls.write(scratch, "site")
        listen_line = f"listen {listen}:{site.port} ssl;"
        tls = f"ssl_certificate {cert};\n    ssl_certificate_key {key};\n" \
              "    ssl_protocols TLSv1.2 TLSv1.3;"
        if site.client_ca is not None:
            ca = scratch / "client-ca.pem"
            ca.write_bytes(site.client_ca)
            tls += f"\n    ssl_client_certificate {ca};" \
                   f"\n    ssl_verify_client {site.verify_client};"
    redirect = ""
    if site.http_port:
        redirect = f"""  server {{
    listen {listen}:{site.http_port};
    server_name {site.host};
    location / {{ return 308 https://$host$request_uri; }}
  }}"""
    temp = scratch / "temp"
    temp.mkdir(exist_ok=True)
    os.chmod(temp, 0o777)
    user = "user root;" if os.geteuid() == 0 else ""
    shutdown = f"worker_shutdown_timeout {_duration(site.worker_shutdown_timeout)};" \
        if site.worker_shutdown_timeout is not None else ""
    return f"""{user}
{shutdown}
worker_processes 1;
daemon off;
error_log {scratch}/error.log warn;
pid {scratch}/nginx.pid;
events {{ worker_connections {site.worker_connections}; }}
http {{
  access_log off;
  {chr(10).join('  ' + z for z in zones)}
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  {chr(10).join('  ' + u for u in upstreams)}
  server {{
    {listen_line}
    server_name {site.host};
    {tls}
{chr(10).join(locations)}
    location / {{ default_type text/plain; return 404 "default backend - 404"; }}
  }}
{redirect}
}}
"""


def _closed_port() -> int:
    return free_port()


class Nginx(LabProcess):
    """nginx serving one :class:`NginxSite` on loopback."""

    name = "nginx"

    def __init__(self, site: NginxSite) -> None:
        super().__init__()
        if not site.port:
            site.port = free_port(site.listen)
        self.site = site
        self.port = site.port
        conf = self.dir / "nginx.conf"
        conf.write_text(render_nginx(site, self.dir))
        self._argv = [find_binary("nginx"), "-c", str(conf), "-p", str(self.dir), "-e",
                      str(self.dir / "error.log")]
        self._spawn(self._argv, (site.listen, site.port))

    def reload(self) -> None:
        """``nginx -s reload``: a new worker takes new connections; the old one keeps its
        connections until they end or ``worker_shutdown_timeout`` passes."""
        done = subprocess.run([*self._argv, "-s", "reload"], capture_output=True, timeout=10,
                              check=False)
        if done.returncode != 0:
            raise LabError(f"nginx -s reload failed: {done.stderr.decode(errors='replace')}")


@dataclass
class HAProxySite:
    """An HAProxy frontend and backend, as the HAProxy ingress controllers render them."""

    backends: list[tuple[str, int]] = field(default_factory=list)
    """(server name, port on 127.0.0.1) pairs."""
    tunnel_timeout: float = 3600
    cookie: str | None = None
    """Insert this affinity cookie (``cookie NAME insert indirect nocache``)."""
    cookie_attr: str | None = None
    """An ``attr`` for that cookie line (``Path=/api``; haproxy-ingress session-cookie-keywords)."""
    tls: CertPair | None = None
    listen: str = "127.0.0.1"
    port: int = 0
    mode: Literal["http", "tcp"] = "http"
    """``tcp``: pass bytes through (TLS included), like a cloud network load balancer or a
    Classic ELB with a TCP listener; ``timeout tunnel`` is then its idle timeout."""
    maxconn: int = 1024
    """HAProxy's global ``maxconn`` (haproxytech ConfigMap ``maxconn``, haproxy-ingress
    ``max-connections``): above it HAProxy stops accepting, and new clients wait."""
    client_ca: bytes | None = None
    """Require client certificates signed by this CA (PEM): ``verify required``."""
    alpn: str | None = None
    """ALPN offered on the TLS bind, e.g. ``h2,http/1.1`` (HTTP/2 with RFC 8441 WebSockets)."""
    frontend_extra: list[str] = field(default_factory=list)
    """More frontend lines (``http-request deny if ...``; http mode)."""
    backend_extra: list[str] = field(default_factory=list)
    """More backend lines (``use-server r2 if { req.ver 2.0 }``: HTTP/2 to another replica)."""
    terminate_tls: bool = False
    """In tcp mode, end TLS (``tls``) on the bind and pass the plain bytes on: an HTTPS
    forward proxy in front of squid, as TLS-offloaded corporate proxies are built."""
    hard_stop_after: float | None = None
    """After a reload, the old process closes the connections it still holds this long later
    (``global hard-stop-after``; HAProxy's default: wait for them forever)."""


def render_haproxy(site: HAProxySite, scratch: Path) -> str:
    """The haproxy.cfg for ``site``."""
    bind = f"bind {site.listen}:{site.port}"
    if site.tls is not None and (site.mode == "http" or site.terminate_tls):
        pem = scratch / "site.pem"
        pem.write_bytes(site.tls.combined())
        bind += f" ssl crt {pem}"
        if site.client_ca is not None:
            ca = scratch / "client-ca.pem"
            ca.write_bytes(site.client_ca)
            bind += f" ca-file {ca} verify required"
        if site.alpn:
            bind += f" alpn {site.alpn}"
    attr = f' attr "{site.cookie_attr}"' if site.cookie_attr else ""
    cookie = f"  cookie {site.cookie} insert indirect nocache{attr}\n" \
        if site.cookie and site.mode == "http" else ""
    servers = "\n".join(
        f"  server {name} 127.0.0.1:{port}" + (f" cookie {name}" if cookie else "")
        for name, port in site.backends
    )
    stop = f"  hard-stop-after {_duration(site.hard_stop_after)}\n" \
        if site.hard_stop_after is not None else ""
    return f"""global
  maxconn {site.maxconn}
{stop}defaults
  mode {site.mode}
  timeout connect 5s
  timeout client 50s
  timeout server 50s
  timeout tunnel {_duration(site.tunnel_timeout)}
frontend lab
  {bind}
{"".join(f"  {line}{chr(10)}" for line in site.frontend_extra)}  default_backend app
backend app
  balance roundrobin
{"".join(f"  {line}{chr(10)}" for line in site.backend_extra)}{cookie}{servers}
"""


class HAProxy(LabProcess):
    """HAProxy serving one :class:`HAProxySite` on loopback."""

    name = "haproxy"

    def __init__(self, site: HAProxySite) -> None:
        super().__init__()
        if not site.port:
            site.port = free_port(site.listen)
        self.site = site
        self.port = site.port
        conf = self.dir / "haproxy.cfg"
        conf.write_text(render_haproxy(site, self.dir))
        # Master-worker mode (-W), as the controllers run it: SIGUSR2 reloads.
        self._spawn([find_binary("haproxy"), "-W", "-db", "-f", str(conf)],
                    (site.listen, site.port))

    def reload(self) -> None:
        """Reload as the controllers do (SIGUSR2 to the master): a new worker takes new
        connections; the old one keeps its connections until ``hard_stop_after``."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGUSR2)


@dataclass
class DnsZone:
    """Names dnsmasq answers for; everything else is NXDOMAIN (no upstream)."""

    addresses: dict[str, list[str]] = field(default_factory=dict)
    """name → A/AAAA values."""
    cnames: dict[str, str] = field(default_factory=dict)
    """alias → canonical name (the canonical name must be in ``addresses``)."""
    servfail: list[str] = field(default_factory=list)
    """Domains forwarded to a dead upstream, so queries for them fail (SERVFAIL/REFUSED)."""
    ttl: int = 30
    local_domains: list[str] = field(default_factory=lambda: ["test"])
    """Domains answered only from this zone: other names in them are NXDOMAIN."""


class Dnsmasq(LabProcess):
    """dnsmasq on 127.0.0.1, a free UDP/TCP port, answering only for :class:`DnsZone`."""

    name = "dnsmasq"

    def __init__(self, zone: DnsZone, listen: str = "127.0.0.1") -> None:
        super().__init__()
        self.listen = listen
        self.port = free_port(listen)
        argv = [
            find_binary("dnsmasq"), "--keep-in-foreground", "--conf-file=/dev/null",
            "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
            f"--listen-address={listen}", f"--port={self.port}", "--pid-file=",
            f"--local-ttl={zone.ttl}", f"--auth-ttl={zone.ttl}", "--log-facility=-",
        ]
        if os.geteuid() == 0:
            argv.append("--user=root")
        for name, values in zone.addresses.items():
            argv += [f"--host-record={name},{value}" for value in values]
        for alias, canonical in zone.cnames.items():
            argv.append(f"--cname={alias},{canonical}")
        argv += [f"--local=/{domain}/" for domain in zone.local_domains]
        dead = free_port(listen)
        for domain in zone.servfail:
            argv.append(f"--server=/{domain}/{listen}#{dead}")
        self._spawn(argv, (listen, self.port))

    @property
    def server(self) -> str:
        """``ADDR:PORT`` for ``--dns-server``."""
        return f"{self.listen}:{self.port}"
