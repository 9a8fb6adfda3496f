"""The Scrapyd scheduler's poll clock, job durations and the job process's imports, without a Scrapyd process."""

from __future__ import annotations

import pytest

from siteclass.crawling.scrapyd.api import _duration
from siteclass.crawling.scrapyd.poll import MARGIN_S, PollClock


def test_poll_clock_backs_off_until_a_job_has_ended() -> None:
    clock = PollClock(poll_s=15, min_poll_s=1)
    assert clock.wait(0.0, in_flight=False) == 15  # nothing of this crawl queued or running
    clock.observe([], 0.0)
    assert [clock.wait(0.0) for _ in range(6)] == [1, 2, 4, 8, 15, 15]  # queued jobs, no duration known yet


def test_poll_clock_wakes_when_the_next_job_should_end() -> None:
    clock = PollClock(poll_s=15, min_poll_s=1)
    clock.observe(["a"], 10.0)  # first poll: "a" started at 10 (no earlier poll to bound it)
    clock.learn(12.0)
    clock.learn(8.0)
    clock.learn(10.0)
    assert clock.expected_s == 10.0
    assert clock.wait(11.0) == pytest.approx(10.0 + 10.0 + MARGIN_S - 11.0)
    clock.observe(["a", "b"], 14.0)  # "b" started between the polls at 10 and 14: at 12
    assert clock.started["b"] == 12.0
    assert clock.wait(19.0) == pytest.approx(20.0 + MARGIN_S - 19.0)  # "a" ends first
    # "a" is overdue at 21: poll at min_poll_s, then less and less often while it runs on
    assert clock.wait(21.0) == pytest.approx(1.0)
    assert clock.wait(21.5) == pytest.approx(1.0)  # "b" should end in 0.75 s: not sooner than min_poll_s
    assert clock.wait(40.0) == pytest.approx(4.0)  # both overdue
    clock.observe(["b"], 41.0)  # "a" ended: the back-off starts again for "b"
    assert clock.wait(41.0) == pytest.approx(1.0)


def test_poll_clock_never_polls_faster_than_min_poll_s_nor_slower_than_poll_s() -> None:
    clock = PollClock(poll_s=15, min_poll_s=2)
    clock.observe(["a"], 0.0)
    clock.learn(0.1)
    assert clock.wait(0.0) == 2  # the job should end in 0.35 s: still 2 s
    long = PollClock(poll_s=5, min_poll_s=1)
    long.observe(["a"], 0.0)
    long.learn(600.0)
    assert long.wait(0.0) == 5
    assert PollClock(poll_s=0.5, min_poll_s=1).min_poll_s == 0.5


def test_job_duration_from_listjobs_times() -> None:
    job = {"id": "x", "start_time": "2026-01-01 10:00:00.250000", "end_time": "2026-01-01 10:01:30.750000"}
    assert _duration(job) == pytest.approx(90.5)
    assert _duration({"id": "y", "start_time": "2026-01-01 10:00:00"}) is None
    assert _duration({"id": "z", "start_time": "None", "end_time": "2026-01-01 10:00:00"}) is None
