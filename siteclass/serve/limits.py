"""Request limits as one pure-ASGI middleware, and the Prometheus metrics of the server.

- body size: the body is counted while it streams in (chunked bodies have no Content-Length); past the limit
  the request is answered 413 before the app sees it. A declared Content-Length over the limit is refused early;
- concurrency: more than ``max_concurrency`` prediction requests in flight → 503 with ``Retry-After``;
- deadline: a request (body upload included) running past ``deadline_s`` → 504.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Scope = dict[str, Any]
Message = dict[str, Any]

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
        self.batch_size = Histogram("siteclass_batch_records", "records per model call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=r)
        self.queue_seconds = Histogram("siteclass_predict_wait_seconds", "time from submit to result",
                                       buckets=_LATENCY_BUCKETS, registry=r)
        self.inflight = Gauge("siteclass_inflight_requests", "prediction requests in flight", registry=r)
        self.rejected = Counter("siteclass_rejected", "requests refused by a limit", ["reason"], registry=r)
        self.cache = Counter("siteclass_cache", "live-predict cache lookups", ["result"], registry=r)
        self.model_loaded = Gauge("siteclass_model_loaded", "1 once the model is loaded", registry=r)

    def observe_batch(self, n: int, seconds: float) -> None:
        self.batch_size.observe(n)
        self.inference.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _TooLarge(Exception):
    pass


def _json(status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> list[Message]:
    data = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])]
    return [
        {"type": "http.response.start", "status": status, "headers": head},
        {"type": "http.response.body", "body": data},
    ]


class LimitsMiddleware:
    def __init__(self, app: Any, metrics: ServeMetrics, settings: Any) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = int(settings.max_body_bytes)
        self.deadline_s = float(settings.deadline_s)
        self.max_concurrency = int(settings.max_concurrency)
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        endpoint = path if path in _ENDPOINTS else "other"
        status = {"code": 0, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = int(message["status"]), True
            await send(message)

        async def reply(messages: list[Message]) -> None:
            for m in messages:
                await send_wrapper(m)

        started = time.perf_counter()
        limited = path.startswith("/v1/predict")
        if limited and self.inflight >= self.max_concurrency:
            self.metrics.rejected.labels("concurrency").inc()
            await reply(_json(503, {"error": "overloaded",
                                    "detail": f"more than {self.max_concurrency} requests in flight; retry"},
                              [(b"retry-after", b"1")]))
            self._record(endpoint, status["code"], started)
            return
        if limited:
            self.inflight += 1
            self.metrics.inflight.set(self.inflight)
        try:
            async with asyncio.timeout(self.deadline_s):
                try:
                    body = await self._read_body(scope, receive)
                except _TooLarge:
                    self.metrics.rejected.labels("body_size").inc()
                    await reply(_json(413, {"error": "payload_too_large",
                                            "detail": f"request body is larger than {self.max_body} bytes"},
                                      [(b"connection", b"close")]))
                    return
                await self.app(scope, _replay(body, receive), send_wrapper)
        except TimeoutError:
            self.metrics.rejected.labels("deadline").inc()
            if not status["started"]:
                await reply(_json(504, {"error": "deadline_exceeded",
                                        "detail": f"the request took longer than {self.deadline_s:g} s"}))
        finally:
            if limited:
                self.inflight -= 1
                self.metrics.inflight.set(self.inflight)
            self._record(endpoint, status["code"], started)

    def _record(self, endpoint: str, code: int, started: float) -> None:
        self.metrics.requests.labels(endpoint, str(code)).inc()
        self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)

    async def _read_body(self, scope: Scope, receive: Any) -> bytes:
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_body:
                    raise _TooLarge
        chunks: list[bytes] = []
        total = 0
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
        return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
