"""Measurement helpers shared by the benchmark sections: interleaved comparisons,
statistics, process CPU from ``/proc``, and result tables."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: ``(wall seconds, client CPU seconds, server CPU seconds)`` of one timed batch.
Batch = tuple[float, float, float]


def _server_cpu(pid: int | None) -> float:
    return tree_cpu(pid) if pid else 0.0


def run_batch(fn: Callable[[], object], ops: int, server_pid: int | None = None) -> Batch:
    """Call ``fn`` ``ops`` times; the batch's wall time, our CPU and the server's CPU."""
    server0 = _server_cpu(server_pid)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(ops):
        fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return wall, cpu, _server_cpu(server_pid) - server0


async def run_batch_async(fn: Callable[[], Any], ops: int, server_pid: int | None = None) -> Batch:
    """Await ``fn()`` ``ops`` times, one after another; as :func:`run_batch`."""
    server0 = _server_cpu(server_pid)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(ops):
        await fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return wall, cpu, _server_cpu(server_pid) - server0


@dataclass
class Rounds:
    """Variants measured in interleaved rounds; per-operation figures and paired ratios."""

    ops: int
    batches: dict[str, list[Batch]]

    def wall_us(self, variant: str) -> float:
        """Median wall time per operation."""
        return statistics.median(b[0] for b in self.batches[variant]) / self.ops * 1e6

    def cpu_us(self, variant: str) -> float:
        """Median client CPU per operation."""
        return statistics.median(b[1] for b in self.batches[variant]) / self.ops * 1e6

    def server_us(self, variant: str) -> float:
        """Server CPU per operation over all rounds (``/proc`` ticks are 10 ms: summed)."""
        batches = self.batches[variant]
        return sum(b[2] for b in batches) / (self.ops * len(batches)) * 1e6

    def cpu_delta_us(self, variant: str, baseline: str) -> float:
        """Median over rounds of the client CPU per operation variant − baseline (paired)."""
        pairs = zip(self.batches[variant], self.batches[baseline], strict=True)
        return statistics.median(v[1] - b[1] for v, b in pairs) / self.ops * 1e6

    def ratio(self, variant: str, baseline: str) -> float:
        """Median over rounds of variant time / baseline time (paired, so drift cancels)."""
        pairs = zip(self.batches[variant], self.batches[baseline], strict=True)
        return statistics.median(v[0] / b[0] for v, b in pairs)


def interleave(variants: dict[str, Callable[[], Batch]], *, ops: int, rounds: int) -> Rounds:
    """Run every variant's batch once per round, after one warm-up round.

    The order rotates each round, so every variant runs in every position and a
    machine that slows down or speeds up weighs on all of them alike.
    """
    names = list(variants)
    for name in names:
        variants[name]()
    result = Rounds(ops, {name: [] for name in names})
    for i in range(rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            result.batches[name].append(variants[name]())
    return result


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation; NaN if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# -- process CPU -----------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _own_cpu(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its live descendants."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += _own_cpu(current)
        todo.extend(_children(current))
    return total


# -- tables ------------------------------------------------------------------------------


@dataclass
class Table:
    """A titled table, printed as aligned text and written as Markdown."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""

    def add(self, *cells: object) -> None:
        self.rows.append([fmt(c) for c in cells])

    def text(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
        lines = [self.title, ""]
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        for row in self.rows:
            lines.append(
                "  ".join(
                    c.rjust(w) if _numeric(c) else c.ljust(w)
                    for c, w in zip(row, widths, strict=True)
                )
            )
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        align = [
            "---:" if self.rows and _numeric(self.rows[0][i]) else "---"
            for i in range(len(self.columns))
        ]
        lines.append("| " + " | ".join(align) + " |")
        lines.extend("| " + " | ".join(row) + " |" for row in self.rows)
        if self.note:
            lines += ["", self.note]
        return "\n".join(lines)


def _numeric(cell: str) -> bool:
    stripped = cell.rstrip("×%").replace(",", "").replace(".", "", 1).lstrip("-")
    return stripped.isdigit()


def fmt(value: object) -> str:
    """A cell: floats with sensible precision, everything else as text."""
    if isinstance(value, float):
        if value != value:  # NaN
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


@dataclass
class Target:
    """One of the issue's targets and whether this run met it."""

    name: str
    measured: str
    goal: str
    met: bool


@dataclass
class Section:
    """What a benchmark section produced."""

    name: str
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def markdown_report(sections: Iterable[Section]) -> str:
    """Every table and target of a run, as Markdown."""
    parts: list[str] = []
    targets: list[Target] = []
    for section in sections:
        parts.append(f"## {section.name}")
        parts.extend(table.markdown() for table in section.tables)
        parts.extend(section.notes)
        targets.extend(section.targets)
    if targets:
        summary = Table("Targets", ["target", "measured", "goal", "met"])
        for t in targets:
            summary.add(t.name, t.measured, t.goal, "yes" if t.met else "**no**")
        parts.insert(0, summary.markdown())
    return "\n\n".join(parts) + "\n"
