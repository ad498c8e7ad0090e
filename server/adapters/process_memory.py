"""process_tree_memory(pid): a process's resident memory with its children's, read from /proc (Linux)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcessMemory:
    """Resident memory now (VmRSS) and at its peak so far (VmHWM), in bytes, summed over processes.

    The summed peak is an upper bound: the processes need not have peaked at the same moment. Pages that
    processes share (the libraries the verification workers load, as the server does) count once per process.
    """

    resident: int
    peak: int


def process_tree_memory(pid: int) -> ProcessMemory:
    """Return the memory of `pid` and its child processes; zeros where /proc does not say (not Linux).

    The server's children are its verification workers, which hold caches of analysed texts, and
    multiprocessing's resource tracker: all of them are memory the server costs.
    """
    resident = peak = 0
    for process in [pid, *_children_of(pid)]:
        try:
            status = (_PROC / str(process) / "status").read_text(encoding="utf-8")
        except OSError:
            continue  # a worker that has just exited, or no /proc at all
        values: dict[str, int] = {}
        for line in status.splitlines():
            name, _, rest = line.partition(":")
            if name in {"VmRSS", "VmHWM"}:
                number, unit = rest.split()
                values[name] = int(number) * (1024 if unit == "kB" else 1)
        resident += values.get("VmRSS", 0)
        peak += values.get("VmHWM", 0)
    return ProcessMemory(resident=resident, peak=peak)


def _children_of(pid: int) -> list[int]:
    if not _PROC.is_dir():
        return []
    children = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="utf-8")
        except OSError:
            continue
        # The command name may hold spaces and parentheses; the fields after its closing parenthesis do not.
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            children.append(int(entry.name))
    return children
