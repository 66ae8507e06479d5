"""The exporter's YAML configuration: targets, modules, schedule, validated at start.

Every error is one line naming the file, the line and the key
(``exporter.yaml:14: targets[2].module: unknown module 'quik' (known: full, quick, watch)``).
Header values and labels may read the environment with ``${NAME}`` (a Secret mounted as an
environment variable, the node name from the downward API).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from wsdoctor import validate
from wsdoctor.exporter.schema import (
    BLACKBOX_MODULES,
    BLACKBOX_UNMAPPED,
    BUILTIN_MODULES,
    DEFAULT_LISTEN,
    LONG_CHECKS,
    ConfigFile,
    Expectations,
    ModuleConfig,
    TargetConfig,
)
from wsdoctor.kube.yamlload import InputRefused, load_one
from wsdoctor.models import Status, Target
from wsdoctor.settings import Header, ResolvePin, Settings
from wsdoctor.untrusted import printable

if TYPE_CHECKING:
    from wsdoctor.watch.model import WatchOptions

#: Label names the metrics themselves use: configured labels must not collide with them.
RESERVED_LABELS = frozenset(
    {"target", "module", "check", "status", "code", "version", "address", "url", "le", "quantile"}
)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
#: A configuration larger than this is refused (a wrong path, not thousands of targets).
CONFIG_LIMIT = 16 * 1024 * 1024
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Settings keys a module may not set through ``settings:`` (they have their own keys).
_MANAGED = {"only": "checks", "enable": "checks", "skip": "skip", "headers": "headers",
            "resolve": "resolve", "fail_on": "fail_on", "origin": "origin",
            "subprotocols": "subprotocols", "expect_idle": "expect", "expect_affinity": "expect"}

#: Of those, the keys only a target has (a module's settings cannot be moved to a module key).
_TARGET_ONLY = frozenset({"headers", "resolve", "origin", "subprotocols"})


class ConfigError(ValueError):
    """The configuration is wrong: one line naming the file, line and key."""


@dataclass(frozen=True)
class ProbeSpec:
    """Everything needed to probe one target once: compiled from a target and its module."""

    name: str
    module: str
    target: Target
    settings: Settings
    time_limit: float
    long: bool
    expect: Expectations
    labels: tuple[tuple[str, str], ...] = ()
    interval: float = 30.0
    watch: WatchOptions | None = None
    """Set for a target of a watch module: held by the exporter's watch module, not
    scheduled."""


@dataclass(frozen=True)
class ExporterConfig:
    """The validated configuration."""

    source: str
    listen: str
    interval: float
    jitter: float
    concurrency: int
    long_concurrency: int
    labels: tuple[tuple[str, str], ...]
    modules: Mapping[str, ModuleConfig]
    targets: tuple[ProbeSpec, ...] = field(default=())
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def module(self, name: str) -> ModuleConfig:
        """The module of this name: the file's or a built-in one, or the one a blackbox name
        stands for; ValueError naming the known ones."""
        if name in self.modules:
            return self.modules[name]
        if name in BLACKBOX_MODULES and BLACKBOX_MODULES[name] in self.modules:
            return self.modules[BLACKBOX_MODULES[name]]
        known = ", ".join(sorted(self.modules))
        aliases = ", ".join(f"{k} ({v})" for k, v in sorted(BLACKBOX_MODULES.items()))
        if name in BLACKBOX_UNMAPPED:
            raise ValueError(f"blackbox_exporter's module '{name}' has no WebSocket meaning "
                             f"(known: {known}; blackbox names: {aliases})")
        raise ValueError(f"unknown module '{printable(name, limit=80)}' (known: {known}; "
                         f"blackbox names: {aliases})")

    def probe_spec(self, url: str, module: str, hostname: str | None = None) -> ProbeSpec:
        """The spec for an on-demand ``/probe?target=URL&module=NAME``; ValueError when wrong.
        A target without a scheme is taken as blackbox_exporter takes it (``host:port``, no
        TLS): ``ws://host:port/``. ``hostname`` is blackbox's parameter of that name: the Host
        and SNI to use while connecting to the target's address (which must then be an IP)."""
        from wsdoctor.target import parse_target

        config = self.module(module)
        target = parse_target(url if "://" in url else f"ws://{url}")
        address = None
        if hostname:
            if not re.fullmatch(r"[A-Za-z0-9._-]+", hostname):
                raise ValueError(f"hostname '{printable(hostname, limit=80)}' is not a host "
                                 "name (letters, digits, '.', '_' and '-' only)")
            try:
                address = validate.ip_address(target.host)
            except ValueError:
                raise ValueError(f"with hostname={hostname} the target must be the IP address "
                                 f"to connect to, not '{target.host}'") from None
            target = parse_target(f"{target.scheme.value}://{hostname}:{target.port}{target.path}")
        spec = TargetConfig(name="probe", url=url, module=module, address=address)
        return _compile(spec, target, config, self)


