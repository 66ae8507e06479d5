"""The credentials of a kubeconfig user, as client-go gets them: a token (inline, or from
``tokenFile``, whitespace trimmed), client certificates, basic auth, or an exec plugin.

An exec plugin runs non-interactively in its own process group, with the time the check has
left: a plugin that hangs is killed (with any children) at that limit, so wsdoctor exits on
time; one that is missing is named with its ``installHint``, in one line."""

from __future__ import annotations

import base64
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from typing import Any

from wsdoctor.kube.kubeconfig import Entry, KubeconfigError, Selected, resolve
from wsdoctor.records import dataclass

EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
MAX_OUTPUT = 1 << 20


@dataclass
class Credentials:
    """What to present to the API server (at most one of token / basic; certificates too)."""

    token: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    username: str | None = None
    password: str | None = None
    source: str = "none"
    """How they were obtained (``token``, ``tokenFile``, ``exec plugin NAME``...): for messages."""


def one_line(text: str, limit: int = 300) -> str:
    """Whitespace collapsed, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _read_token_file(user: Entry, value: str) -> str:
    path = resolve(user, value)
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block the read
        raise KubeconfigError(f'user "{user.name}": tokenFile {path} is not a regular file')
    try:
        with open(path, "rb") as handle:
            token = handle.read(MAX_OUTPUT).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise KubeconfigError(f'user "{user.name}": tokenFile {path}: {reason}') from None
    if not token:
        raise KubeconfigError(f'user "{user.name}": tokenFile {path} is empty')
    return token


def user_credentials(selected: Selected, deadline: float) -> Credentials:
    """The credentials of the selected user; KubeconfigError with one line when they cannot be
    had (missing file or plugin, plugin failure or timeout)."""
    user = selected.user
    body = user.body
    creds = Credentials()
    if body.get("client-certificate-data"):
        creds.cert_pem = _b64(user, "client-certificate-data", body["client-certificate-data"])
    elif body.get("client-certificate"):
        creds.cert_file = resolve(user, str(body["client-certificate"]))
    if body.get("client-key-data"):
        creds.key_pem = _b64(user, "client-key-data", body["client-key-data"])
    elif body.get("client-key"):
        creds.key_file = resolve(user, str(body["client-key"]))
    if body.get("token"):
        creds.token, creds.source = str(body["token"]).strip(), "token"
    elif body.get("tokenFile"):
        creds.token, creds.source = _read_token_file(user, str(body["tokenFile"])), "tokenFile"
    elif body.get("username") or body.get("password"):
        creds.username = str(body.get("username") or "")
        creds.password = str(body.get("password") or "")
        creds.source = "basic auth"
    elif isinstance(body.get("exec"), dict):
        exec_creds = run_exec_plugin(body["exec"], user, selected.cluster, deadline)
        creds.token = exec_creds.token or creds.token
        creds.cert_pem = exec_creds.cert_pem or creds.cert_pem
        creds.key_pem = exec_creds.key_pem or creds.key_pem
        creds.source = exec_creds.source
    elif isinstance(body.get("auth-provider"), dict):
        creds.token, creds.source = _auth_provider(user, body["auth-provider"])
    elif creds.cert_pem or creds.cert_file:
        creds.source = "client certificate"
    return creds


def _b64(user: Entry, key: str, value: Any) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except ValueError:
        raise KubeconfigError(f'user "{user.name}": {key} is not valid base64') from None


def _auth_provider(user: Entry, provider: dict[str, Any]) -> tuple[str, str]:
    name = str(provider.get("name") or "")
    raw = provider.get("config")
    settings: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if name == "oidc" and settings.get("id-token"):
        return str(settings["id-token"]).strip(), "oidc id-token"
    if name in ("gcp", "azure"):
        plugin = "gke-gcloud-auth-plugin" if name == "gcp" else "kubelogin"
        raise KubeconfigError(
            f'user "{user.name}": the {name} auth-provider was removed from kubectl 1.26; '
            f"use the {plugin} exec plugin (and regenerate the kubeconfig)"
        )
    raise KubeconfigError(
        f'user "{user.name}": auth-provider "{name}" is not supported (no id-token to use)'
    )


def _exec_env(spec: dict[str, Any], cluster: Entry, api_version: str) -> dict[str, str]:
    env = dict(os.environ)
    for item in spec.get("env") or []:
        if isinstance(item, dict) and item.get("name"):
            env[str(item["name"])] = str(item.get("value") or "")
    info: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": False},
    }
    if spec.get("provideClusterInfo"):
        body = cluster.body
        info["spec"]["cluster"] = {
            "server": body.get("server"),
            "certificate-authority-data": body.get("certificate-authority-data"),
            "insecure-skip-tls-verify": bool(body.get("insecure-skip-tls-verify")),
            "tls-server-name": body.get("tls-server-name"),
            "proxy-url": body.get("proxy-url"),
            "config": (body.get("extensions") or [{}])[0].get("extension")
            if isinstance(body.get("extensions"), list) and body.get("extensions")
            else None,
        }
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    return env


def run_exec_plugin(
    spec: dict[str, Any], user: Entry, cluster: Entry, deadline: float
) -> Credentials:
    """Run a client-go credential plugin once; its token or client certificate."""
    command = str(spec.get("command") or "")
    who = f'user "{user.name}": exec plugin {command or "(no command)"}'
    api_version = str(spec.get("apiVersion") or "")
    if not command:
        raise KubeconfigError(f'user "{user.name}": exec has no command')
    if api_version not in EXEC_API_VERSIONS:
        raise KubeconfigError(
            f"{who}: apiVersion {api_version or '(none)'} is not supported "
            f"(use {EXEC_API_VERSIONS[0]})"
        )
    for key in ("args", "env"):  # kubectl refuses these too ("cannot unmarshal string")
        if spec.get(key) is not None and not isinstance(spec.get(key), list):
            raise KubeconfigError(f"{who}: exec {key} must be a list, not "
                                  f"{type(spec.get(key)).__name__}")
    if spec.get("interactiveMode") == "Always":
        raise KubeconfigError(
            f"{who}: needs an interactive terminal (interactiveMode: Always); log in with "
            "kubectl first, or use a plugin mode that does not prompt"
        )
    path = resolve(user, command) if "/" in command else shutil.which(command)
    if path is None or not os.path.isfile(path):
        hint = one_line(str(spec.get("installHint") or ""))
        raise KubeconfigError(
            f"{who} not found"
            + (" on PATH" if "/" not in command else "")
            + (f": {hint}" if hint else "")
        )
    args = [path, *[str(a) for a in spec.get("args") or []]]
    left = deadline - time.monotonic()
    if left <= 0:
        raise KubeconfigError(f"{who}: no time left to run it")
    try:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_exec_env(spec, cluster, api_version),
            start_new_session=True,  # its own process group: killed whole at the limit
        )
    except OSError as exc:
        raise KubeconfigError(f"{who}: cannot run it ({exc.strerror or exc})") from None
    try:
        out, err = _communicate(proc, deadline)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise KubeconfigError(
            f"{who} did not finish within {left:.0f} s; it was killed (with its children). "
            "Run it by hand to see what it waits for (a login prompt, a network call)"
        ) from None
    except _TooMuchOutput:
        _kill_group(proc)
        raise KubeconfigError(
            f"{who} printed more than {MAX_OUTPUT >> 20} MiB; it was killed (with its "
            "children). An ExecCredential is a small JSON document"
        ) from None
    if proc.returncode != 0:
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        said = one_line(_redacted(lines[-1], spec, out)) if lines else "nothing on stderr"
        raise KubeconfigError(f"{who} exited with status {proc.returncode}: {said}")
    return _parse_credential(who, out, api_version, command)


def _redacted(line: str, spec: dict[str, Any], out: bytes) -> str:
    """A line of the plugin's stderr as it may be shown: the secrets it was given (env values
    whose names say secret), what it printed on stdout (a token, before failing) and anything
    shaped like a credential (a bearer token, a JWT, ``password=...``) replaced."""
    from wsdoctor.redact import Redactor, is_secret_header, mask_credentials

    given = [str(item.get("value") or "") for item in spec.get("env") or []
             if isinstance(item, dict) and is_secret_header(str(item.get("name") or ""))]
    printed = out.decode(errors="replace").strip()
    return mask_credentials(Redactor([*given, *([printed] if printed else []),
                                      *_printed_secrets(printed)]).text(line))


def _printed_secrets(printed: str) -> list[str]:
    """The credentials inside what a plugin printed on stdout (its ExecCredential's token
    and key, also from a document cut short): a plugin's stderr quotes the token alone."""
    found = re.findall(r'"(?:token|clientKeyData)"\s*:\s*"((?:[^"\\]|\\.)+)"', printed)
    try:
        status = json.loads(printed).get("status")
    except (ValueError, AttributeError):
        status = None
    if isinstance(status, dict):
        found += [str(status.get(k)) for k in ("token", "clientKeyData") if status.get(k)]
    return found


