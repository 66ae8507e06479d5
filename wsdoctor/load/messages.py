"""Messages under load: each held connection gets ``message_rate`` small text messages a
second, spread evenly over time and connections; each carries the time it was sent, so an
echo gives a round trip with no state kept per message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from wsdoctor.load.held import Held
from wsdoctor.load.stats import Reservoir

PAYLOAD_PREFIX = b"wsdoctor-load "


class Messenger:
    """Sends the messages and times the echoes."""

    def __init__(self, rate: float, size: int, now: Callable[[], float]) -> None:
        self.rate = rate
        self.size = size
        self.now = now
        self.sent = self.received = self.echoes = 0
        self.round_trip = Reservoir()

    def payload(self) -> bytes:
        """``wsdoctor-load <ns since the start> ....``, padded to the message size."""
        stamp = b"%s%d " % (PAYLOAD_PREFIX, int(self.now() * 1e9))
        return stamp + b"." * max(0, self.size - len(stamp))

    def received_message(self, data: bytes) -> bool:
        """Count a data message; True when it is an echo of ours (its round trip counted)."""
        self.received += 1
        if not data.startswith(PAYLOAD_PREFIX):
            return False
        try:
            sent = int(data[len(PAYLOAD_PREFIX):].split(b" ", 1)[0])
        except ValueError:
            return False
        self.echoes += 1
        self.round_trip.add(max(0.0, self.now() - sent / 1e9))
        return True

    async def run(self, held: Callable[[], Sequence[Held]], tick: float) -> None:
        """Every ``tick``, send what the rate allows to the next connections in turn (a
        connection whose send buffer is full is skipped); forever (until cancelled)."""
        if self.rate <= 0:
            return
        budget, turn = 0.0, 0
        order: Sequence[Held] = []
        last = self.now()
        while True:
            await asyncio.sleep(tick)
            now = self.now()
            current = held()
            budget += self.rate * len(current) * (now - last)
            last = now
            while budget >= 1 and current:
                if turn >= len(order):
                    order, turn = current, 0
                connection = order[turn]
                turn += 1
                budget -= 1
                if connection.send(self.payload()):
                    self.sent += 1
