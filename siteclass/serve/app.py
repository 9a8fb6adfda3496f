"""The HTTP server: FastAPI app factory ``create_app(model, settings)``.

Endpoints: ``POST /v1/predict`` (guarded live fetch, then predict), ``POST /v1/predict/pages`` (pages given),
``POST /v1/predict/batch``, ``GET /v1/model``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.
The model loads (and answers one warm-up record) in a background task at startup (``/readyz`` is 503 until
then); concurrent requests are micro-batched into one model call (the model runs in a worker thread, in the
event loop, or in a child process: ``[serve] inference``, see :mod:`siteclass.serve.model_process`); live answers
are cached per domain with a TTL. Limits: body size (counted while streaming), request deadline, concurrency — see
:mod:`siteclass.serve.limits`, which also runs the fast path: valid ``/v1/predict/pages`` and
``/v1/predict/batch`` bodies are parsed from bytes by pydantic-core and answered with JSON built once, without
going through Starlette's middleware and FastAPI's request/response validation; anything else (invalid bodies,
other content types) takes the ordinary FastAPI route, which is also what /openapi.json documents.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Receive, Scope, Send

from siteclass._version import __version__
from siteclass.config import ServeSettings, Settings
from siteclass.crawling.urls import registered_domain
from siteclass.errors import InputError, ModelError
from siteclass.metrics import resolve_min_confidence
from siteclass.models.registry import ModelLike
from siteclass.records import Record, site_record
from siteclass.serve.guard import Resolver, UrlNotAllowed
from siteclass.serve.limits import FastHandler, LimitsMiddleware
from siteclass.serve.schemas import (
    ERROR_RESPONSES,
    BatchRequest,
    BatchResponse,
    ModelInfo,
    PagesRequest,
    PredictRequest,
    PredictResponse,
)
from siteclass.serve.state import (
    Answer,
    ModelNotReady,
    ServeState,
    model_version,
)


class FieldError(Exception):
    """A body field that parsed but is not acceptable (answered 422 naming it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _pages_of(item: PagesRequest, page_chars: int) -> list[dict[str, str]]:
    return [{"url": p.url, "title": p.title, "text": p.text[:page_chars]} for p in item.pages]


def _has_text(s: str) -> bool:
    return bool(s) and not s.isspace()  # s.strip() != "" without copying s


def _answer(body: Answer) -> Response:
    """Serialise once with pydantic-core (FastAPI would validate the response model again)."""
    return Response(to_json(body), media_type="application/json")


def _error(status: int, code: str, detail: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status)


API_DESCRIPTION = (
    "Industry of a business from its website. POST /v1/predict reads the site live (guarded fetch); "
    "/v1/predict/pages and /v1/predict/batch classify pages you already have. Every error answers "
    '`{"error": code, "detail": message}`: invalid_request (422), payload_too_large (413), not_found (404), '
    "method_not_allowed (405), model_not_ready (503), …"
)
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed"}
DOCS_ASSETS = "/docs-assets"


def _offline_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc from the assets fastapi-offline installs: nothing is fetched from a CDN."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=static), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False,
        )


async def _json_syntax_error(request: Request, error: dict[str, Any]) -> JSONResponse:
    """422 for a body that is not JSON: the position (character offset, line, column) and what was expected."""
    loc = error.get("loc", ())
    position = next((p for p in loc if isinstance(p, int)), None)
    reason = (error.get("ctx") or {}).get("error") or "not valid JSON"
    where = ""
    if position is not None:
        where = f" at position {position}"
        try:
            text = (await request.body()).decode("utf-8", errors="replace")[:position]
            where += f" (line {text.count(chr(10)) + 1}, column {position - (text.rfind(chr(10)) + 1) + 1})"
        except Exception:  # the body may be gone: the offset alone still says where
            pass
    return _error(422, "invalid_request", f"body is not valid JSON: {reason}{where}", position=position,
                  fields=[{"field": "body", "message": f"{reason}{where}"}])


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


class ServeAPI(FastAPI):
    """FastAPI behind the server's front door: :class:`LimitsMiddleware` wraps the whole app (limits and metrics
    for every HTTP request) and answers ``fast_routes`` itself (valid prediction bodies)."""

    fast_routes: dict[str, FastHandler]  # set by create_app
    _front: LimitsMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if self._front is None:
            state: ServeState = self.state.serve
            self._front = LimitsMiddleware(functools.partial(FastAPI.__call__, self), state.metrics, state.serve,
                                           fast=getattr(self, "fast_routes", None))
        await self._front(scope, receive, send)


