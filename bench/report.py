"""How the benchmarks print: medians, percentiles and ratios, each figure beside the target it is judged by."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO


@dataclass(frozen=True, slots=True)
class Target:
    """A bound a figure is judged by: at least (or at most) `bound`, and optionally a better value to aim for.

    >>> Target(10, at_least=True, aim=20).describe("x")
    '≥ 10x (aim 20x)'
    >>> Target(20, at_least=False).met(25.0)
    False
    """

    bound: float
    at_least: bool
    aim: float | None = None

    def met(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound

    def describe(self, unit: str) -> str:
        gap = "" if unit == "x" else " "
        text = f"{'≥' if self.at_least else '≤'} {self.bound:g}{gap}{unit}"
        if self.aim is not None:
            text += f" (aim {self.aim:g}{gap}{unit})"
        return text


def machine_description() -> str:
    """Return one line naming the CPU, its cores, the memory and the Python that ran the benchmark."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text(encoding="utf-8").splitlines()[0]
        memory = f", {int(first.split()[1]) / 1024 / 1024:.0f} GiB memory"
    # The cores this process may run on, which a container or taskset can make fewer than the machine has.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return f"{cpu}, {cores} cores{memory}; Python {platform.python_version()} on {platform.system()}"


@dataclass
class Report:
    """Writes a benchmark's figures as aligned lines, and counts the targets met and missed.

    >>> import io
    >>> report = Report(io.StringIO())
    >>> report.figure("ratio", 12.34, "x", Target(10, at_least=True, aim=20), digits=1)
    True
    >>> report.stream.getvalue().split()[:4]
    ['ratio', '12.3', 'x', 'target']
    """

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    met: int = 0
    missed: int = 0

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def heading(self, text: str) -> None:
        self.line()
        self.line(f"== {text}")

    def header(self, title: str, command: Sequence[str]) -> None:
        """Name the benchmark, the command that ran it, the date and the machine."""
        self.line(f"# {title}")
        self.line(f"command: {' '.join(command)}")
        self.line(f"date:    {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        self.line(f"machine: {machine_description()}")
        if hasattr(os, "getloadavg"):
            # The machine is shared: a high load at the start explains slow figures better than the code does.
            self.line(f"load:    {os.getloadavg()[0]:.2f} (1-minute load average at the start)")

    def figure(self, name: str, value: float, unit: str, target: Target | None = None, digits: int = 2) -> bool | None:
        """Print one figure, with its target and whether it is met; return that (None without a target)."""
        text = f"  {name:<50} {value:>14,.{digits}f} {unit:<7}"
        if target is None:
            self.line(text.rstrip())
            return None
        met = target.met(value)
        if met:
            self.met += 1
        else:
            self.missed += 1
        self.line(f"{text} target {target.describe(unit)}: {'met' if met else 'NOT MET'}")
        return met

    def not_measured(self, name: str, reason: str) -> None:
        """Print that a figure with a target could not be measured, and count its target as not met."""
        self.missed += 1
        self.line(f"  {name}: not measured: {reason}")

    def summary(self) -> None:
        if self.met or self.missed:
            self.line()
            self.line(f"targets: {self.met} met, {self.missed} not met")
