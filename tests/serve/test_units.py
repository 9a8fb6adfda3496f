"""Unit tests of the TTL cache and the micro-batcher."""

from __future__ import annotations

import asyncio

from siteclass.serve.batching import MicroBatcher
from siteclass.serve.cache import TTLCache


def test_cache_expires_and_evicts_least_recently_used() -> None:
    now = [0.0]
    cache: TTLCache[str] = TTLCache(maxsize=2, ttl_s=10, clock=lambda: now[0])
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C")  # evicts b
    assert cache.get("b") is None and cache.get("a") == "A" and cache.get("c") == "C"
    now[0] = 10.5
    assert cache.get("a") is None and len(cache) == 1
    assert TTLCache(maxsize=0, ttl_s=10).put("x", 1) is None and len(TTLCache(0, 10)) == 0


def test_batcher_groups_concurrent_jobs_and_skips_abandoned_ones() -> None:
    calls: list[list[int]] = []

    def predict(records):
        calls.append([r["i"] for r in records])
        return [[(str(r["i"]), 1.0)] for r in records]

    async def go() -> None:
        batcher = MicroBatcher(predict, max_batch=8, max_wait_ms=20)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit([{"i": i}]) for i in range(5)))
        assert [r[0][0][0] for r in results] == ["0", "1", "2", "3", "4"]
        assert len(calls) == 1 and sorted(calls[0]) == [0, 1, 2, 3, 4]
        # a caller that gives up before its batch runs is not computed
        task = asyncio.ensure_future(batcher.submit([{"i": 99}]))
        await asyncio.sleep(0)
        task.cancel()
        assert await batcher.submit([{"i": 7}, {"i": 8}]) == [[("7", 1.0)], [("8", 1.0)]]
        assert all(99 not in c for c in calls)
        await batcher.stop()

    asyncio.run(go())


def test_a_model_error_reaches_every_caller_of_the_batch() -> None:
    def broken(records):
        raise ValueError("model exploded")

    async def go() -> None:
        batcher = MicroBatcher(broken, max_batch=8, max_wait_ms=5)
        results = await asyncio.gather(batcher.submit([{"i": 1}]), batcher.submit([{"i": 2}]), return_exceptions=True)
        assert all(isinstance(r, ValueError) for r in results)
        await batcher.stop()

    asyncio.run(go())


def test_batcher_never_exceeds_max_batch_but_runs_an_oversized_job_whole() -> None:
    calls: list[int] = []

    def predict(records):
        calls.append(len(records))
        return [[("x", 1.0)] for _ in records]

    async def go() -> None:
        batcher = MicroBatcher(predict, max_batch=4, inline=True)
        results = await asyncio.gather(*(batcher.submit([{"i": i}, {"i": -i}]) for i in range(3)),
                                       batcher.submit([{"i": 9}] * 6))
        assert [len(r) for r in results] == [2, 2, 2, 6]
        assert sorted(calls) == [2, 4, 6]  # two jobs of 2 fill a batch of 4; the job of 6 runs alone
        await batcher.stop()

    asyncio.run(go())


def test_transport_sends_a_response_head_with_its_body() -> None:
    from siteclass.serve.protocol import HeadWithBodyTransport

    class Recording:
        def __init__(self) -> None:
            self.writes: list[bytes] = []
            self.closed = False

        def write(self, data: bytes) -> None:
            self.writes.append(bytes(data))

        def is_closing(self) -> bool:
            return self.closed

        def close(self) -> None:
            self.closed = True

        def get_extra_info(self, name: str) -> str:
            return name

    async def go() -> None:
        raw = Recording()
        t = HeadWithBodyTransport(raw, asyncio.get_running_loop())
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
        t.write(b"{}")
        assert raw.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]  # one write, one packet
        t.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")  # a stream: no body in this turn
        assert len(raw.writes) == 1
        await asyncio.sleep(0)
        assert raw.writes[-1].startswith(b"HTTP/1.1 200") and len(raw.writes) == 2
        t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        t.close()  # a held head is sent before the connection closes
        assert raw.writes[-1] == b"HTTP/1.1 100 Continue\r\n\r\n" and raw.closed
        assert t.get_extra_info("peername") == "peername"

    asyncio.run(go())
