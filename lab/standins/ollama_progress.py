"""The ``ollama`` CLI's progress display (Ollama's progress/progress.go, bar.go, spinner.go), byte for byte.

Everything goes to stderr, with no carriage returns: every 100 ms a frame
redraws the last lines with ANSI codes (``ESC[?2026h ESC[?25l``, ``ESC[A`` per
line back, ``ESC[1G``, each line and ``ESC[K``, ``ESC[?25h ESC[?2026l``), also
into a pipe, as Ollama does; ``stop`` draws a last frame and a newline,
``stop_and_clear`` erases the lines. The width is stderr's terminal's, else 80.

- A spinner: ``"<message> ⠋ "`` while it runs, ``"<message> "`` once stopped.
- A bar: ``"pulling dde5aa3fc5ff:  13% ▕███     ▏ 601 MB/4.7 GB   38 MB/s   1m44s"``;
  done: ``"pulling dde5aa3fc5ff: 100% ▕██████████████████▏ 2.0 GB"`` and 25
  spaces at 80 columns.

.. code:: python

    progress = Progress(sys.stderr.buffer)
    progress.add(Spinner("pulling manifest"))
    bar = Bar("pulling dde5aa3fc5ff:", total=2019377376, initial=0)
    progress.add(bar)
    bar.set(1009688688)
    progress.stop()
"""

from __future__ import annotations

import os
import threading
import time
from typing import BinaryIO, Protocol

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
TICK_S = 0.1


def human_bytes(size: int) -> str:
    """format.HumanBytes: decimal units, one decimal below 10 unless whole.

    >>> human_bytes(2019393189), human_bytes(19851349898), human_bytes(96)
    ('2.0 GB', '19 GB', '96 B')
    """
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            value = size / scale
            return f"{int(value)} {unit}" if value >= 10 or value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"


def _terminal_size() -> os.terminal_size:
    try:
        return os.get_terminal_size(2)
    except OSError:
        return os.terminal_size((80, 24))


def _duration(seconds: int) -> str:
    """formatDuration: Go's Duration.String below an hour, then ``1h2m``, then ``99h+``."""
    if seconds >= 100 * 3600:
        return "99h+"
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds // 60 % 60}m"
    return f"{seconds // 60}m{seconds % 60}s" if seconds >= 60 else f"{seconds}s"


def _pad6(text: str) -> str:
    return text.rjust(6)


class State(Protocol):
    def string(self) -> str: ...


class Spinner:
    def __init__(self, message: str) -> None:
        self.message = message
        self.started = time.monotonic()
        self.stopped = False

    def string(self) -> str:
        said = f"{self.message.strip()} " if self.message else ""
        if self.stopped:
            return said
        return said + FRAMES[int((time.monotonic() - self.started) / TICK_S) % len(FRAMES)] + " "

    def stop(self) -> None:
        self.stopped = True


class Bar:
    def __init__(self, message: str, total: int, initial: int) -> None:
        self.message, self.total, self.initial, self.current = message, total, initial, initial
        self.started = time.monotonic()
        self.stopped: float | None = self.started if initial >= total else None
        self.buckets: list[tuple[float, int]] = []  # (when, value), one a second at most, the last 10
        self.lock = threading.Lock()

    def set(self, value: int) -> None:
        with self.lock:
            self.current = min(value, self.total)
            now = time.monotonic()
            if self.current >= self.total:
                self.stopped = now
            if not self.buckets or now - self.buckets[-1][0] > 1:
                self.buckets = [*self.buckets, (now, self.current)][-10:]

    def _rate(self) -> float:
        if self.stopped is not None:
            numerator, denominator = self.current - self.initial, round(self.stopped - self.started)
        elif len(self.buckets) == 1:
            numerator, denominator = self.buckets[0][1] - self.initial, round(self.buckets[0][0] - self.started)
        elif self.buckets:
            (first_at, first), (last_at, last) = self.buckets[0], self.buckets[-1]
            numerator, denominator = last - first, round(last_at - first_at)
        else:
            return 0
        return numerator / denominator if denominator else 0

    def string(self) -> str:
        with self.lock:
            percent = self.current / self.total * 100 if self.total > 0 else 0
            pre = (f"{self.message.strip()} " if self.message else "") + f"{percent:3.0f}%"
            running = self.stopped is None
            if running:
                suffix = _pad6(human_bytes(self.current)) + "/" + _pad6(human_bytes(self.total))
            else:
                suffix = _pad6(human_bytes(self.total)) + " " * 7
            rate = self._rate()
            if running and rate > 0:
                left = int((self.total - self.current) / rate)
                suffix += "  " + _pad6(human_bytes(int(rate))) + "/s" + "  " + _pad6(_duration(left))
            else:
                suffix += " " * 18
        room = _terminal_size().columns - len(pre) - len(suffix) - 5
        filled = int(room * percent / 100)
        return pre + " ▕" + "█" * max(0, filled) + " " * max(0, room - filled) + "▏ " + suffix


class Progress:
    """The lines of states, redrawn every 100 ms by a thread of its own until stopped."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.states: list[State] = []
        self.drawn = 0  # lines in the last frame
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.ticker = threading.Thread(target=self._tick, daemon=True)
        self.ticker.start()

    def add(self, state: State) -> None:
        with self.lock:
            self.states.append(state)

    def _tick(self) -> None:
        while not self.done.wait(TICK_S):
            with self.lock:
                self._draw()

    def _draw(self) -> None:
        height = _terminal_size().lines
        shown = self.states[-height:]
        lines = "\n".join(f"{state.string()}\x1b[K" for state in shown)
        frame = "\x1b[?2026h\x1b[?25l" + "\x1b[A" * max(0, self.drawn - 1) + "\x1b[1G" + lines + "\x1b[?25h\x1b[?2026l"
        self._write(frame)
        self.drawn = len(self.states)

    def _write(self, text: str) -> None:
        self.out.write(text.encode())
        self.out.flush()

    def _stop(self) -> tuple[bool, int]:
        """Stop the ticker and the spinners, draw the last frame; whether it was running, and its lines."""
        stopping = not self.done.is_set()
        self.done.set()
        self.ticker.join()
        with self.lock:
            for state in self.states:
                if isinstance(state, Spinner):
                    state.stop()
            if stopping:
                self._draw()
            return stopping, self.drawn

    def stop(self) -> None:
        stopping, _ = self._stop()
        if stopping:
            self._write("\n")

    def stop_and_clear(self) -> None:
        stopping, drawn = self._stop()
        erase = "".join(("\x1b[A" if line else "") + "\x1b[2K\x1b[1G" for line in range(drawn)) if stopping else ""
        self._write("\x1b[?25l" + erase + "\x1b[?25h")
