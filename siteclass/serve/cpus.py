"""CPUs of its own for the model process: ``[serve] model_cpus`` (``siteclass serve --model-cpus``).

With ``inference = "process"`` the server is two busy processes — the HTTP side and the model — and the model is
the one that sets the pace: every moment it waits for a CPU, or a CPU wakes up to run it, is throughput lost.
Left to the scheduler, the HTTP process (or the clients, or anything else on the host) keeps landing on the
model's CPU, and each hand-off between the two goes through an idle CPU waking up, which costs ~1 ms on a
virtual machine. Measured on a 2-CPU VM (fastText, 32 concurrent clients on the same host): the model process
ran 40 % slower per record than alone and sat idle a third of the time, and the server delivered ~50 % of the
raw model's throughput; with the model on one CPU and the HTTP process on the other, ~90 %. Model servers do the
same (an inference worker on reserved cores, the front end elsewhere).

So, on Linux, the model process runs on the last *n* CPUs this process may use (``os.sched_getaffinity``: a
container's CPU set is respected) and the HTTP process on the rest. ``auto`` reserves one CPU for a model whose
inference is single-threaded Python (``fasttext``, ``linear``) when at least two are available, none otherwise
(ONNX Runtime and torch spread a batch over threads: pinning them to one CPU would slow them). Other processes
on the host are not restricted: the kernel still places them anywhere. The server's own affinity is put back
when it stops (an app stopped inside a longer-lived process, such as a test run, leaves nothing pinned).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from siteclass.errors import InputError

ModelCpus = int | Literal["auto"]


def available_cpus() -> list[int]:
    """The CPUs this process may run on (empty where the platform cannot pin: not Linux)."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


@dataclass(frozen=True)
class CpuPlan:
    """Which CPUs the model process and the HTTP process run on."""

    model: tuple[int, ...]
    http: tuple[int, ...]

    def describe(self) -> str:
        return f"model process on CPU {_span(self.model)}, HTTP on CPU {_span(self.http)}"


def _span(cpus: tuple[int, ...]) -> str:
    return ",".join(map(str, cpus))


def plan_cpus(setting: ModelCpus, single_threaded: bool, available: list[int]) -> CpuPlan | None:
    """The split for ``[serve] model_cpus = setting`` (None: no pinning) for a model whose inference is
    *single_threaded* or not. *available*: :func:`available_cpus`."""
    if setting == "auto":
        wanted = 1 if single_threaded and len(available) >= 2 else 0
    else:
        wanted = setting
        if wanted and not available:
            raise InputError(f"[serve] model_cpus = {wanted}: this platform cannot pin processes to CPUs "
                             "(Linux only); set it to 0 or 'auto'")
        if wanted >= len(available) > 0:
            raise InputError(f"[serve] model_cpus = {wanted}, but this process may use {len(available)} CPUs "
                             f"({_span(tuple(available))}) and the HTTP side needs one: set it below "
                             f"{len(available)}, or 0 for no pinning")
    if wanted <= 0:
        return None
    return CpuPlan(model=tuple(available[-wanted:]), http=tuple(available[:-wanted]))


def pin_process(pid: int, cpus: Collection[int]) -> None:
    """Every thread of process *pid* (0: this one) on *cpus*; threads started later inherit it from theirs."""
    pid = pid or os.getpid()
    try:
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:  # no /proc: the process itself (its main thread) at least
        threads = [pid]
    for tid in threads:
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(tid, set(cpus))


class PinnedServer:
    """Pins this (the HTTP) process to its CPUs and puts its former affinity back on :meth:`release`."""

    def __init__(self, plan: CpuPlan) -> None:
        self.plan = plan
        self._before: list[int] | None = None

    def apply(self) -> None:
        if self._before is None:
            self._before = available_cpus()
            pin_process(0, self.plan.http)

    def release(self) -> None:
        if self._before is not None:
            pin_process(0, self._before)
            self._before = None
