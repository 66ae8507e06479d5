"""The explicit registry of checks, in path order. Ids are part of the report contract.

Order matters: reports list checks in this order, and findings of equal severity at the same
hop are ordered by it (the upgrade's verdict before the plain HTTP request's).

A check's module is imported when the check is selected (:func:`load_selected`), not before:
a diagnosis runs nine of the fourteen checks, and the others (load, capture, hops...) cost
start-up time for nothing. :data:`ENTRIES` says what selection needs without importing; a
test holds it equal to each module's ``CHECK``. ``CHECKS`` (every check) imports them all."""

from __future__ import annotations

from importlib import import_module

from wsdoctor.records import dataclass

TYPE_CHECKING = False  # not typing's: this module is imported on every diagnosis
if TYPE_CHECKING:
    from wsdoctor.checks.base import Check, Code

    CHECKS: tuple[Check, ...]


@dataclass(frozen=True)
class Entry:
    """What selecting a check needs to know: its id, whether it runs by default, the checks
    it needs; and the module whose ``CHECK`` it is."""

    id: str
    default: bool = True
    needs: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return f"wsdoctor.checks.{self.id}"

    def load(self) -> Check:
        """The check itself (imports its module)."""
        check: Check = import_module(self.module).CHECK
        return check


ENTRIES: tuple[Entry, ...] = (
    Entry("dns"),
    Entry("tcp", needs=("dns",)),
    Entry("tls", needs=("tcp",)),
    Entry("handshake", needs=("tcp",)),
    Entry("http", needs=("tcp",)),
    Entry("http2", needs=("tcp", "handshake")),
    Entry("messages", needs=("handshake",)),
    Entry("idle", default=False, needs=("tcp",)),
    Entry("keepalive", default=False, needs=("tcp",)),
    Entry("capture", default=False, needs=("tcp",)),
    Entry("affinity", needs=("tcp", "handshake")),
    Entry("cluster"),
    Entry("hops", default=False, needs=("cluster",)),
    Entry("load", default=False, needs=("dns",)),
)


def all_checks() -> tuple[Check, ...]:
    """Every registered check (imports every check module)."""
    checks: tuple[Check, ...] | None = globals().get("CHECKS")
    if checks is None:
        checks = tuple(entry.load() for entry in ENTRIES)
        globals()["CHECKS"] = checks
    return checks


def __getattr__(name: str) -> object:
    """``CHECKS``: every registered check, their modules imported on first use."""
    if name == "CHECKS":
        return all_checks()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_by_id(check_id: str) -> Check:
    """The registered check with this id; KeyError names the valid ones."""
    for entry in ENTRIES:
        if entry.id == check_id:
            return entry.load()
    raise KeyError(f"unknown check {check_id!r} (known: {', '.join(e.id for e in ENTRIES)})")


def all_codes() -> tuple[Code, ...]:
    """Every finding code the checks can emit, including the watch's, the runner's own and
    those of ``wsdoctor lint`` about its input files."""
    from wsdoctor.kube.manifests import INPUT_CODES
    from wsdoctor.runner import RUNNER_CODES
    from wsdoctor.watch.rules import CODES as WATCH_CODES

    return (tuple(code for check in all_checks() for code in check.finding_codes()) + WATCH_CODES
            + RUNNER_CODES + INPUT_CODES)