class _TooMuchOutput(Exception):
    """The plugin printed more than :data:`MAX_OUTPUT` on stdout."""


def _communicate(proc: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes]:
    """The plugin's stdout and stderr once it has exited, read as they come and bounded:
    ``TimeoutExpired`` at ``deadline``, :class:`_TooMuchOutput` past :data:`MAX_OUTPUT` on
    stdout (stderr keeps its last :data:`MAX_OUTPUT` bytes). ``communicate`` would hold
    whatever a runaway plugin prints in memory until the deadline."""
    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        for pipe, buffer in ((proc.stdout, out), (proc.stderr, err)):
            if pipe is not None:
                selector.register(pipe, selectors.EVENT_READ, buffer)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, 0)
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = key.data
                buffer += chunk
                if len(buffer) > MAX_OUTPUT:
                    if buffer is out:
                        raise _TooMuchOutput
                    del buffer[:-MAX_OUTPUT]
    proc.wait(max(0.0, deadline - time.monotonic()))
    return bytes(out), bytes(err)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the plugin's process group and reap it; never wait on pipes held open by a
    descendant that escaped the group (it would keep wsdoctor past its limit)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    proc.wait(timeout=1.0)


def _parse_credential(who: str, out: bytes, api_version: str, command: str) -> Credentials:
    try:
        doc = json.loads(out)
    except ValueError:
        raise KubeconfigError(f"{who}: its output is not an ExecCredential (not JSON)") from None
    status = doc.get("status") if isinstance(doc, dict) else None
    if not isinstance(status, dict):
        raise KubeconfigError(f"{who}: its ExecCredential has no status")
    if doc.get("apiVersion") not in (None, api_version):
        raise KubeconfigError(
            f"{who}: answered apiVersion {doc.get('apiVersion')}, asked for {api_version}"
        )
    token = status.get("token")
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if not token and not (cert and key):
        raise KubeconfigError(f"{who}: its ExecCredential holds neither a token nor a certificate")
    return Credentials(
        token=str(token).strip() if token else None,
        cert_pem=str(cert).encode() if cert else None,
        key_pem=str(key).encode() if key else None,
        source=f"exec plugin {os.path.basename(command)}",
    )
