"""A small single-threaded event loop: readable sockets and timers.

One thread owns all state, so requests, reaping and restarts never race.

.. code:: python

    loop = EventLoop()
    cancel = loop.call_later(1.5, restart)
    loop.watch(listener, accept)
    loop.run(until=lambda: done, every=0.5, tick=sync)
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import time
from collections.abc import Callable


class EventLoop:
    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._timers: list[list] = []  # heap of [when, sequence, callback or None when cancelled]
        self._sequence = itertools.count()

    def now(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        entry = [self.now() + delay, next(self._sequence), callback]
        heapq.heappush(self._timers, entry)

        def cancel() -> None:
            entry[2] = None

        return cancel

    def watch(self, source, on_readable: Callable[[], None]) -> None:
        self._selector.register(source, selectors.EVENT_READ, on_readable)

    def unwatch(self, source) -> None:
        self._selector.unregister(source)

    def run(self, until: Callable[[], bool], every: float, tick: Callable[[], None]) -> None:
        """Serve events and timers, call `tick` at least every `every` seconds, stop once `until()`."""
        next_tick = self.now()
        while not until():
            if self.now() >= next_tick:
                tick()
                next_tick = self.now() + every
            deadline = min([next_tick] + [entry[0] for entry in self._timers[:1]])
            for key, _ in self._selector.select(max(0.0, deadline - self.now())):
                key.data()
            while self._timers and self._timers[0][0] <= self.now():
                _, _, callback = heapq.heappop(self._timers)
                if callback is not None:
                    callback()
