"""What one app instance holds (``ServeState``): settings, the model and where it runs, the micro-batcher, the
answer cache, the guarded fetcher and the metrics; it loads the model (and starts the model process) at startup
and builds answers as plain data."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
from typing import Any

from siteclass.bundled import resolve
from siteclass.config import Settings
from siteclass.errors import ModelError
from siteclass.labels.overrides import SOURCE_MODEL, SOURCE_OVERRIDE, Override, OverridesFile
from siteclass.metrics import apply_min_confidence, resolve_min_confidence
from siteclass.models.base import Classifier
from siteclass.models.registry import ModelLike
from siteclass.prediction.language import language_warning
from siteclass.prediction.language import warm_up as warm_up_language
from siteclass.records import Record
from siteclass.serve.batching import MicroBatcher
from siteclass.serve.cache import TTLCache
from siteclass.serve.cpus import PinnedServer, available_cpus, check_model_cpus, plan_cpus
from siteclass.serve.fetch import GuardedFetcher
from siteclass.serve.guard import Resolver, UrlGuard
from siteclass.serve.limits import ServeMetrics
from siteclass.serve.model_process import ModelProcess, check_process_source, resolve_inference

Answer = dict[str, Any]  # a PredictResponse as plain data: built and serialised without validation
WARM_UP_RECORD: Record = {
    "name": "warm-up", "url": "http://example.com/", "domain": "example.com", "ext": "com",
    "pages": [{"url": "http://example.com/", "title": "Warm-up", "text": "a first request loads lazy code"}],
}


class ModelNotReady(Exception):
    pass


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

    def __init__(self, source: ModelLike, settings: Settings, resolver: Resolver | None = None) -> None:
        self.source = source
        self.settings = settings
        self.serve = settings.serve
        self.model: Classifier | None = source if isinstance(source, Classifier) else None
        self.load_error: str | None = None
        self.metrics = ServeMetrics()
        self.cache: TTLCache[Answer] = TTLCache(self.serve.cache_size, self.serve.cache_ttl_s)
        self.guard = UrlGuard.from_settings(self.serve, settings.crawl, resolver=resolver)
        self.fetcher = GuardedFetcher.from_settings(settings, self.guard)
        self.process: ModelProcess | None = None
        self.pinned: PinnedServer | None = None  # the HTTP process on CPUs apart from the model's ([serve] model_cpus)
        self.inference = resolve_inference(self.serve.inference, source, self.serve.workers)
        check_model_cpus(self.serve.model_cpus, self.inference, self.serve.workers)
        if self.inference == "process":
            check_process_source(source)
            plan = plan_cpus(self.serve.model_cpus, available_cpus())
            self.pinned = None if plan is None else PinnedServer(plan)
            self.process = ModelProcess(source, self.serve.top_k, WARM_UP_RECORD,  # type: ignore[arg-type]
                                        cpus=None if plan is None else plan.model)
        self.batcher = MicroBatcher(
            self._predict_batch, self.serve.microbatch_max, self.serve.microbatch_wait_ms, self.metrics.observe_batch,
            inline=self.inference == "inline", remote=None if self.process is None else self.process.predict,
            max_inflight=1 if self.process is None else 2,  # the next batch waits in the pipe, not in the server
            pace=None if self.process is None else self.process.expected_seconds,
        )
        # overrides: a bad file fails here, before the port is bound; a running server re-reads it on change
        self.overrides = OverridesFile(self.serve.overrides) if self.serve.overrides else None
        self._load_task: asyncio.Task[None] | None = None
        self.warm = False  # the model answered a first record (lazy imports, first-call allocations done)
        self._frozen = False

    def _predict_batch(self, records: list[Record]) -> list[list[tuple[str, float]]]:
        assert self.model is not None
        return self.model.predict_top_k(records, k=self.serve.top_k)

    async def start(self) -> None:
        self.batcher.start()
        self._load_task = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        if self.model is None:
            try:
                model = await asyncio.to_thread(resolve, self.source)
            except Exception as exc:  # reported by /readyz; the process stays up for /healthz
                self.load_error = f"{type(exc).__name__}: {exc}"
                return
            self.model = model
        if self.overrides is not None:  # labels the model does not know are allowed, and named once
            self.overrides.classes = list(self.model.classes_)
            self.overrides.current().check_classes(self.model.classes_)
        if self.process is not None:  # the child loads its own copy and answers a warm-up record before ready
            try:
                await self.process.start()
            except ModelError as exc:
                self.model, self.load_error = None, str(exc)
                return
            if self.pinned is not None:
                self.pinned.apply()
        self.metrics.model_loaded.set(1)
        with contextlib.suppress(Exception):  # the language check's model (~0.8 s), not on a first request
            await asyncio.to_thread(warm_up_language)
        # One record through the model before /readyz says 200: the first call imports and allocates lazily
        # (scipy.sparse, ONNX Runtime's first run: up to a second), which would otherwise land on real requests.
        if self.process is None:  # (the model process answered its own warm-up record before it said ready)
            with contextlib.suppress(Exception):  # a model that cannot score the warm-up record still serves
                await asyncio.to_thread(self.model.predict_top_k, [WARM_UP_RECORD], self.serve.top_k)
        if self.serve.gc_freeze:  # the model, its libraries and the app live as long as the server
            gc.collect()
            gc.freeze()
            self._frozen = True
        self.warm = True

    async def stop(self) -> None:
        if self._load_task is not None and not self._load_task.done():
            self._load_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._load_task
        await self.batcher.stop()
        if self.process is not None:
            await self.process.stop()
        if self.pinned is not None:
            self.pinned.release()
        await self.fetcher.aclose()
        if self._frozen:  # an app that stops inside a longer-lived process (tests, embedding) leaves nothing frozen
            gc.unfreeze()
            self._frozen = False

    @property
    def min_confidence(self) -> float:
        """[serve] min_confidence, else the model's own default (the bundled NAICS model's calibrated one)."""
        return resolve_min_confidence(self.serve.min_confidence, self.model)

    def require_model(self) -> Classifier:
        if self.model is None:
            raise ModelNotReady(self.load_error or "the model is still loading")
        return self.model

    def override(self, url: str, domain: str = "") -> Override | None:
        """The override of a site, from the overrides file as it is now (re-read when it changed)."""
        if self.overrides is None:
            return None
        return self.overrides.current().lookup(url=url or None, domain=domain or None)

    def override_response(self, domain: str, hit: Override, pages: list[dict[str, str]] | None = None) -> Answer:
        return {"domain": domain, "status": "ok", "label": hit.label, "probability": 1.0,
                "industries": [{"label": hit.label, "probability": 1.0}],
                "pages": [{"url": p.get("url") or "", "title": p.get("title") or ""} for p in pages or []],
                "error": "", "cached": False, "source": SOURCE_OVERRIDE, "note": hit.note, "warning": None,
                "naics_code": None, "naics_title": None}

    def response(self, domain: str, status: str, pages: list[dict[str, str]], top: list[tuple[str, float]],
                 error: str = "") -> Answer:
        """The answer as plain data in the shape of :class:`PredictResponse` (a test checks it validates).

        ``warning``: ``non_english_text`` when the pages' text (its first 1,000 characters) is not English."""
        decision = apply_min_confidence(top, self.min_confidence) if top else None
        return {
            "domain": domain,
            "status": status,
            "label": decision.label if decision else None,
            "probability": decision.probability if decision else None,
            "industries": [{"label": str(lab), "probability": float(p)} for lab, p in top],
            "pages": [{"url": p.get("url") or "", "title": p.get("title") or ""} for p in pages],
            "error": error,
            "cached": False,
            "source": SOURCE_MODEL if decision else None,
            "note": decision.note if decision else None,
            "warning": language_warning({"pages": pages}) if decision else None,
            "naics_code": decision.code if decision else None,
            "naics_title": decision.title if decision else None,
        }
