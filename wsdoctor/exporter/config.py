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
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from wsdoctor import validate
from wsdoctor.exporter.schema import (
    BLACKBOX_MODULES,
    BLACKBOX_UNMAPPED,
    BUILTIN_MODULES,
    DEFAULT_LISTEN,
    ConfigFile,
    ModuleConfig,
    TargetConfig,
)
from wsdoctor.exporter.targetspec import (
    MANAGED,
    TARGET_ONLY,
    At,
    ProbeSpec,
    check_labels,
    compile_spec,
    module_settings,
)
from wsdoctor.kube.yamlload import InputRefused, load_one
from wsdoctor.records import dataclass
from wsdoctor.untrusted import printable

__all__ = ["ConfigError", "ExporterConfig", "ProbeSpec", "default_config",
           "load_config", "parse_listen"]

#: A configuration larger than this is refused (a wrong path, not thousands of targets).
CONFIG_LIMIT = 16 * 1024 * 1024
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class ConfigError(ValueError):
    """The configuration is wrong: one line naming the file, line and key."""


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
        return compile_spec(spec, target, config, environ=self.environ, labels=self.labels,
                            interval=self.interval)


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
        labels = check_labels(raw.labels, environ)
    except At as exc:
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
        bad = sorted(set(module.settings) & set(MANAGED))
        if bad:
            own = MANAGED[bad[0]]
            where = "of each target (a module has none)" if own in TARGET_ONLY \
                else "of the module, not under settings"
            raise fail(["modules", name, "settings", bad[0]], f"set with the {own!r} key {where}")
        try:
            probe = TargetConfig(name="check", url="ws://127.0.0.1/", module=name)
            module_settings(module, probe, [], [], environ)
        except At as exc:
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
            specs.append(compile_spec(spec, target, module, environ=environ,
                                      labels=config.labels, interval=config.interval))
        except At as exc:
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