def _env(text: str, environ: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ValueError(f"environment variable {name} is not set")
        return environ[name]

    return _ENV.sub(substitute, text)


def _check_labels(labels: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in labels.items():
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise _At(["labels", name], f"{name!r} is not a valid Prometheus label name")
        if name in RESERVED_LABELS:
            raise _At(["labels", name], f"{name!r} is a label of wsdoctor's metrics; rename it")
        try:
            out[name] = _env(str(value), environ)
        except ValueError as exc:
            raise _At(["labels", name], str(exc)) from None
    return out


class _At(ValueError):
    """A problem at a key below the current one (``path`` is relative to it)."""

    def __init__(self, path: str | list[str | int], message: str) -> None:
        super().__init__(message)
        self.path: list[str | int] = [path] if isinstance(path, str) else path


def _pins(spec: TargetConfig, target: Target) -> list[ResolvePin]:
    pins: list[ResolvePin] = []
    if spec.address is not None:
        try:
            pins.append(ResolvePin(host=target.host, port=target.port,
                                   address=validate.ip_address(spec.address)))
        except ValueError as exc:
            raise _At("address", str(exc)) from None
    for index, text in enumerate(spec.resolve):
        try:
            host, port, address = validate.resolve_pin(text)
        except ValueError as exc:
            raise _At(["resolve", index], f"{text!r}: {exc}") from None
        pins.append(ResolvePin(host=host, port=port, address=address))
    return pins


def _headers(spec: TargetConfig, environ: Mapping[str, str]) -> list[Header]:
    """The target's headers, checked by the same code as ``-H`` (the value is not quoted:
    it is a secret, often from the environment)."""
    headers: list[Header] = []
    for name, value in spec.headers.items():
        try:
            validate.header_name(name)
            text = validate.header_value(_env(str(value), environ))
        except ValueError as exc:
            raise _At(["headers", name], str(exc)) from None
        headers.append(Header(name=name, value=text))
    return headers


def _client_settings(merged: dict[str, Any], environ: Mapping[str, str]) -> None:
    """``proxy`` (a URL), ``client_key_password`` and ``send`` (text or ``@FILE``) as the
    command line takes them; ``${ENV}`` works in the proxy URL and the passphrase."""
    from wsdoctor.commands.options_clients import check_client_certificate, parse_send
    from wsdoctor.console import UsageError
    from wsdoctor.proxy_config import ProxyConfigError, parse_proxy_url
    from wsdoctor.settings import ProxyConfig

    for key in ("proxy", "client_key_password"):
        if isinstance(merged.get(key), str):
            try:
                merged[key] = _env(merged[key], environ)
            except ValueError as exc:
                raise _At(["settings", key], str(exc)) from None
    try:
        if isinstance(merged.get("proxy"), str):
            merged["proxy"] = parse_proxy_url(merged["proxy"], source="settings.proxy")
        if isinstance(merged.get("send"), list):
            merged["send"] = parse_send([str(m) for m in merged["send"]])
        if merged.get("client_cert"):
            check_client_certificate(str(merged["client_cert"]), merged.get("client_key"),
                                     merged.get("client_key_password"))
        proxy = merged.get("proxy")
        merged["secrets"] = [*merged.get("secrets", []),
                             *(proxy.credentials() if isinstance(proxy, ProxyConfig) else []),
                             *([str(merged["client_key_password"])]
                               if merged.get("client_key_password") else [])]
    except (ProxyConfigError, UsageError) as exc:
        raise _At("settings", str(exc)) from None


def _settings(module: ModuleConfig, spec: TargetConfig, headers: list[Header],
              pins: list[ResolvePin], environ: Mapping[str, str]) -> Settings:
    from wsdoctor.runner import SelectionError, select_checks

    merged = {**module.settings, **spec.settings}
    _client_settings(merged, environ)
    expect = spec.expect or module.expect
    if expect.idle_timeout is not None:
        merged["expect_idle"] = expect.idle_timeout
    if expect.affinity is not None:
        merged["expect_affinity"] = expect.affinity
    for key, own in _MANAGED.items():
        if key in {**module.settings, **spec.settings}:
            raise _At("settings", f"{key!r} is set with the {own!r} key, not under settings")
    if isinstance(merged.get("suppress"), list):  # as --suppress: any case, never a typo
        from wsdoctor.docs import DocsError, canonical_codes

        try:
            merged["suppress"] = canonical_codes(str(c) for c in merged["suppress"])
        except DocsError as exc:
            raise _At(["settings", "suppress"], str(exc)) from None
    try:
        settings = Settings(
            **merged,
            only=list(module.checks or []),
            skip=list(module.skip),
            fail_on=Status(module.fail_on),
            headers=headers,
            resolve=pins,
            origin=spec.origin,
            subprotocols=list(spec.subprotocols),
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (a typo?)"
        loc = list(error["loc"])  # a key of its own (origin:) is not under settings:
        where = [_MANAGED[loc[0]], *loc[1:]] if loc and loc[0] in _MANAGED else ["settings", *loc]
        raise _At(where, message) from None
    if settings.kubeconfig is not None:
        try:
            validate.kubeconfig(settings.kubeconfig)
        except ValueError as exc:
            raise _At(["settings", "kubeconfig"], str(exc)) from None
    try:
        select_checks(settings)
    except SelectionError as exc:
        raise _At("module", f"module {spec.module!r}: {exc}") from None
    return settings


def _compile(spec: TargetConfig, target: Target, module: ModuleConfig,
             config: ExporterConfig) -> ProbeSpec:
    environ = config.environ
    headers = _headers(spec, environ)
    pins = _pins(spec, target)
    settings = _settings(module, spec, headers, pins, environ)
    checks = set(module.checks or [])
    long = module.long if module.long is not None else bool(checks & LONG_CHECKS)
    labels = {**dict(config.labels), **_check_labels(spec.labels, environ)}
    return ProbeSpec(
        name=spec.name,
        module=spec.module,
        target=target,
        settings=settings,
        time_limit=module.time_limit,
        long=long,
        expect=spec.expect or module.expect,
        labels=tuple(sorted(labels.items())),
        interval=spec.interval or config.interval,
        watch=_watch_options(module),
    )


def _watch_options(module: ModuleConfig) -> WatchOptions | None:
    """The holding options of a watch module (None for a probing one)."""
    if module.watch is None:
        return None
    from wsdoctor.watch.model import WatchOptions

    w = module.watch
    return WatchOptions(connections=w.connections, duration=None, heartbeat=w.heartbeat,
                        echo=w.echo, pong_timeout=w.pong_timeout, backoff_initial=w.backoff,
                        open_interval=min(0.5, 20.0 / w.connections))


def _loc(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """Line (1-based) of the node at ``loc`` in the composed YAML, or of its deepest parent."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
              and 0 <= part < len(node.value)):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def load_config(path: str | Path, environ: Mapping[str, str] | None = None,
                listen: str | None = None) -> ExporterConfig:
    """Read and validate the configuration file; :class:`ConfigError` in one line when wrong."""
    source = str(path)
    environ = dict(os.environ if environ is None else environ)
    from wsdoctor.files import read_bounded

    try:
        text = read_bounded(str(path), CONFIG_LIMIT).decode("utf-8")
    except OSError as exc:
        reason = exc.strerror or exc
        raise ConfigError(f"{source}: cannot read the configuration: {reason}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: the configuration is not UTF-8 text") from None
    try:
        data, root = load_one(text)
    except InputRefused as exc:  # invalid YAML, an alias bomb, too deep: one line
        raise ConfigError(f"{source}{f':{exc.line}' if exc.line else ''}: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the configuration must be a mapping of keys "
                          "(listen, interval, modules, targets, ...)")

    def fail(loc: Sequence[int | str], message: str) -> ConfigError:
        line = _line_of(root, loc)
        return ConfigError(f"{source}{f':{line}' if line else ''}: {_loc(loc)}: {message}")

    try:
        raw = ConfigFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (a typo?)"
        raise fail(error["loc"], message) from None
    return _build(raw, source, environ, listen, fail)


#: ``source`` of the configuration ``wsdoctor probe`` runs without ``--config``.
BUILT_IN = "(built-in defaults)"


def default_config(environ: Mapping[str, str] | None = None,
                   listen: str | None = None) -> ExporterConfig:
    """The configuration without a file: the built-in modules, no scheduled targets (``/probe``
    only), as blackbox_exporter runs with its defaults."""

    def fail(loc: Sequence[int | str], message: str) -> ConfigError:
        return ConfigError(f"{_loc(loc)}: {message}")

    return _build(ConfigFile(), BUILT_IN, dict(os.environ if environ is None else environ),
                  listen, fail)


def _build(raw: ConfigFile, source: str, environ: Mapping[str, str], listen: str | None,
           fail: Any) -> ExporterConfig:
    from wsdoctor.target import TargetError, parse_target

    try:
        labels = _check_labels(raw.labels, environ)
    except _At as exc:
        raise fail(exc.path, str(exc)) from None
    modules = {**BUILTIN_MODULES, **raw.modules}
    config = ExporterConfig(
        source=source,
        listen=listen or raw.listen or DEFAULT_LISTEN,
        interval=raw.interval,
        jitter=raw.jitter,
        concurrency=raw.concurrency,
        long_concurrency=raw.long_concurrency,
        labels=tuple(sorted(labels.items())),
        modules=modules,
        environ=environ,
    )
    try:
        parse_listen(config.listen)
    except ValueError as exc:
        raise fail(["listen"], str(exc)) from None
    for name, module in raw.modules.items():
        bad = sorted(set(module.settings) & set(_MANAGED))
        if bad:
            own = _MANAGED[bad[0]]
            where = "of each target (a module has none)" if own in _TARGET_ONLY \
                else "of the module, not under settings"
            raise fail(["modules", name, "settings", bad[0]], f"set with the {own!r} key {where}")
        try:
            probe = TargetConfig(name="check", url="ws://127.0.0.1/", module=name)
            _settings(module, probe, [], [], environ)
        except _At as exc:
            path = ["checks"] if exc.path == ["module"] else exc.path
            raise fail(["modules", name, *path], str(exc)) from None
    specs: list[ProbeSpec] = []
    seen: set[str] = set()
    for index, spec in enumerate(raw.targets):
        at = ["targets", index]
        if not _TARGET_NAME.match(spec.name):
            raise fail([*at, "name"], f"{spec.name!r}: use letters, digits, '.', '_' or '-'")
        if spec.name in seen:
            raise fail([*at, "name"], f"{spec.name!r} is used by another target")
        seen.add(spec.name)
        try:
            module = config.module(spec.module)
        except ValueError as exc:
            raise fail([*at, "module"], str(exc)) from None
        try:
            target = parse_target(spec.url)
        except TargetError as exc:
            raise fail([*at, "url"], str(exc)) from None
        try:
            specs.append(_compile(spec, target, module, config))
        except _At as exc:
            raise fail([*at, *exc.path], str(exc)) from None
        except ValueError as exc:
            raise fail(at, str(exc)) from None
    return ExporterConfig(**{**config.__dict__, "targets": tuple(specs)})


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``[::]:PORT`` → (host, port); host '' means all addresses."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT or :PORT")
    return host.strip("[]"), int(port)
