"""placeholder"""
from __future__ import annotations

from typing import Any


class ClusterWatchError(Exception):
    pass

class ClusterWatch:
    def __init__(self, settings: Any, obs: Any, deliver: Any, now: Any) -> None:
        pass
    async def start(self) -> list[str]:
        raise ClusterWatchError("not yet")
    async def stop(self) -> None:
        pass
