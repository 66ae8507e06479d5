"""List functions the ``kubernetes`` client's ``watch.Watch`` streams from, on raw API paths.

The client's typed ``list_*`` methods deserialise into its models, whose first import costs
seconds; the watch needs only the JSON. These functions take the same arguments as the typed
methods (``watch``, ``label_selector``, ``resource_version``...), send the same query through
the same authenticated ``ApiClient``, and return the raw response, as the typed methods do
with ``_preload_content=False``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

_QUERY = (("label_selector", "labelSelector"), ("field_selector", "fieldSelector"),
          ("resource_version", "resourceVersion"), ("timeout_seconds", "timeoutSeconds"),
          ("allow_watch_bookmarks", "allowWatchBookmarks"))


class ListError(Exception):
    """A LIST refused by the API server: its status and the Status message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status} {message}")
        self.status = status


def raw_lister(api: Any, path: str) -> Callable[..., object]:
    """A list (and watch) function for the collection at ``path``."""

    def list_objects(watch: bool = False, _preload_content: bool = True,
                     _request_timeout: float | None = None, **params: Any) -> object:
        query = [("watch", "true")] if watch else []
        for key, name in _QUERY:
            value = params.get(key)
            if value is not None:
                query.append((name, str(value).lower() if isinstance(value, bool)
                              else str(value)))
        headers = {"Accept": "application/json"}
        if hasattr(api, "param_serialize"):  # kubernetes >= 34
            method, url, headers, _, _ = api.param_serialize(
                "GET", path, query_params=query, header_params=headers,
                auth_settings=["BearerToken"])
            return api.call_api(method, url, header_params=headers,
                                _request_timeout=_request_timeout).response
        return api.call_api(path, "GET", query_params=query, header_params=headers,
                            auth_settings=["BearerToken"], _preload_content=False,
                            _return_http_data_only=True, _request_timeout=_request_timeout)

    list_objects.__doc__ = f"GET {path}"
    return list_objects


def list_body(response: Any) -> dict[str, Any]:
    """The JSON body of a LIST response; ListError for a refusal."""
    data = response.data
    if not 200 <= int(response.status) <= 299:
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        try:
            text = json.loads(text).get("message") or text
        except (ValueError, AttributeError):
            pass
        raise ListError(int(response.status), " ".join(text.split())[:300])
    body = json.loads(data)
    return body if isinstance(body, dict) else {}