def create_app(
    model: ModelLike = None,
    settings: Settings | ServeSettings | None = None,
    *,
    resolver: Resolver | None = None,
) -> FastAPI:
    """The FastAPI app. *model*: a model folder, a Classifier, a zero-argument factory, or None (zero-shot).

    *settings*: full :class:`Settings` (``[serve]``, plus ``[crawl]``/``[dataset]`` for the live fetch) or just
    :class:`ServeSettings`. *resolver* replaces DNS resolution of the live-fetch guard (tests, split-horizon DNS).
    """
    if settings is None:
        settings = Settings()
    elif isinstance(settings, ServeSettings):
        settings = Settings(serve=settings)
    state = ServeState(model, settings, resolver)
    serve = settings.serve

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = ServeAPI(
        title="siteclass",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from local assets: the default pages fetch Swagger UI from a CDN
        redoc_url=None,
    )
    app.state.serve = state
    _offline_docs(app)

    # ------------------------------------------------------------------ errors
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        broken = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if broken is not None:  # loc is ("body", <character offset>): a position, not a field
            return await _json_syntax_error(request, broken)
        fields = [{"field": _field_name(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
        detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:10]) or "invalid request body"
        return _error(422, "invalid_request", detail, fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
        detail = exc.detail
        if exc.status_code == 404:
            detail = "no such endpoint; see /docs or /openapi.json for the endpoints"
        elif exc.status_code == 405:
            allowed = next((v for k, v in (exc.headers or {}).items() if k.lower() == "allow"), "")
            detail = f"method not allowed here; allowed: {allowed}" if allowed else "method not allowed here"
        return JSONResponse({"error": code, "detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(FieldError)
    async def _bad_field(_: Request, exc: FieldError) -> JSONResponse:
        return _error(422, "invalid_request", f"{exc.field}: {exc.message}",
                      fields=[{"field": exc.field, "message": exc.message}])

    @app.exception_handler(UrlNotAllowed)
    async def _refused(_: Request, exc: UrlNotAllowed) -> JSONResponse:
        return _error(400, "url_not_allowed", exc.detail, url=exc.url)

    @app.exception_handler(ModelNotReady)
    async def _not_ready(_: Request, exc: ModelNotReady) -> JSONResponse:
        return JSONResponse({"error": "model_not_ready", "detail": str(exc)}, status_code=503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(ModelError)
    async def _model_error(_: Request, exc: ModelError) -> JSONResponse:
        return _error(500, "model_error", str(exc))

    # ------------------------------------------------------------------ health
    @app.get("/healthz", tags=["ops"], summary="Liveness",
             description="200 while the process answers, whether or not the model is loaded.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: ERROR_RESPONSES[503]}, summary="Readiness",
             description="200 once the model is loaded and has answered its warm-up record; 503 until then.")
    async def readyz() -> Response:
        if state.model is None or not state.warm:
            body = {"error": "model_not_ready", "detail": state.load_error or "the model is still loading"}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "model": state.model.model_type})

    @app.get("/metrics", tags=["ops"], response_class=Response, summary="Prometheus metrics",
             description="Request counts and latencies, queue time, batch sizes, cache hits (text format).")
    async def metrics() -> Response:
        data, content_type = state.metrics.render()
        return Response(data, media_type=content_type)

    @app.get("/v1/model", tags=["model"], response_model=ModelInfo, responses={503: ERROR_RESPONSES[503]},
             summary="The model served", description="Model type and version, its labels, calibration "
             "temperature, top-k, minimum confidence, where inference runs, the model card and the overrides file.")
    async def model_info() -> ModelInfo:
        m = state.require_model()
        return ModelInfo(
            model_type=m.model_type,
            version=model_version(m),
            siteclass_version=__version__,
            labels=list(m.classes_),
            multi_label=bool(m.multi_label_),
            temperature=float(m.temperature_),
            top_k=serve.top_k,
            min_confidence=resolve_min_confidence(serve.min_confidence, m),
            inference=state.inference,
            model_cpus=[] if state.pinned is None else list(state.pinned.plan.model),
            card=json.loads(json.dumps(getattr(m, "card_", {}) or {}, default=str)),
            overrides=None if state.overrides is None else json.loads(json.dumps(state.overrides.info(), default=str)),
        )

    # ------------------------------------------------------------------ predict
    page_chars = settings.dataset.page_chars

    async def predict_records(records: list[Record]) -> list[list[tuple[str, float]]]:
        state.require_model()
        started = time.perf_counter()
        out = await state.batcher.submit(records)
        state.metrics.queue_seconds.observe(time.perf_counter() - started)
        return out

    live_errors = {400: {"model": ERROR_RESPONSES[422]["model"], "description": "url_not_allowed"}, **ERROR_RESPONSES}

    @app.post("/v1/predict", tags=["predict"], response_model=PredictResponse, responses=live_errors,
              summary="Industry of a website, read live", description="Fetches the site's home page and its most "
              "informative internal pages (public addresses only, unless the server allows others), then predicts; "
              "answers are cached per domain. A site that cannot be read answers 200 with its status "
              "(unreachable, timeout, …) and no label.")
    async def predict_live(body: PredictRequest) -> Response:
        from siteclass.crawling.urls import normalize_input_url

        state.require_model()
        raw = body.url.strip()
        state.guard.precheck(raw if "://" in raw else "http://" + raw.lstrip("/"))  # 400 before anything else
        try:
            url = normalize_input_url(raw)
        except InputError as exc:
            raise FieldError("url", str(exc)) from exc
        domain = registered_domain(url)
        fixed = state.override(url, domain)
        if fixed is not None:  # an override needs no fetch and is never cached: an edited file applies at once
            return _answer(state.override_response(domain, fixed))
        key = (domain, (body.name or "").strip().lower())
        hit = state.cache.get(key)
        if hit is not None:
            state.metrics.cache.labels("hit").inc()
            return _answer({**hit, "cached": True})
        state.metrics.cache.labels("miss").inc()
        site = await state.fetcher.fetch_site(url)
        if site.status != "ok" or not site.pages:
            return _answer(state.response(site.domain, site.status, site.pages, [], site.error))
        record = site_record(body.name, site.final_url, site.pages)
        top = (await predict_records([record]))[0]
        answer = state.response(site.domain, "ok", site.pages, top)
        state.cache.put(key, answer)
        return _answer(answer)

    def prepare(item: PagesRequest) -> tuple[Record, bool]:
        """The model record of a pages request, and whether it has anything to classify."""
        usable = any(_has_text(p.text) or _has_text(p.title) for p in item.pages) or _has_text(item.name or "")
        return site_record(item.name, item.url, _pages_of(item, page_chars)), usable

    def empty_answer(record: Record) -> Answer:
        return state.response(record["domain"], "empty", record["pages"], [], "no page has any text")

    async def pages_answer(body: PagesRequest) -> Answer:
        state.require_model()
        record, usable = prepare(body)
        fixed = state.override(record["url"], record["domain"])
        if fixed is not None:
            return state.override_response(record["domain"], fixed, record["pages"])
        if not usable:
            return empty_answer(record)
        top = (await predict_records([record]))[0]
        return state.response(record["domain"], "ok", record["pages"], top)

    async def batch_answer(body: BatchRequest) -> Answer:
        state.require_model()
        if len(body.items) > serve.max_batch_items:
            raise FieldError("items", f"at most {serve.max_batch_items} items per batch, got {len(body.items)}")
        prepared = [prepare(item) for item in body.items]
        fixed = [state.override(record["url"], record["domain"]) for record, _ in prepared]
        records = [record for (record, usable), hit in zip(prepared, fixed) if usable and hit is None]
        tops = iter(await predict_records(records) if records else [])
        return {"items": [state.override_response(record["domain"], hit, record["pages"]) if hit is not None
                          else state.response(record["domain"], "ok", record["pages"], next(tops)) if usable
                          else empty_answer(record) for (record, usable), hit in zip(prepared, fixed)]}

    @app.post("/v1/predict/pages", tags=["predict"], response_model=PredictResponse, responses=ERROR_RESPONSES,
              summary="Industry from pages you have", description="No fetch: classifies the pages given (home "
              "page first), with the site's URL and the business name as features.")
    async def predict_pages(body: PagesRequest) -> Response:
        return _answer(await pages_answer(body))

    @app.post("/v1/predict/batch", tags=["predict"], response_model=BatchResponse, responses=ERROR_RESPONSES,
              summary="Industries of several sites from their pages", description="Up to [serve] max_batch_items "
              "items, each as in /v1/predict/pages; answers in the same order.")
    async def predict_batch(body: BatchRequest) -> Response:
        return _answer(await batch_answer(body))

    # ------------------------------------------------------------------ fast path (see siteclass.serve.limits)
    def fast(model: type[PagesRequest] | type[BatchRequest], answer: Callable[[Any], Awaitable[Answer]]) -> FastHandler:
        async def handler(raw: bytes) -> tuple[int, bytes] | None:
            if state.model is None:
                return None  # the route answers 503 (after validating the body, as it always did)
            try:
                body = model.model_validate_json(raw)
            except ValidationError:
                return None  # the route answers FastAPI's 422, naming the field
            if isinstance(body, BatchRequest) and len(body.items) > serve.max_batch_items:
                return None
            try:
                return 200, to_json(await answer(body))
            except ModelError as exc:
                return 500, to_json({"error": "model_error", "detail": str(exc)})

        return handler

    app.fast_routes = {"/v1/predict/pages": fast(PagesRequest, pages_answer),
                       "/v1/predict/batch": fast(BatchRequest, batch_answer)}
    return app


MODEL_ENV = "SITECLASS_SERVE_MODEL"
SETTINGS_ENV = "SITECLASS_SERVE_SETTINGS"


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` / several workers: model folder and settings file from the environment
    (``SITECLASS_SERVE_MODEL``, ``SITECLASS_SERVE_SETTINGS``), as ``siteclass serve --workers N`` sets them."""
    import os

    from siteclass.config import load_settings

    model = os.environ.get(MODEL_ENV) or None
    return create_app(model, load_settings(os.environ.get(SETTINGS_ENV) or None))

