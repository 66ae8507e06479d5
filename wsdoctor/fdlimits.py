"""This process's open-file limit (RLIMIT_NOFILE) and the local port range: what caps the
connections one process can hold, whatever the target takes. Used by the commands that hold
many connections (``wsdoctor load``, ``wsdoctor watch``)."""

from __future__ import annotations

from wsdoctor.records import dataclass

#: File descriptors kept for everything else (the kube client, the event loop, stdio).
FD_RESERVE = 64
PORT_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"


@dataclass(frozen=True)
class FdLimits:
    """RLIMIT_NOFILE before and after raising it for the run."""

    before: int | None
    soft: int | None
    hard: int | None

    def allows(self, connections: int) -> bool:
        """Whether ``connections`` fit under the soft limit with the reserve."""
        return self.soft is None or connections + FD_RESERVE <= self.soft


def raise_fd_limit(needed: int) -> FdLimits:
    """Raise the soft open-file limit towards ``needed`` (never above the hard limit, never
    lowered); the limits before and after. Unknown (None) where the platform has none."""
    try:
        import resource
    except ImportError:  # not POSIX
        return FdLimits(None, None, None)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = soft
    ceiling = hard if hard != resource.RLIM_INFINITY else max(needed, soft)
    wanted = min(max(needed, soft), ceiling)
    if soft != resource.RLIM_INFINITY and wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    def known(value: int) -> int | None:
        return None if value == resource.RLIM_INFINITY else int(value)
    return FdLimits(known(before), known(soft), known(hard))


def fd_shortfall(connections: int) -> str | None:
    """Why this machine cannot hold ``connections`` (its hard open-file limit is too low),
    said before the run; None when it can."""
    try:
        import resource
    except ImportError:
        return None
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections + FD_RESERVE
    if hard == resource.RLIM_INFINITY or hard >= needed:
        return None
    return (f"this machine allows wsdoctor {hard} open files (hard limit) and {connections} "
            f"connections need {needed}: the run will stop before {hard} connections, "
            f"whatever the target can take (raise it: ulimit -Hn {needed})")


def restore_fd_limit(limits: FdLimits) -> None:
    """Put the soft limit back as it was before :func:`raise_fd_limit`."""
    if limits.before is None or limits.soft == limits.before:
        return
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.before, hard))
    except (ValueError, OSError):
        pass


def local_port_count(path: str = PORT_RANGE) -> int | None:
    """How many local ports the kernel hands out (one per connection to an address:port)."""
    try:
        with open(path, encoding="ascii") as handle:
            low, high = (int(part) for part in handle.read().split()[:2])
    except (OSError, ValueError):
        return None
    return high - low + 1
