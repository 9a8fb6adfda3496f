"""The HTTP API in-process (httpx ASGITransport): endpoints, limits, readiness, metrics, micro-batching."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import serve_models
from serve_helpers import running

from siteclass.config import ServeSettings
from siteclass.serve.app import create_app

PAGES = {
    "name": "Acme Plumbing",
    "url": "https://www.acme-plumbing.com/",
    "pages": [{"url": "https://www.acme-plumbing.com/", "title": "Acme", "text": "we fix pipes and drains"}],
}


def test_predict_pages_batch_and_model_card(keyword_model) -> None:
    async def go() -> None:
        async with running(create_app(keyword_model, ServeSettings(top_k=2))) as c:
            r = await c.post("/v1/predict/pages", json=PAGES)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["domain"] == "acme-plumbing.com"
            assert body["status"] == "ok"
            assert body["label"] == "plumbing"
            probs = [i["probability"] for i in body["industries"]]
            assert len(probs) == 2 and probs == sorted(probs, reverse=True)
            expected = keyword_model.predict_top_k(
                [{"name": "Acme Plumbing", "pages": PAGES["pages"], "domain": "acme-plumbing.com"}], k=2
            )[0]
            assert [i["label"] for i in body["industries"]] == [lab for lab, _ in expected]
            assert body["pages"] == [{"url": "https://www.acme-plumbing.com/", "title": "Acme"}]

            items = [PAGES, {"url": "bread.com", "pages": [{"text": "cakes and bread"}]}, {"url": "x.org", "pages": []}]
            r = await c.post("/v1/predict/batch", json={"items": items})
            assert r.status_code == 200
            got = r.json()["items"]
            assert [g["label"] for g in got] == ["plumbing", "bakery", None]
            assert got[2]["status"] == "empty"

            many = [PAGES, items[1]] * 250  # 500 items: well past the old cap of 64
            r = await c.post("/v1/predict/batch", json={"items": many})
            assert r.status_code == 200, r.text[:300]
            assert [g["label"] for g in r.json()["items"]] == ["plumbing", "bakery"] * 250

            card = (await c.get("/v1/model")).json()
            assert card["labels"] == ["bakery", "law", "plumbing"]
            assert card["model_type"] == "keyword_nb" and card["version"]

    asyncio.run(go())


def test_answers_warn_on_text_that_is_not_english(keyword_model) -> None:
    german = "Wir sind eine Bäckerei in Berlin und backen jeden Tag frisches Brot und Kuchen für unsere Kunden."
    french = "Nous sommes un cabinet d'avocats spécialisé dans le droit des affaires et le droit du travail."

    async def go() -> None:
        async with running(create_app(keyword_model, ServeSettings())) as c:
            r = await c.post("/v1/predict/pages", json=PAGES)
            assert r.status_code == 200 and r.json()["warning"] is None
            items = [{"url": "baeckerei.de", "pages": [{"title": "Bäckerei", "text": german}]},
                     {"url": "avocats.fr", "pages": [{"text": french}]}, PAGES, {"url": "x.org", "pages": []}]
            got = (await c.post("/v1/predict/batch", json={"items": items})).json()["items"]
            assert [g["warning"] for g in got] == ["non_english_text", "non_english_text", None, None]
            assert got[0]["label"] is not None  # a warning, not a refusal

    asyncio.run(go())


def test_min_confidence_gives_unknown_but_keeps_guesses(keyword_model) -> None:
    async def go() -> None:
        async with running(create_app(keyword_model, ServeSettings(min_confidence=0.999))) as c:
            body = (await c.post("/v1/predict/pages", json=PAGES)).json()
            assert body["label"] == "unknown"
            assert body["industries"][0]["label"] == "plumbing"

    asyncio.run(go())


def test_invalid_bodies_are_422_naming_the_field(keyword_model) -> None:
    async def go() -> None:
        async with running(create_app(keyword_model, ServeSettings(max_batch_items=3))) as c:
            cases = [
                ("/v1/predict/pages", {"url": "a.com", "pages": "nope"}, "pages"),
                ("/v1/predict/pages", {"url": "a.com", "pages": [{"text": 5}]}, "pages.0.text"),
                ("/v1/predict/pages", {"url": "a.com"}, "pages"),
                ("/v1/predict", {"name": "x"}, "url"),
                ("/v1/predict", {"url": "not a url at all"}, "url"),
                ("/v1/predict/batch", {"items": [{"url": "a.com", "pages": []}] * 10_001}, "items"),  # the ceiling
                ("/v1/predict/batch", {"items": [PAGES] * 4}, "items"),  # above the configured 3
            ]
            for path, body, field in cases:
                r = await c.post(path, json=body)
                assert r.status_code == 422, (path, body, r.text)
                err = r.json()
                assert err["error"] == "invalid_request"
                assert field in [f["field"] for f in err["fields"]], err
            r = await c.post("/v1/predict/pages", content=b"{not json", headers={"content-type": "application/json"})
            assert r.status_code == 422

    asyncio.run(go())


def test_body_over_limit_is_413_while_streaming_without_content_length(keyword_model) -> None:
    limit = 10_000

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"url": "a.com", "pages": [{"text": "'
        for _ in range(50):
            yield b"x" * 1000
        yield b'"}]}'

    async def go() -> None:
        async with running(create_app(keyword_model, ServeSettings(max_body_bytes=limit))) as c:
            r = await c.post("/v1/predict/pages", content=chunks(), headers={"content-type": "application/json"})
            assert "content-length" not in r.request.headers
            assert r.status_code == 413
            assert r.json()["error"] == "payload_too_large"
            small = json.dumps(PAGES).encode()
            assert len(small) < limit
            assert (await c.post("/v1/predict/pages", json=PAGES)).status_code == 200
            metrics = (await c.get("/metrics")).text
            assert 'siteclass_rejected_total{reason="body_size"} 1.0' in metrics

    asyncio.run(go())


def test_deadline_is_504_with_a_slow_model() -> None:
    slow = serve_models.trained(delay_s=1.0)

    async def go() -> None:
        async with running(create_app(slow, ServeSettings(deadline_s=0.2))) as c:
            started = time.perf_counter()
            r = await c.post("/v1/predict/pages", json=PAGES)
            assert r.status_code == 504, r.text
            assert r.json()["error"] == "deadline_exceeded"
            assert time.perf_counter() - started < 1.0  # answered at the deadline, not after the model

    asyncio.run(go())


def test_over_the_concurrency_limit_is_503() -> None:
    slow = serve_models.trained(delay_s=0.5)

    async def go() -> None:
        async with running(create_app(slow, ServeSettings(max_concurrency=2, microbatch_max=1))) as c:
            codes = [r.status_code for r in await asyncio.gather(
                *(c.post("/v1/predict/pages", json=PAGES) for _ in range(5))
            )]
            assert sorted(codes) == [200, 200, 503, 503, 503], codes
            assert (await c.post("/v1/predict/pages", json=PAGES)).status_code == 200  # capacity is back

    asyncio.run(go())


def test_readyz_is_503_until_the_model_is_loaded(keyword_model) -> None:
    gate = asyncio.Event()
    loop_holder: list[asyncio.AbstractEventLoop] = []

    def slow_loader() -> serve_models.KeywordClassifier:
        fut = asyncio.run_coroutine_threadsafe(gate.wait(), loop_holder[0])
        fut.result(10)
        return keyword_model

    async def go() -> None:
        loop_holder.append(asyncio.get_running_loop())
        async with running(create_app(slow_loader, ServeSettings()), wait_ready=False) as c:
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/readyz")).status_code == 503
            r = await c.post("/v1/predict/pages", json=PAGES)
            assert r.status_code == 503 and r.json()["error"] == "model_not_ready"
            gate.set()
            for _ in range(200):
                if (await c.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.01)
            assert (await c.get("/readyz")).status_code == 200
            assert (await c.post("/v1/predict/pages", json=PAGES)).status_code == 200

    asyncio.run(go())


def test_a_model_that_fails_to_load_keeps_readyz_503() -> None:
    async def go() -> None:
        async with running(create_app("/nonexistent/model", ServeSettings()), wait_ready=False) as c:
            for _ in range(100):
                r = await c.get("/readyz")
                if "not a siteclass model" in r.text:
                    break
                await asyncio.sleep(0.01)
            assert r.status_code == 503 and "not a siteclass model" in r.json()["detail"]
            assert (await c.get("/healthz")).status_code == 200

    asyncio.run(go())


def test_concurrent_requests_are_micro_batched(keyword_model) -> None:
    async def go() -> None:
        app = create_app(keyword_model, ServeSettings(microbatch_max=64, microbatch_wait_ms=50))
        async with running(app) as c:
            batcher = app.state.serve.batcher
            before = batcher.calls
            rs = await asyncio.gather(*(c.post("/v1/predict/pages", json=PAGES) for _ in range(20)))
            assert all(r.status_code == 200 for r in rs)
            assert all(r.json()["label"] == "plumbing" for r in rs)
            assert batcher.calls - before < 20  # fewer model calls than requests
            metrics = (await c.get("/metrics")).text
            assert "siteclass_inference_seconds_count" in metrics
            assert 'siteclass_requests_total{code="200",endpoint="/v1/predict/pages"} 20.0' in metrics

    asyncio.run(go())


def test_the_fast_path_answers_what_the_documented_route_answers(keyword_model) -> None:
    """Valid prediction bodies skip FastAPI (parsed from bytes, JSON built once); the route behind it is what
    /openapi.json documents. Both must give the same bytes, in the documented response schema."""
    from siteclass.serve.schemas import BatchResponse, PredictResponse

    items = [PAGES, {"url": "bread.com", "pages": [{"text": "cakes and bread"}]}, {"url": "x.org", "pages": []}]

    async def answers(fast: bool) -> list[bytes]:
        app = create_app(keyword_model, ServeSettings(top_k=2))
        if not fast:
            app.fast_routes = {}
        async with running(app) as c:
            rs = [await c.post("/v1/predict/pages", json=PAGES),
                  await c.post("/v1/predict/pages", content=json.dumps(PAGES).encode(),
                               headers={"content-type": "Application/JSON; charset=utf-8"}),
                  await c.post("/v1/predict/batch", json={"items": items})]
            assert [r.status_code for r in rs] == [200, 200, 200], [r.text for r in rs]
            assert all(r.headers["content-type"] == "application/json" for r in rs)
            metrics = (await c.get("/metrics")).text
            assert 'siteclass_requests_total{code="200",endpoint="/v1/predict/pages"} 2.0' in metrics
            assert "siteclass_inflight_requests 0.0" in metrics
            assert "siteclass_inference_cpu_seconds_total" in metrics
            return [r.content for r in rs]

    async def go() -> None:
        fast, documented = await answers(True), await answers(False)
        assert fast == documented
        one, _, batch = (json.loads(b) for b in fast)
        assert PredictResponse.model_validate(one).model_dump() == one  # exactly the documented fields
        assert BatchResponse.model_validate(batch).model_dump() == batch

    asyncio.run(go())


def test_other_content_types_and_model_errors_keep_their_answers(keyword_model) -> None:
    class Broken(serve_models.KeywordClassifier):
        def _logits(self, records):  # type: ignore[no-untyped-def]
            if any("explode" in p["text"] for r in records for p in r["pages"]):
                from siteclass.errors import ModelError

                raise ModelError("the model cannot score this")
            return super()._logits(records)

    broken = Broken()
    broken.__dict__.update(keyword_model.__dict__)

    async def go() -> None:
        async with running(create_app(broken, ServeSettings())) as c:
            for headers in ({"content-type": "text/plain"}, {}):  # FastAPI's own rule: JSON content types only
                r = await c.post("/v1/predict/pages", content=json.dumps(PAGES), headers=headers)
                assert r.status_code == 422 and r.json()["error"] == "invalid_request"
            r = await c.post("/v1/predict/pages", content=json.dumps(PAGES),
                             headers={"content-type": "application/json; charset=utf-8"})
            assert r.status_code == 200 and r.json()["label"] == "plumbing"
            bad = {"url": "a.com", "pages": [{"text": "explode"}]}
            for path, body in [("/v1/predict/pages", bad), ("/v1/predict/batch", {"items": [bad]})]:
                r = await c.post(path, json=body)
                assert r.status_code == 500 and r.json() == {"error": "model_error",
                                                             "detail": "the model cannot score this"}

    asyncio.run(go())


def test_readyz_waits_for_the_warm_up_prediction(keyword_model) -> None:
    """A model given as an instance still answers one record before /readyz says 200 (lazy imports and first-call
    allocations land on the warm-up, not on a user's request)."""
    import gc
    import threading

    gate = threading.Event()
    seen: list[int] = []

    class Gated(serve_models.KeywordClassifier):
        def _logits(self, records):  # type: ignore[no-untyped-def]
            seen.append(len(records))
            gate.wait(10)
            return super()._logits(records)

    gated = Gated()
    gated.__dict__.update(keyword_model.__dict__)

    async def go() -> None:
        async with running(create_app(gated, ServeSettings()), wait_ready=False) as c:
            await asyncio.sleep(0.05)
            assert (await c.get("/readyz")).status_code == 503
            gate.set()
            for _ in range(500):
                if (await c.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.01)
            assert (await c.get("/readyz")).status_code == 200
            assert seen == [1]  # the warm-up record, before any request
            assert gc.get_freeze_count() > 0  # then the long-lived objects are exempt from collections
        assert gc.get_freeze_count() == 0  # until the app stops

    asyncio.run(go())
