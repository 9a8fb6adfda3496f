"""The HTTP server: FastAPI app factory ``create_app(model, settings)``.

Endpoints: ``POST /v1/predict`` (guarded live fetch, then predict), ``POST /v1/predict/pages`` (pages given),
``POST /v1/predict/batch``, ``GET /v1/model``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.
The model loads in a background task at startup (``/readyz`` is 503 until then); concurrent requests are
micro-batched into one model call; live answers are cached per domain with a TTL. Limits: body size (counted
while streaming), request deadline, concurrency — see :mod:`siteclass.serve.limits`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from siteclass._version import __version__
from siteclass.config import ServeSettings, Settings
from siteclass.errors import InputError, ModelError
from siteclass.models.base import Classifier, Record
from siteclass.serve.batching import MicroBatcher
from siteclass.serve.cache import TTLCache
from siteclass.serve.fetch import GuardedFetcher
from siteclass.serve.guard import Resolver, UrlGuard, UrlNotAllowed
from siteclass.serve.limits import LimitsMiddleware, ServeMetrics
from siteclass.serve.schemas import (
    ERROR_RESPONSES,
    BatchRequest,
    BatchResponse,
    Industry,
    ModelInfo,
    PageOut,
    PagesRequest,
    PredictRequest,
    PredictResponse,
)

ModelSource = str | Path | Classifier | Callable[[], Classifier] | None


class ModelNotReady(Exception):
    pass


class FieldError(Exception):
    """A body field that parsed but is not acceptable (answered 422 naming it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def load_any_model(source: ModelSource) -> Classifier:
    """A Classifier from a folder, an instance, a factory, or None (the bundled zero-shot NAICS model)."""
    if isinstance(source, Classifier):
        return source
    if source is None:
        from siteclass.models.zeroshot import default_zeroshot_model

        return default_zeroshot_model()  # type: ignore[no-any-return]
    if callable(source):
        return source()
    import siteclass

    return siteclass.load_model(source)  # type: ignore[no-any-return]


def model_version(model: Classifier) -> str:
    card = getattr(model, "card_", {}) or {}
    if card.get("version"):
        return str(card["version"])
    blob = json.dumps(
        [model.model_type, model.classes_, model.temperature_, card.get("data_fingerprint"), card.get("n_train")],
        default=str,
    )
    return f"{model.model_type}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


class ServeState:
    """Everything one app instance holds: settings, model, batcher, cache, fetcher, metrics."""

    def __init__(self, source: ModelSource, settings: Settings, resolver: Resolver | None = None) -> None:
        self.source = source
        self.settings = settings
        self.serve = settings.serve
        self.model: Classifier | None = source if isinstance(source, Classifier) else None
        self.load_error: str | None = None
        self.metrics = ServeMetrics()
        self.cache: TTLCache[PredictResponse] = TTLCache(self.serve.cache_size, self.serve.cache_ttl_s)
        self.guard = UrlGuard.from_settings(self.serve, settings.crawl, resolver=resolver)
        self.fetcher = GuardedFetcher.from_settings(settings, self.guard)
        self.batcher = MicroBatcher(
            self._predict_batch, self.serve.microbatch_max, self.serve.microbatch_wait_ms, self.metrics.observe_batch,
            inline=self.serve.inference == "inline",
        )
        self._load_task: asyncio.Task[None] | None = None

    def _predict_batch(self, records: list[Record]) -> list[list[tuple[str, float]]]:
        assert self.model is not None
        return self.model.predict_top_k(records, k=self.serve.top_k)

    async def start(self) -> None:
        self.batcher.start()
        if self.model is None:
            self._load_task = asyncio.get_running_loop().create_task(self._load())
        else:
            self.metrics.model_loaded.set(1)

    async def _load(self) -> None:
        try:
            model = await asyncio.to_thread(load_any_model, self.source)
        except Exception as exc:  # reported by /readyz; the process stays up for /healthz
            self.load_error = f"{type(exc).__name__}: {exc}"
            return
        self.model = model
        self.metrics.model_loaded.set(1)

    async def stop(self) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._load_task
        await self.batcher.stop()
        await self.fetcher.aclose()

    def require_model(self) -> Classifier:
        if self.model is None:
            raise ModelNotReady(self.load_error or "the model is still loading")
        return self.model

    def response(self, domain: str, status: str, pages: list[dict[str, str]], top: list[tuple[str, float]],
                 error: str = "") -> PredictResponse:
        from siteclass.metrics import apply_min_confidence

        decision = apply_min_confidence(top, self.serve.min_confidence) if top else None
        return PredictResponse(
            domain=domain,
            status=status,
            label=decision.label if decision else None,
            probability=decision.probability if decision else None,
            industries=[Industry(label=lab, probability=p) for lab, p in top],
            pages=[PageOut(url=p.get("url") or "", title=p.get("title") or "") for p in pages],
            error=error,
        )


def pages_record(name: str | None, url: str, pages: list[dict[str, str]]) -> Record:
    """The model record for a site: the same keys the dataset builder writes (name, domain, url, ext, pages)."""
    from siteclass.crawl.urls import domain_extension, registered_domain

    domain = registered_domain(url) if url else ""
    return {"name": name or "", "url": url, "domain": domain, "ext": domain_extension(domain), "pages": pages}


def _pages_of(item: PagesRequest, page_chars: int) -> list[dict[str, str]]:
    return [{"url": p.url, "title": p.title, "text": p.text[:page_chars]} for p in item.pages]


def _answer(body: PredictResponse | BatchResponse) -> Response:
    """Serialise once with pydantic-core (FastAPI would validate the response model again)."""
    return Response(body.model_dump_json(), media_type="application/json")


def _error(status: int, code: str, detail: Any, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def create_app(
    model: ModelSource = None,
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

    app = FastAPI(
        title="siteclass",
        version=__version__,
        description="Industry of a business from its website.",
        lifespan=lifespan,
    )
    app.state.serve = state
    app.add_middleware(LimitsMiddleware, metrics=state.metrics, settings=serve)

    # ------------------------------------------------------------------ errors
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": _field_name(e.get("loc", ())), "message": e.get("msg", "")} for e in exc.errors()]
        detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:10]) or "invalid request body"
        return _error(422, "invalid_request", detail, fields=fields)

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
    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: ERROR_RESPONSES[503]})
    async def readyz() -> Response:
        if state.model is None:
            body = {"error": "model_not_ready", "detail": state.load_error or "the model is still loading"}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "ready", "model": state.model.model_type})

    @app.get("/metrics", tags=["ops"], response_class=Response)
    async def metrics() -> Response:
        data, content_type = state.metrics.render()
        return Response(data, media_type=content_type)

    @app.get("/v1/model", tags=["model"], response_model=ModelInfo, responses={503: ERROR_RESPONSES[503]})
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
            min_confidence=serve.min_confidence,
            card=json.loads(json.dumps(getattr(m, "card_", {}) or {}, default=str)),
        )

    # ------------------------------------------------------------------ predict
    async def predict_records(records: list[Record]) -> list[list[tuple[str, float]]]:
        state.require_model()
        started = time.perf_counter()
        out = await state.batcher.submit(records)
        state.metrics.queue_seconds.observe(time.perf_counter() - started)
        return out

    live_errors = {400: {"model": ERROR_RESPONSES[422]["model"], "description": "url_not_allowed"}, **ERROR_RESPONSES}

    @app.post("/v1/predict", tags=["predict"], response_model=PredictResponse, responses=live_errors)
    async def predict_live(body: PredictRequest) -> Response:
        from siteclass.crawl.urls import normalize_input_url, registered_domain

        state.require_model()
        raw = body.url.strip()
        state.guard.precheck(raw if "://" in raw else "http://" + raw.lstrip("/"))  # 400 before anything else
        try:
            url = normalize_input_url(raw)
        except InputError as exc:
            raise FieldError("url", str(exc)) from exc
        key = (registered_domain(url), (body.name or "").strip().lower())
        hit = state.cache.get(key)
        if hit is not None:
            state.metrics.cache.labels("hit").inc()
            return _answer(hit.model_copy(update={"cached": True}))
        state.metrics.cache.labels("miss").inc()
        site = await state.fetcher.fetch_site(url)
        if site.status != "ok" or not site.pages:
            return _answer(state.response(site.domain, site.status, site.pages, [], site.error))
        record = pages_record(body.name, site.final_url, site.pages)
        top = (await predict_records([record]))[0]
        answer = state.response(site.domain, "ok", site.pages, top)
        state.cache.put(key, answer)
        return _answer(answer)

    def page_answer(item: PagesRequest, top: list[tuple[str, float]] | None) -> PredictResponse:
        pages = _pages_of(item, settings.dataset.page_chars)
        domain = pages_record(item.name, item.url, pages)["domain"]
        if top is None:
            return state.response(domain, "empty", pages, [], "no page has any text")
        return state.response(domain, "ok", pages, top)

    def usable(item: PagesRequest) -> bool:
        return any(p.text.strip() or p.title.strip() for p in item.pages) or bool((item.name or "").strip())

    @app.post("/v1/predict/pages", tags=["predict"], response_model=PredictResponse, responses=ERROR_RESPONSES)
    async def predict_pages(body: PagesRequest) -> Response:
        state.require_model()
        if not usable(body):
            return _answer(page_answer(body, None))
        record = pages_record(body.name, body.url, _pages_of(body, settings.dataset.page_chars))
        top = (await predict_records([record]))[0]
        return _answer(page_answer(body, top))

    @app.post("/v1/predict/batch", tags=["predict"], response_model=BatchResponse, responses=ERROR_RESPONSES)
    async def predict_batch(body: BatchRequest) -> Response:
        state.require_model()
        if len(body.items) > serve.max_batch_items:
            raise FieldError("items", f"at most {serve.max_batch_items} items per batch, got {len(body.items)}")
        idx = [i for i, it in enumerate(body.items) if usable(it)]
        records = [pages_record(body.items[i].name, body.items[i].url,
                                _pages_of(body.items[i], settings.dataset.page_chars)) for i in idx]
        tops = await predict_records(records) if records else []
        by_index = dict(zip(idx, tops))
        return _answer(BatchResponse(items=[page_answer(it, by_index.get(i)) for i, it in enumerate(body.items)]))

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

