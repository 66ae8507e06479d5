"""Raw HTTPS requests to the fake API (headers exactly as a test wants them)."""

from __future__ import annotations

import http.client
import json
import ssl
from typing import Any
from urllib.parse import urlsplit

from wsdoctor.lab.kubeapi import RunningAPI


def raw_get(
    running: RunningAPI,
    path: str,
    authorization: str | None = "Bearer admin-token",
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one GET."""
    context = ssl.create_default_context(cadata=running.ca_pem.decode())
    url = urlsplit(running.url)
    conn = http.client.HTTPSConnection(
        url.hostname or "127.0.0.1", url.port, context=context, timeout=timeout
    )
    try:
        headers = {"Authorization": authorization} if authorization is not None else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def raw_json(running: RunningAPI, path: str, token: str = "admin-token") -> tuple[int, Any]:
    code, _, body = raw_get(running, path, f"Bearer {token}")
    return code, json.loads(body)
