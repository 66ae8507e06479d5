"""The exporter's configuration: every mistake is one line naming the file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.helpers import run_cli
from wsdoctor.exit import ExitStatus
from wsdoctor.exporter.config import ConfigError, load_config, parse_listen
from wsdoctor.exporter.schema import DEFAULT_LISTEN, parse_duration

GOOD = """\
interval: 30s
jitter: 0.2
concurrency: 50
labels: {node: "${NODE_NAME}"}
modules:
  lan:
    checks: [tcp]
    time_limit: 1m
    settings: {timeout: 2, max_addresses: 2}
    expect: {affinity: true}
targets:
  - name: chat
    url: wss://ws.example.com/chat
    address: 127.0.0.1
    headers: {Authorization: "Bearer ${TOKEN}"}
    expect: {idle_timeout: 1h}
  - name: lan
    url: ws://10.0.0.7:8080/ws
    module: lan
    interval: 1m30s
    resolve: ["10.0.0.7:8080:127.0.0.2"]
    settings: {timeout: 1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exporter.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_good_file_compiles_every_target(tmp_path: Path) -> None:
    """Targets get their module's checks, time limit, settings, pins, headers and labels."""
    config = load_config(write(tmp_path, GOOD), {"NODE_NAME": "node-a", "TOKEN": "s3cret"})
    chat, lan = config.targets
    assert config.listen == DEFAULT_LISTEN == ":9120"
    assert (config.interval, config.jitter, config.concurrency) == (30.0, 0.2, 50)
    assert chat.module == "quick" and chat.time_limit == 30.0 and not chat.long
    assert chat.settings.only == ["dns", "tcp", "tls", "http", "handshake", "messages"]
    assert chat.settings.pinned_address("ws.example.com", 443) == "127.0.0.1"
    assert chat.settings.request_headers() == [("Authorization", "Bearer s3cret")]
    assert chat.expect.idle_timeout == 3600.0 and chat.settings.expect_idle == 3600.0
    assert chat.labels == (("node", "node-a"),)
    assert lan.settings.only == ["tcp"] and lan.time_limit == 60.0
    assert lan.settings.timeout == 1.0 and lan.settings.max_addresses == 2
    assert lan.interval == 90.0 and lan.expect.affinity is True
    assert lan.settings.expect_affinity is True and lan.settings.expect_idle is None
    assert lan.settings.pinned_address("10.0.0.7", 8080) == "127.0.0.2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("interval: soon\n", "exporter.yaml:1: interval: 'soon' is not a duration"),
        ("interval: -5\n", "exporter.yaml:1: interval: Input should be greater than 0"),
        ("jitter: 2\n", "exporter.yaml:1: jitter: Input should be less than or equal to 1"),
        ("concurrency: 0\n", "exporter.yaml:1: concurrency: Input should be greater than"),
        ("targtes: []\n", "exporter.yaml:1: targtes: unknown key (a typo?)"),
        ("listen: nowhere\n", "exporter.yaml:1: listen: 'nowhere': expected HOST:PORT"),
        ("labels: {target: x}\n", "exporter.yaml:1: labels.target: 'target' is a label of"),
        ("labels: {node: '${NO_SUCH_VAR}'}\n",
         "labels.node: environment variable NO_SUCH_VAR is not set"),
        ("modules:\n  m:\n    checks: [tcp, nosuch]\n",
         "exporter.yaml:3: modules.m.checks: module 'm': unknown check 'nosuch'"),
        ("modules:\n  m:\n    settings: {timeuot: 3}\n",
         "exporter.yaml:3: modules.m.settings.timeuot: unknown setting (a typo?)"),
        ("modules:\n  m:\n    settings: {timeout: 0}\n",
         "modules.m.settings.timeout: Input should be greater than 0"),
        ("modules:\n  m:\n    settings: {only: [dns]}\n",
         "modules.m.settings.only: set with the 'checks' key of the module"),
        ("modules:\n  m:\n    settings: {expect_idle: 60}\n",
         "modules.m.settings.expect_idle: set with the 'expect' key of the module"),
        ("modules:\n  m:\n    settings: {resolve: ['a:443:127.0.0.1']}\n",
         "modules.m.settings.resolve: set with the 'resolve' key of each target (a module "
         "has none)"),
        ("targets:\n  - url: ws://a.example/\n",
         "exporter.yaml:2: targets[0].name: Field required"),
        ("targets:\n  - name: a\n    url: ws://a.example/\n    module: quik\n",
         "exporter.yaml:4: targets[0].module: unknown module 'quik' (known: full, quick, tcp, "
         "watch; blackbox names: http_2xx (quick), tcp_connect (tcp))"),
        ("targets:\n  - name: a\n    url: ftp://a.example/\n",
         "exporter.yaml:3: targets[0].url: unsupported scheme 'ftp'"),
        ("targets:\n  - name: a\n    url: ws://a.example/\n  - name: a\n    url: ws://b/\n",
         "exporter.yaml:4: targets[1].name: 'a' is used by another target"),
        ("targets:\n  - name: 'a b'\n    url: ws://a.example/\n",
         "exporter.yaml:2: targets[0].name: 'a b': use letters, digits"),
        ("targets:\n  - name: a\n    url: ws://a.example/\n    address: not-ip\n",
         "exporter.yaml:4: targets[0].address: 'not-ip' is not an IP address"),
        ("targets:\n  - name: a\n    url: ws://a.example/\n    resolve: ['a.example:80']\n",
         "targets[0].resolve[0]: 'a.example:80': expected HOST:PORT:ADDR"),
        ("targets:\n  - name: a\n    url: ws://a.example/\n    headers: {'Bad Name': x}\n",
         "exporter.yaml:4: targets[0].headers.Bad Name: 'Bad Name' is not a valid header"),
        ("targets:\n  - name: a\n    url: ws://a.example/\n    headers: {X-T: '${NOPE}'}\n",
         "targets[0].headers.X-T: environment variable NOPE is not set"),
        ("targets:\n  - name: a\n    url: ws://a.example/\n    settings: {pings: 1000}\n",
         "exporter.yaml:4: targets[0].settings.pings: Input should be less than or equal"),
        ("modules:\n  big: {settings: {message_size: 2000000000}}\n",
         "exporter.yaml:2: modules.big.settings.message_size: Input should be less than or "
         "equal to 16777216"),
        ("targets:\n  - name: a\n    url: ws://a.example/\n    interval: true\n",
         "exporter.yaml:4: targets[0].interval: expected a duration"),
        ("targets: [\n", "exporter.yaml:2: not valid YAML"),
        ("- just\n- a list\n", "exporter.yaml:1: the configuration must be a mapping"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    """Given a wrong file, the error is one line with the file, line and key."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path)), message
    assert expected in message, message


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    """A file that cannot be read says which and why."""
    with pytest.raises(ConfigError, match=r"nope.yaml: cannot read the configuration: No such"):
        load_config(tmp_path / "nope.yaml", {})


def test_the_command_exits_2_on_a_config_error(tmp_path: Path) -> None:
    """`wsdoctor probe -c FILE` with a wrong file prints one line (file and key) and exits 2."""
    path = write(tmp_path, "targets:\n  - name: a\n    url: ws://a.example/\n    module: x\n")
    result = run_cli("probe", "--config", str(path))
    assert result.status == ExitStatus.USAGE
    assert result.stderr.count("\n") == 1
    assert f"{path}:4: targets[0].module: unknown module 'x'" in result.stderr


def test_check_config_validates_without_serving(tmp_path: Path) -> None:
    """--check-config exits 0 for a valid file and says what it holds."""
    path = write(tmp_path, "targets:\n  - name: a\n    url: ws://127.0.0.1:1/\n")
    result = run_cli("probe", "--config", str(path), "--check-config")
    assert result.status == ExitStatus.OK
    assert "valid, 1 targets" in result.stdout


def test_probe_runs_without_a_config_but_needs_a_valid_listen(tmp_path: Path) -> None:
    """No --config is the built-in modules and no targets (as blackbox runs on its defaults);
    a malformed --listen is a usage error, with or without a file."""
    result = run_cli("probe", "--check-config")
    assert result.status == ExitStatus.OK
    assert result.stdout == ("(built-in defaults): valid, 0 targets, modules full, quick, tcp, "
                             "watch\n")
    assert run_cli("probe", "--listen", "x").status == ExitStatus.USAGE
    path = write(tmp_path, "{}\n")
    assert run_cli("probe", "-c", str(path), "--listen", "x").status == ExitStatus.USAGE


def test_example_config_is_the_documented_one_and_valid(tmp_path: Path) -> None:
    """`probe --example-config` prints docs/deploy/probe.yaml (from the package), and what it
    prints passes --check-config."""
    result = run_cli("probe", "--example-config")
    repo = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "probe.yaml"
    assert result.status == ExitStatus.OK and result.stdout == repo.read_text()
    path = write(tmp_path, result.stdout)
    environ = {"CHAT_PROBE_TOKEN": "t0ken"}
    assert load_config(path, environ).targets


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30.0), (0.5, 0.5), ("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0),
     ("2.5", 2.5)],
)
def test_durations(text: object, seconds: float) -> None:
    """Numbers are seconds; Prometheus-style durations are understood."""
    assert parse_duration(text) == seconds


def test_listen_addresses() -> None:
    """:PORT listens everywhere; HOST:PORT and [v6]:PORT are understood."""
    assert parse_listen(":9120") == ("", 9120)
    assert parse_listen("127.0.0.1:9") == ("127.0.0.1", 9)
    assert parse_listen("[::1]:9120") == ("::1", 9120)
    with pytest.raises(ValueError):
        parse_listen("9120x")


def test_on_demand_probe_spec_uses_the_module(tmp_path: Path) -> None:
    """/probe builds its spec from the URL and the module, and refuses unknown modules."""
    config = load_config(write(tmp_path, "modules:\n  m: {checks: [tcp], time_limit: 3s}\n"), {})
    spec = config.probe_spec("ws://127.0.0.1:8080/ws", "m")
    assert spec.settings.only == ["tcp"] and spec.time_limit == 3.0
    assert spec.target.port == 8080
    with pytest.raises(ValueError, match="unknown module 'x'"):
        config.probe_spec("ws://127.0.0.1/", "x")


def test_full_module_adds_idle_and_affinity_in_the_long_pool(tmp_path: Path) -> None:
    """The built-in full module measures idle (capped) and affinity, in the long pool."""
    config = load_config(write(tmp_path, "targets:\n  - {name: a, url: 'ws://a.example/', "
                                         "module: full}\n"), {})
    [spec] = config.targets
    assert {"idle", "affinity"} <= set(spec.settings.only)
    assert spec.long and spec.settings.idle_max == 120.0
    assert spec.time_limit > spec.settings.idle_max


def test_modules_take_client_certificates_proxies_and_messages(tmp_path: Path) -> None:
    """A module's settings give a client certificate (passphrase from the environment), a
    proxy URL with credentials from the environment, and messages to send."""
    from wsdoctor.lab.certs import LabCA

    pair = LabCA().issue(["client"], client=True)
    cert, _ = pair.write(tmp_path, "client")
    key = tmp_path / "enc.key"
    key.write_bytes(pair.encrypted_key(b"pass phrase"))
    path = tmp_path / "probe.yaml"
    path.write_text(textwrap.dedent(f"""\
        modules:
          mtls:
            checks: [handshake, messages]
            settings:
              client_cert: {cert}
              client_key: {key}
              client_key_password: "${{KEY_PASSWORD}}"
              proxy: "http://me:${{PROXY_PASSWORD}}@10.0.0.1:3128"
              send: ["hello"]
        targets:
          - {{name: t, url: "wss://ws.example.com/", module: mtls}}
        """))
    environ = {"KEY_PASSWORD": "pass phrase", "PROXY_PASSWORD": "hunter2"}
    settings = load_config(path, environ=environ).targets[0].settings
    assert settings.proxy is not None and settings.proxy.url == "http://<redacted>@10.0.0.1:3128"
    assert settings.proxy.password is not None
    assert settings.proxy.password.get_secret_value() == "hunter2"
    assert [m.text for m in settings.send] == ["hello"]
    with pytest.raises(ConfigError, match="passphrase is wrong"):
        load_config(path, environ=environ | {"KEY_PASSWORD": "nope"})


TARGET = "targets:\n  - name: a\n    url: ws://a.example/\n"


@pytest.mark.parametrize(
    ("text", "environ", "cli", "expected"),
    [
        (TARGET + "    headers: {X-A: '${V}'}\n", {"V": "1\r\nX-Injected: 1"},
         ["-H", "X-A: 1\r\nX-Injected: 1"], "targets[0].headers.X-A: the value contains a line"),
        (TARGET + "    headers: {X-A: '${V}'}\n", {"V": "caf\u00e9"}, ["-H", "X-A: caf\u00e9"],
         "the value contains the non-ASCII character U+00E9"),
        (TARGET + "    headers: {X-A: \"a\\0b\"}\n", {}, ["-H", "X-A: a\0b"],
         "the value contains a NUL character"),
        (TARGET + "    headers: {Host: other.example}\n", {}, ["-H", "Host: other.example"],
         "targets[0].headers.Host: Host: wsdoctor sets this header itself"),
        (TARGET + "    headers: {Content-Length: '5'}\n", {}, ["-H", "Content-Length: 5"],
         "targets[0].headers.Content-Length: Content-Length: not sent on a WebSocket handshake"),
        (TARGET + "    headers: {Transfer-Encoding: chunked}\n", {},
         ["-H", "Transfer-Encoding: chunked"], "the upgrade request has no body"),
        (TARGET + "    origin: app.example\n", {}, ["--origin", "app.example"],
         "targets[0].origin: 'app.example': expected an ASCII origin"),
        (TARGET + "    subprotocols: ['chat v2']\n", {}, ["--subprotocol", "chat v2"],
         "targets[0].subprotocols: 'chat v2': a subprotocol is one token"),
        (TARGET + "    settings: {dns_server: ''}\n", {}, ["--dns-server="],
         "targets[0].settings.dns_server: empty"),
        (TARGET + "    settings: {dns_server: resolver.example}\n", {},
         ["--dns-server", "resolver.example"], "'resolver.example' is not an IP address"),
        (TARGET + "    settings: {cafile: /nonexistent/ca.pem}\n", {},
         ["--cacert", "/nonexistent/ca.pem"], "targets[0].settings.cafile: no such file"),
        (TARGET + "    settings: {kubeconfig: /dev/null}\n", {}, ["--kubeconfig", "/dev/null"],
         "targets[0].settings.kubeconfig: not a regular file"),
        (TARGET + "    settings: {timeout: .inf}\n", {}, ["--timeout", "inf"],
         "targets[0].settings.timeout: Input should be a finite number"),
        (TARGET + "    resolve: ['a.example:+80:127.0.0.1']\n", {},
         ["--resolve", "a.example:+80:127.0.0.1"], "'+80' is not a port"),
        ("targets:\n  - name: a\n    url: 'ws://[::1]]:80/'\n", {}, [],
         "targets[0].url: unexpected ']:80' after the IPv6 address"),
    ],
)
def test_check_config_refuses_what_the_command_line_refuses(
    tmp_path: Path, text: str, environ: dict[str, str], cli: list[str], expected: str
) -> None:
    """The configuration is checked by the same code as the command line's options: a value
    the CLI refuses (exit 2) fails --check-config too (exit 2, one line with file and key)."""
    path = write(tmp_path, text)
    checked = run_cli("probe", "--config", str(path), "--check-config", environ=environ)
    assert checked.status == ExitStatus.USAGE, checked
    assert checked.stderr.count("\n") == 1 and expected in checked.stderr, checked.stderr
    if cli:
        refused = run_cli("ws://a.example/", *cli)
        assert refused.status == ExitStatus.USAGE and refused.stderr.count("\n") == 1, refused


def test_module_settings_take_durations_and_checked_codes(tmp_path: Path) -> None:
    """`settings:` durations read as everywhere else (`timeout: 1m30s`), and `suppress` codes
    are taken in any case and refused, with the nearest, when they do not exist."""
    path = write(tmp_path, """\
        modules:
          m: {checks: [tcp], settings: {timeout: 1m30s, idle_max: 2min,
                                        suppress: [wsd-tcp-refused]}}
        targets:
          - {name: a, url: ws://127.0.0.1:1/, module: m}
        """)
    (spec,) = load_config(path, {}).targets
    assert (spec.settings.timeout, spec.settings.idle_max) == (90.0, 120.0)
    assert spec.settings.suppress == ["WSD-TCP-REFUSED"]
    path = write(tmp_path,
                 "modules:\n  m: {checks: [tcp], settings: {suppress: [WSD-TCP-REFUSD]}}\n")
    with pytest.raises(ConfigError, match=r"exporter.yaml:2: modules.m.settings.suppress: unknown "
                       r"finding code 'WSD-TCP-REFUSD'; did you mean WSD-TCP-REFUSED"):
        load_config(path, {})
    path = write(tmp_path, "modules:\n  m: {checks: [tcp], settings: {timeout: soon}}\n")
    with pytest.raises(ConfigError, match=r"settings\.timeout: 'soon' is not a duration"):
        load_config(path, {})
