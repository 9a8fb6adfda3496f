"""The API documents itself offline and answers every error in one body (#19): /docs references local assets
only (they answer 200), every endpoint has a description and an example body, 404/405 use the documented error
body, and a JSON syntax error names its position rather than a field."""

from __future__ import annotations

import asyncio
import re

from serve_helpers import running

from siteclass.serve.app import create_app

ENDPOINTS = ("/v1/predict", "/v1/predict/pages", "/v1/predict/batch", "/v1/model", "/healthz", "/readyz",
             "/metrics")


def test_docs_are_served_from_local_assets(keyword_model) -> None:
    async def go() -> None:
        async with running(create_app(keyword_model)) as c:
            for page in ("/docs", "/redoc"):
                r = await c.get(page)
                assert r.status_code == 200 and "text/html" in r.headers["content-type"]
                urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""", r.text)
                assets = [u for pair in urls for u in pair if u]
                assert assets, r.text
                for url in assets:
                    assert not re.match(r"^(https?:)?//", url), f"{page} references a remote asset: {url}"
                    got = await c.get(url)
                    assert got.status_code == 200 and got.content, url
                assert "cdn" not in r.text.lower()
            js = await c.get("/docs-assets/swagger-ui-bundle.js")
            assert len(js.content) > 100_000  # the real Swagger UI bundle, not a stub

    asyncio.run(go())


def test_every_endpoint_has_a_description_and_request_bodies_an_example(keyword_model) -> None:
    async def go() -> None:
        async with running(create_app(keyword_model)) as c:
            spec = (await c.get("/openapi.json")).json()
        for path in ENDPOINTS:
            for method, op in spec["paths"][path].items():
                assert op.get("description") and op.get("summary"), (method, path)
                body = op.get("requestBody")
                if body:
                    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                    assert spec["components"]["schemas"][ref].get("examples"), (path, ref)

    asyncio.run(go())


def test_example_bodies_are_valid_requests(keyword_model) -> None:
    async def go() -> None:
        async with running(create_app(keyword_model)) as c:
            spec = (await c.get("/openapi.json")).json()
            for path in ("/v1/predict/pages", "/v1/predict/batch"):
                ref = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                example = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]["examples"][0]
                r = await c.post(path, json=example)
                assert r.status_code == 200, (path, r.text)

    asyncio.run(go())


def test_404_and_405_answer_the_error_body(keyword_model) -> None:
    async def go() -> None:
        async with running(create_app(keyword_model)) as c:
            r = await c.get("/v1/nothing-here")
            assert r.status_code == 404
            assert r.json()["error"] == "not_found" and "/docs" in r.json()["detail"]
            r = await c.get("/v1/predict/pages")
            assert r.status_code == 405
            body = r.json()
            assert body["error"] == "method_not_allowed" and "POST" in body["detail"]
            assert r.headers["allow"] == "POST"
            assert set(body) == {"error", "detail"}

    asyncio.run(go())


def test_json_syntax_error_names_the_position(keyword_model) -> None:
    async def go() -> None:
        async with running(create_app(keyword_model)) as c:
            broken = b'{"url": "a.com",\n "pages": }'
            r = await c.post("/v1/predict/pages", content=broken, headers={"content-type": "application/json"})
            assert r.status_code == 422
            body = r.json()
            assert body["error"] == "invalid_request"
            pos = broken.index(b"}")
            assert body["position"] == pos
            assert f"position {pos}" in body["detail"] and "line 2" in body["detail"], body
            assert "not valid JSON" in body["detail"]
            assert body["fields"] == [{"field": "body", "message": body["fields"][0]["message"]}]
            assert str(pos) != body["fields"][0]["field"]

    asyncio.run(go())
