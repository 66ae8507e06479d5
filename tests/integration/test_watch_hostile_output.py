"""``wsdoctor watch`` against the hostile echoing server (``wsdoctor.lab.echoing``): its text
stream and its JSON keep the secrets out and the server's escape sequences escaped, as every
other output does (its findings were printed raw: a server could clear the screen or write
the clipboard; its JSON left C1 controls raw)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import LAB_HOST, run_cli
from tests.hostile_support import Secrets
from tests.integration.test_hostile_output import screen_text
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.cluster_events import change_configmap, record_event, terminate_pod
from wsdoctor.lab.echoing import EchoingServer, start_echoing
from wsdoctor.lab.kubeapi import FakeKubeAPI, serve
from wsdoctor.reports.tui.watch import WatchApp
from wsdoctor.settings import Header, ResolvePin, Settings
from wsdoctor.target import parse_target
from wsdoctor.watch.model import WatchOptions
from wsdoctor.watch.session import WatchSession

TOKEN = "tok-Zq8vN3xYp7Lw2Kd9"
API_KEY = "key-Hj4mR6tWq1Xc8Vb5"
SECRETS = Secrets(TOKEN, API_KEY)


@pytest.fixture(params=["upgrade", "refuse"])
def echoing(request: pytest.FixtureRequest, lab_loop: LabLoop) -> Iterator[EchoingServer]:
    server = lab_loop.run(start_echoing(upgrade=request.param == "upgrade"))
    yield server
    lab_loop.run(server.stop())


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_watch_outputs_keep_secrets_and_escapes_out(echoing: EchoingServer, fmt: str) -> None:
    """Two seconds of watching, in text and JSON: no secret in any form, no raw escape."""
    result = run_cli("watch", echoing.url(), "--duration", "2s", "--no-kubernetes",
                     "--timeout", "2", "--format", fmt,
                     "-H", f"Authorization: Bearer {TOKEN}", "-H", f"X-Api-Key: {API_KEY}")
    out = result.stdout + result.stderr
    assert "<redacted>" in out or "\\x1b" in out or "\\u001b" in out  # the server did echo
    SECRETS.assert_clean(out, f"watch --format {fmt}")


#: What a hostile cluster puts in an Event and a ConfigMap during the watch: escapes and the
#: secrets the user gave (an admission webhook echoing the request, a leaky controller).
CLUSTER_ESCAPES = "\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202e\x85"
ROLLOUT = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "watch" / "rollout.yaml"


@pytest.fixture
def hostile_cluster(tmp_path: Path) -> Iterator[tuple[FakeKubeAPI, Path, Callable[[], None]]]:
    """The watch lab's cluster, a kubeconfig for it, and what turns it hostile: a Killing
    Event and a ConfigMap change quoting escapes and the secrets, then the pod terminating."""
    api = FakeKubeAPI()
    api.load(ROLLOUT)

    def turn() -> None:
        record_event(api, "Pod", "chat", "chat-5f7d-aaaaa", f"Killing{CLUSTER_ESCAPES}",
                     f"Stopping {CLUSTER_ESCAPES} {TOKEN} {API_KEY}", event_type="Warning")
        change_configmap(api, "ingress-nginx", "ingress-nginx-controller",
                         **{"proxy-body-size": f"2m{CLUSTER_ESCAPES}", "x-echo": API_KEY})
        terminate_pod(api, "chat", "chat-5f7d-aaaaa")

    with serve(api) as running:
        yield api, running.kubeconfig(tmp_path / "kubeconfig"), turn


_assert_clean = SECRETS.assert_clean


def _watched_settings(echoing: EchoingServer, kubeconfig: Path) -> tuple[str, Settings]:
    url = f"ws://{LAB_HOST}:{echoing.port}/ws"
    settings = Settings(
        headers=[Header(name="Authorization", value=f"Bearer {TOKEN}"),
                 Header(name="X-Api-Key", value=API_KEY)],
        resolve=[ResolvePin(host=LAB_HOST, port=echoing.port, address="127.0.0.1")],
        kubeconfig=str(kubeconfig), timeout=2)
    return url, settings


async def test_watch_text_and_tui_keep_the_cluster_events_secrets_and_escapes_out(
    lab_loop: LabLoop, hostile_cluster: tuple[FakeKubeAPI, Path, Callable[[], None]]
) -> None:
    """Given a watched cluster whose Event and ConfigMap change quote the user's secrets and
    escape sequences while the watch runs, the text stream and the live TUI (its screen and
    its log) show the change, redacted and escaped (the live events were not redacted)."""
    echoing = lab_loop.run(start_echoing(upgrade=True))
    _, kubeconfig, turn = hostile_cluster
    url, settings = _watched_settings(echoing, kubeconfig)
    try:
        timer = threading.Timer(1.5, turn)
        timer.start()
        result = await asyncio.to_thread(
            run_cli, "watch", url, "--duration", "3.5s", "--timeout", "2", "--format", "text",
            "--kubeconfig", str(kubeconfig), "--resolve", f"{LAB_HOST}:{echoing.port}:127.0.0.1",
            "-H", f"Authorization: Bearer {TOKEN}", "-H", f"X-Api-Key: {API_KEY}")
        timer.join()
        _assert_clean(result.stdout + result.stderr, "watch --format text")
        assert "Stopping \\x1b]52;c;cHduZWQ=\\x07" in result.stdout  # the event was shown
        session = WatchSession(parse_target(url), settings, WatchOptions(
            connections=2, duration=3.5, heartbeat=0.5, open_interval=0.1))
        app = WatchApp(session)
        seen = ""
        timer = threading.Timer(1.5, turn)
        timer.start()
        async with app.run_test(size=(160, 50)):
            deadline = time.monotonic() + 15
            while app.is_running and time.monotonic() < deadline:
                await asyncio.sleep(0.4)
                shown = screen_text(app) + "\n" + "\n".join(
                    "".join(segment.text for segment in line) for line in app.log_view.lines)
                _assert_clean(shown, "the watch TUI")
                seen += shown
        timer.join()
        assert "Stopping \\x1b]52;c;cHduZWQ=\\x07" in seen and "<redacted>" in seen
    finally:
        lab_loop.run(echoing.stop())
