"""How one target of the exporter's configuration becomes a :class:`ProbeSpec`: its module's
settings merged with its own, headers, pins and proxy checked by the same code as the command
line's options, labels checked against the metrics' own. Errors are :class:`At`, a message
at a key relative to the target (the configuration loader adds the file, line and path)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from wsdoctor import validate
from wsdoctor.exporter.schema import LONG_CHECKS, Expectations, ModuleConfig, TargetConfig
from wsdoctor.modelbase import FieldError
from wsdoctor.models import Status, Target
from wsdoctor.records import dataclass
from wsdoctor.settings import Header, ResolvePin, Settings

if TYPE_CHECKING:
    from wsdoctor.watch.model import WatchOptions

#: Label names the metrics themselves use: configured labels must not collide with them.
RESERVED_LABELS = frozenset(
    {"target", "module", "check", "status", "code", "version", "address", "url", "le", "quantile"}
)
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Settings keys a module may not set through ``settings:`` (they have their own keys).
MANAGED = {"only": "checks", "enable": "checks", "skip": "skip", "headers": "headers",
           "resolve": "resolve", "fail_on": "fail_on", "origin": "origin",
           "subprotocols": "subprotocols", "expect_idle": "expect", "expect_affinity": "expect"}

#: Of those, the keys only a target has (a module's settings cannot be moved to a module key).
TARGET_ONLY = frozenset({"headers", "resolve", "origin", "subprotocols"})


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


def _env(text: str, environ: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise ValueError(f"environment variable {name} is not set")
        return environ[name]

    return _ENV.sub(substitute, text)


def check_labels(labels: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """Configured labels, ``${ENV}`` read: valid Prometheus names that the metrics do not use."""
    out: dict[str, str] = {}
    for name, value in labels.items():
        if not _LABEL_NAME.match(name) or name.startswith("__"):
            raise At(["labels", name], f"{name!r} is not a valid Prometheus label name")
        if name in RESERVED_LABELS:
            raise At(["labels", name], f"{name!r} is a label of wsdoctor's metrics; rename it")
        try:
            out[name] = _env(str(value), environ)
        except ValueError as exc:
            raise At(["labels", name], str(exc)) from None
    return out


class At(ValueError):
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
            raise At("address", str(exc)) from None
    for index, text in enumerate(spec.resolve):
        try:
            host, port, address = validate.resolve_pin(text)
        except ValueError as exc:
            raise At(["resolve", index], f"{text!r}: {exc}") from None
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
            raise At(["headers", name], str(exc)) from None
        headers.append(Header(name=name, value=text))
    return headers


def _clientmodule_settings(merged: dict[str, Any], environ: Mapping[str, str]) -> None:
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
                raise At(["settings", key], str(exc)) from None
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
        raise At("settings", str(exc)) from None


def module_settings(module: ModuleConfig, spec: TargetConfig, headers: list[Header],
                    pins: list[ResolvePin], environ: Mapping[str, str]) -> Settings:
    """The run settings of ``spec`` under ``module``, validated as the command line's are."""
    from wsdoctor.runner import SelectionError, select_checks

    merged = {**module.settings, **spec.settings}
    _clientmodule_settings(merged, environ)
    expect = spec.expect or module.expect
    if expect.idle_timeout is not None:
        merged["expect_idle"] = expect.idle_timeout
    if expect.affinity is not None:
        merged["expect_affinity"] = expect.affinity
    for key, own in MANAGED.items():
        if key in {**module.settings, **spec.settings}:
            raise At("settings", f"{key!r} is set with the {own!r} key, not under settings")
    if isinstance(merged.get("suppress"), list):  # as --suppress: any case, never a typo
        from wsdoctor.docs import DocsError, canonical_codes

        try:
            merged["suppress"] = canonical_codes(str(c) for c in merged["suppress"])
        except DocsError as exc:
            raise At(["settings", "suppress"], str(exc)) from None
    try:
        settings = Settings.model_validate({  # YAML's values, coerced and checked by pydantic
            **merged,
            "only": list(module.checks or []),
            "skip": list(module.skip),
            "fail_on": Status(module.fail_on),
            "headers": headers,
            "resolve": pins,
            "origin": spec.origin,
            "subprotocols": list(spec.subprotocols),
        })
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            message = "unknown setting (a typo?)"
        loc = list(error["loc"])  # a key of its own (origin:) is not under settings:
        cause = error.get("ctx", {}).get("error")  # a setting's own check names its key
        if not loc and isinstance(cause, FieldError):
            loc, message = [cause.field], cause.reason
        where = [MANAGED[loc[0]], *loc[1:]] if loc and loc[0] in MANAGED else ["settings", *loc]
        raise At(where, message) from None
    if settings.kubeconfig is not None:
        try:
            validate.kubeconfig(settings.kubeconfig)
        except ValueError as exc:
            raise At(["settings", "kubeconfig"], str(exc)) from None
    try:
        select_checks(settings)
    except SelectionError as exc:
        raise At("module", f"module {spec.module!r}: {exc}") from None
    return settings


def compile_spec(spec: TargetConfig, target: Target, module: ModuleConfig, *,
                 environ: Mapping[str, str], labels: tuple[tuple[str, str], ...],
                 interval: float) -> ProbeSpec:
    """``spec`` probed with ``module``: its settings, time limit, pool and labels (the
    configuration's ``labels`` under the target's own); ``interval`` when it sets none."""
    headers = _headers(spec, environ)
    pins = _pins(spec, target)
    settings = module_settings(module, spec, headers, pins, environ)
    checks = set(module.checks or [])
    long = module.long if module.long is not None else bool(checks & LONG_CHECKS)
    merged_labels = {**dict(labels), **check_labels(spec.labels, environ)}
    return ProbeSpec(
        name=spec.name,
        module=spec.module,
        target=target,
        settings=settings,
        time_limit=module.time_limit,
        long=long,
        expect=spec.expect or module.expect,
        labels=tuple(sorted(merged_labels.items())),
        interval=spec.interval or interval,
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
