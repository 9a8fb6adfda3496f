"""The server's front door: request limits, metrics and the fast path, as one pure-ASGI layer.

It wraps the whole FastAPI stack (outside Starlette's own middleware), so every request pays for it once:

- body size: the body is counted while it streams in (chunked bodies have no Content-Length); past the limit
  the request is answered 413 before the app sees it. A declared Content-Length over the limit is refused early;
- concurrency: more than ``max_concurrency`` prediction requests in flight → 503 with ``Retry-After``;
- deadline: a request (body upload included) running past ``deadline_s`` → 504;
- fast path: ``POST`` endpoints registered in *fast* get the body bytes straight away (no Starlette middleware,
  routing, dependency solving or response validation). A handler returns ``(status, JSON bytes)``, or ``None``
  to hand the request on to FastAPI (the body is replayed) — invalid bodies go that way, so their 422 is
  FastAPI's own, exactly as documented in /openapi.json.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Scope = MutableMapping[str, Any]
Message = dict[str, Any]
FastHandler = Callable[[bytes], Awaitable[tuple[int, bytes] | None]]

_ENDPOINTS = ("/v1/predict", "/v1/predict/pages", "/v1/predict/batch", "/v1/model", "/healthz", "/readyz", "/metrics")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServeMetrics:
    """Metrics in a registry of their own (several apps can live in one process, e.g. in tests)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("siteclass_requests", "HTTP requests", ["endpoint", "code"], registry=r)
        self.latency = Histogram("siteclass_request_seconds", "request latency", ["endpoint"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.inference = Histogram("siteclass_inference_seconds", "time of one (micro-batched) model call",
                                   buckets=_LATENCY_BUCKETS, registry=r)
        self.inference_cpu = Counter(
            "siteclass_inference_cpu_seconds",
            "CPU time of the model calls: the calling thread's (inference thread or inline), or the whole model "
            "process's (inference process, where its threads count too)", registry=r)
        self.batch_size = Histogram("siteclass_batch_records", "records per model call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        self.queue_seconds = Histogram("siteclass_predict_wait_seconds", "time from submit to result",
                                       buckets=_LATENCY_BUCKETS, registry=r)
        self.inflight = Gauge("siteclass_inflight_requests", "prediction requests in flight", registry=r)
        self.inflight_now = 0  # read by the gauge at scrape time (no lock taken per request)
        self.inflight.set_function(lambda: self.inflight_now)
        self.rejected = Counter("siteclass_rejected", "requests refused by a limit", ["reason"], registry=r)
        self.cache = Counter("siteclass_cache", "live-predict cache lookups", ["result"], registry=r)
        self.model_loaded = Gauge("siteclass_model_loaded", "1 once the model is loaded", registry=r)

        self._counted: dict[tuple[str, int], Any] = {}
        self._timed: dict[str, Any] = {}

    def record(self, endpoint: str, code: int, seconds: float) -> None:
        """Count a finished request and its latency (label children looked up once, then kept)."""
        counter = self._counted.get((endpoint, code))
        if counter is None:
            counter = self._counted[(endpoint, code)] = self.requests.labels(endpoint, str(code))
        timer = self._timed.get(endpoint)
        if timer is None:
            timer = self._timed[endpoint] = self.latency.labels(endpoint)
        counter.inc()
        timer.observe(seconds)

    def observe_batch(self, n: int, seconds: float, cpu_seconds: float) -> None:
        self.batch_size.observe(n)
        self.inference.observe(seconds)
        self.inference_cpu.inc(cpu_seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _TooLarge(Exception):
    pass


_JSON_TYPE = (b"content-type", b"application/json")


async def _reply(send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> int:
    data = json.dumps(body).encode()
    head = [_JSON_TYPE, (b"content-length", b"%d" % len(data)), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": data})
    return status


def _is_json(content_type: bytes | None) -> bool:
    """FastAPI (strict content type) parses a body as JSON with application/json or application/*+json only."""
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


class LimitsMiddleware:
    def __init__(self, app: Any, metrics: ServeMetrics, settings: Any, fast: dict[str, FastHandler] | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = int(settings.max_body_bytes)
        self.deadline_s = float(settings.deadline_s)
        self.max_concurrency = int(settings.max_concurrency)
        self.fast = dict(fast or {})
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        started = time.perf_counter()
        code = 0  # the status sent, 0 until a response started
        limited = path.startswith("/v1/predict")
        if limited and self.inflight >= self.max_concurrency:
            self.metrics.rejected.labels("concurrency").inc()
            code = await _reply(send, 503, {"error": "overloaded", "detail": f"more than {self.max_concurrency} "
                                            "requests in flight; retry"}, [(b"retry-after", b"1")])
            self.metrics.record(path if path in _ENDPOINTS else "other", code, time.perf_counter() - started)
            return
        if limited:
            self.inflight += 1
            self.metrics.inflight_now = self.inflight
        sent = [0]
        try:
            async with asyncio.timeout(self.deadline_s):
                try:
                    body, content_type = await self._read_body(scope, receive)
                except _TooLarge:
                    self.metrics.rejected.labels("body_size").inc()
                    code = await _reply(send, 413, {"error": "payload_too_large", "detail": "request body is "
                                                    f"larger than {self.max_body} bytes"}, [(b"connection", b"close")])
                    return
                handler = self.fast.get(path) if scope["method"] == "POST" and _is_json(content_type) else None
                answer = await handler(body) if handler is not None else None
                if answer is not None:
                    code, data = answer
                    await send({"type": "http.response.start", "status": code,
                                "headers": [_JSON_TYPE, (b"content-length", b"%d" % len(data))]})
                    await send({"type": "http.response.body", "body": data})
                else:
                    async def send_and_see(message: Message) -> None:
                        if message["type"] == "http.response.start":
                            sent[0] = int(message["status"])
                        await send(message)

                    await self.app(scope, _replay(body, receive), send_and_see)
                    code = sent[0]
        except TimeoutError:
            self.metrics.rejected.labels("deadline").inc()
            code = code or sent[0]
            if not code:
                code = await _reply(send, 504, {"error": "deadline_exceeded",
                                                "detail": f"the request took longer than {self.deadline_s:g} s"})
        finally:
            if limited:
                self.inflight -= 1
                self.metrics.inflight_now = self.inflight
            self.metrics.record(path if path in _ENDPOINTS else "other", code or sent[0],
                                time.perf_counter() - started)

    async def _read_body(self, scope: Scope, receive: Any) -> tuple[bytes, bytes | None]:
        content_type = None
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_body:
                    raise _TooLarge
            elif key == b"content-type":
                content_type = value
        message = await receive()  # usually the whole body at once
        if message["type"] == "http.disconnect":
            return b"", content_type
        body = message.get("body", b"")
        if len(body) > self.max_body:
            raise _TooLarge
        if not message.get("more_body", False):
            return body, content_type
        chunks = [body]
        total = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), content_type


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
