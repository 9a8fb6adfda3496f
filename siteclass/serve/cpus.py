"""CPUs of its own for the model process: ``[serve] model_cpus`` (``siteclass serve --model-cpus N``).

With ``inference = "process"`` the server is two busy processes: the HTTP side and the model, which sets the
pace. ``model_cpus = N`` (Linux) runs the model process on the last *N* CPUs this process may use
(``os.sched_getaffinity``: a container's CPU set is respected) and the HTTP process on the others, so that the
scheduler never puts the HTTP process on the model's CPU. This is what model servers do for an inference worker
on a dedicated host. Other processes on the host are not restricted: the kernel still places them anywhere. The
server's own affinity is put back when it stops, so an app stopped inside a longer-lived process (a test run)
leaves nothing pinned.

It is off by default (0). On the shared 2-vCPU VM where it was measured (fastText, 32 clients on the same
host), pinning changed nothing beyond the noise: 2,285 against 2,284 requests/s over 5 paired runs at 1-14 % CPU
steal, 1,180 against 1,149 over 16 pairs at ~30 %. What limits one model process there is the hypervisor: a
vCPU that went idle takes ~1 ms to wake, and a preempted vCPU stalls both stages of the pipeline
(docs/scaling.md).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection
from dataclasses import dataclass

from siteclass.errors import InputError


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


def plan_cpus(wanted: int, available: list[int]) -> CpuPlan | None:
    """The split for ``[serve] model_cpus = wanted`` (None: no pinning). *available*: :func:`available_cpus`."""
    if wanted <= 0:
        return None
    if not available:
        raise InputError(f"[serve] model_cpus = {wanted}: this platform cannot pin processes to CPUs "
                         "(Linux only); set it to 0")
    if wanted >= len(available):
        raise InputError(f"[serve] model_cpus = {wanted}, but this process may use {len(available)} CPUs "
                         f"({','.join(map(str, available))}) and the HTTP side needs one: set it below "
                         f"{len(available)}, or 0 for no pinning")
    return CpuPlan(model=tuple(available[-wanted:]), http=tuple(available[:-wanted]))


def check_model_cpus(model_cpus: int, inference: str, workers: int) -> None:
    """``model_cpus`` pins one model process: with another inference mode or several workers it is a mistake."""
    if model_cpus and (inference != "process" or workers != 1):
        raise InputError(f"[serve] model_cpus = {model_cpus} pins the model process, which runs with inference "
                         f"'process' and one worker (here: inference '{inference}', {workers} worker(s)); set "
                         "model_cpus to 0, or serve with --inference process and one worker")


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


def thread_affinities(pid: int = 0) -> dict[int, set[int]]:
    """The CPU set of every thread of process *pid* (0: this one); threads that end meanwhile are left out."""
    pid = pid or os.getpid()
    try:
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        threads = [pid]
    sets: dict[int, set[int]] = {}
    for tid in threads:
        with contextlib.suppress(ProcessLookupError):
            sets[tid] = set(os.sched_getaffinity(tid))
    return sets


class PinnedServer:
    """Pins this (the HTTP) process to its CPUs and puts its former affinity back on :meth:`release`: each thread
    that was there gets its own CPU set back (a library may have pinned its pool threads, as ONNX Runtime does);
    threads started meanwhile get the process's."""

    def __init__(self, plan: CpuPlan) -> None:
        self.plan = plan
        self._before: list[int] | None = None
        self._threads: dict[int, set[int]] = {}

    def apply(self) -> None:
        if self._before is None:
            self._before = available_cpus()
            self._threads = thread_affinities()
            pin_process(0, self.plan.http)

    def release(self) -> None:
        if self._before is not None:
            pin_process(0, self._before)
            for tid, cpus in self._threads.items():
                with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
                    os.sched_setaffinity(tid, cpus)
            self._before, self._threads = None, {}
