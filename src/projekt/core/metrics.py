"""A few process-local counters, served at /metrics in the Prometheus text format."""

from __future__ import annotations

import collections
from collections.abc import Callable


class Metrics:
    def __init__(self) -> None:
        self.counters: collections.Counter[tuple[str, str]] = collections.Counter()
        self.gauges: dict[str, Callable[[], float]] = {}

    def inc(self, name: str, label: str = "") -> None:
        self.counters[(name, label)] += 1

    def render(self) -> str:
        lines = []
        for (name, label), value in sorted(self.counters.items()):
            labels = f"{{{label}}}" if label else ""
            lines.append(f"projekt_{name}{labels} {value}")
        for name, read in sorted(self.gauges.items()):
            lines.append(f"projekt_{name} {read()}")
        return "\n".join(lines) + "\n"
