"""When no address upgrades, affinity does not repeat the doomed upgrades."""

import json

from tests.helpers import run_cli
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.hostile import Hostility, start_hostile


def test_affinity_is_skipped_when_the_handshake_found_no_upgrade(lab_loop: LabLoop) -> None:
    """Against a server that never answers, affinity is skipped pointing at the handshake,
    instead of waiting out six more upgrade time limits."""
    server = lab_loop.run(start_hostile(Hostility.NEVER_ANSWERS))
    try:
        result = run_cli(f"ws://127.0.0.1:{server.port}/ws", "--timeout", "1",
                         "--no-kubernetes", "--format", "json")
    finally:
        lab_loop.run(server.stop())
    report = json.loads(result.stdout)
    affinity = next(c for c in report["checks"] if c["id"] == "affinity")
    assert affinity["status"] == "skipped"
    # Skipped from the handshake's result, not after a failed upgrade of its own.
    assert affinity["reason"].startswith("no address upgraded to WebSocket")
