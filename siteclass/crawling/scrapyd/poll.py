"""When the Scrapyd scheduler polls next: every ``poll_s``, and sooner when a job is expected to finish.

A fixed interval wastes up to ``poll_s`` (15 s by default) each time the scheduler must act on a finished job: to
submit more chunks before a server's queue runs dry, to retry a failed chunk, and above all at the end of the run,
when the merge waits for the last job to be noticed. :class:`PollClock` learns how long this crawl's jobs run (the
``start_time``/``end_time`` Scrapyd reports for finished jobs) and wakes the scheduler when the next running job
should end. While a job runs past that moment — or before any job has ended — it polls at ``min_poll_s``, doubling
up to ``poll_s``.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

MARGIN_S = 0.25  # past the expected end: the job has written its output and Scrapyd has reaped the process


class PollClock:
    """Seconds to sleep before the next poll, from the jobs seen running and the durations of finished ones."""

    def __init__(self, poll_s: float, min_poll_s: float) -> None:
        self.poll_s = poll_s
        self.min_poll_s = min(min_poll_s, poll_s)
        self.started: dict[str, float] = {}  # running job → when it started (estimated from the polls)
        self.durations: list[float] = []
        self._last_poll: float | None = None
        self._backoff = self.min_poll_s

    def observe(self, running: Iterable[str], now: float) -> None:
        """Record the jobs running at *now* (a poll): a new one started between the last poll and this one."""
        running = set(running)
        for job in [j for j in self.started if j not in running]:
            del self.started[job]
            self._backoff = self.min_poll_s  # a job ended: the next overdue one is watched closely again
        start = now if self._last_poll is None else (self._last_poll + now) / 2
        for job in running:
            self.started.setdefault(job, start)
        self._last_poll = now

    def learn(self, seconds: float) -> None:
        """A job of this crawl ran *seconds* (Scrapyd's ``end_time - start_time``)."""
        if seconds >= 0:
            self.durations.append(seconds)

    @property
    def expected_s(self) -> float | None:
        """The typical job duration so far (median), None before any job ended."""
        return statistics.median(self.durations) if self.durations else None

    def wait(self, now: float, in_flight: bool = True) -> float:
        """Seconds until the next poll; *in_flight*: jobs of this crawl are queued or running."""
        if not in_flight:
            return self.poll_s
        expected = self.expected_s
        ends = [start + (expected or 0.0) + MARGIN_S for start in self.started.values()]
        upcoming = [end - now for end in ends if end > now]
        wait = min([self.poll_s, *upcoming])
        if expected is None or not ends or len(upcoming) < len(ends):  # no estimate, only queued jobs, or overdue
            wait = min(wait, self._backoff)
            self._backoff = min(self._backoff * 2, self.poll_s)
        return max(wait, self.min_poll_s)
