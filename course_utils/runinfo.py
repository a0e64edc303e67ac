"""What a notebook ran on and what the run cost: machine, data, time and peak memory.

Every lecture notebook ends with :func:`run_report`. The copies of the lectures in the course carry the
outputs of one full run on real data (``make outputs``); this last cell says where and how long that run
took, and the README's table of lecture run times is made from it. Run the notebook yourself and the
cell reports your run instead.

Example:
    >>> r = run_report()
    >>> r.seconds >= 0 and r.cores >= 1
    True
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date

import torch

from .modes import RECORDING_ENV, quick_mode, recording

__all__ = ["RunReport", "run_report", "note_data", "recording", "RECORDING_ENV", "REPORT_MIME"]

# The machine-readable copy of a report in a notebook's output, next to its text.
REPORT_MIME = "application/vnd.course.run-report+json"

_IMPORTED = time.time()  # the first import of course_utils: the top of the notebook
_DATA: dict[str, str] = {}  # "cifar10 train" -> "real (image folder)" or "synthetic stand-in"


def note_data(name: str, split: str, source: str) -> None:
    """Remember which data a notebook used (``load_dataset`` calls this), for :func:`run_report`."""
    _DATA[f"{name} {split}"] = "synthetic stand-in" if source == "synthetic" else f"real ({source})"


def _started() -> float:
    """When this process (the notebook's kernel) started: psutil knows, where installed (Jupyter has it);
    else when course_utils was first imported."""
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # no psutil, or the OS does not say
        return _IMPORTED


def _peak_memory_mib() -> float | None:
    """Peak resident memory of this process in MiB (None where the OS does not tell)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class RunReport:
    """One run of a notebook: where, on what data, how long (seconds since the kernel started)."""

    seconds: float
    peak_memory_mib: float | None
    cpu: str
    cores: int
    gpu: str | None
    torch: str
    python: str
    quick_mode: bool
    recorded: bool
    day: str
    data: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        minutes, seconds = divmod(round(self.seconds), 60)
        memory = "unknown" if self.peak_memory_mib is None else f"{self.peak_memory_mib / 1024:.1f} GiB"
        device = f"GPU {self.gpu}" if self.gpu else f"CPU only, {self.cores} core(s) ({self.cpu})"
        lines = [
            f"{'recorded run' if self.recorded else 'this run'} on {self.day}: {minutes} min {seconds:02d} s, "
            f"peak memory {memory}",
            f"machine: {device}; torch {self.torch}, Python {self.python}"
            + ("; QUICK MODE (small budgets, stand-in data)" if self.quick_mode else ""),
        ]
        lines += [f"data: {name}: {source}" for name, source in sorted(self.data.items())] or ["data: none loaded"]
        return "\n".join(lines)

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": self.text(), REPORT_MIME: asdict(self)}

    def __repr__(self) -> str:
        return self.text()


def run_report() -> RunReport:
    """Machine, data used, time since the kernel started, and peak memory of this process.

    Example:
        >>> "peak memory" in run_report().text()
        True
    """
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return RunReport(
        seconds=round(time.time() - _started(), 1),
        peak_memory_mib=None if (m := _peak_memory_mib()) is None else round(m, 1),
        cpu=_cpu_name(),
        cores=_cores(),
        gpu=gpu,
        torch=torch.__version__,
        python=platform.python_version(),
        quick_mode=quick_mode(),
        recorded=recording(),
        day=date.today().isoformat(),
        data=dict(_DATA),
    )
