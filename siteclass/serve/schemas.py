"""Request and response bodies of the HTTP API (pydantic; they make /openapi.json)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Hard caps that keep one request bounded; the body limit (1 MB by default) applies on top.
MAX_URL_CHARS = 2048
MAX_NAME_CHARS = 512
MAX_PAGES = 20
MAX_TITLE_CHARS = 2048
MAX_TEXT_CHARS = 200_000
MAX_BATCH_ITEMS = 10_000  # the ceiling of [serve] max_batch_items


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


EXAMPLE_PAGES: dict[str, Any] = {
    "name": "Acme Plumbing",
    "url": "https://www.acme-plumbing.com/",
    "pages": [
        {"url": "https://www.acme-plumbing.com/", "title": "Acme Plumbing",
         "text": "Emergency plumbers: we fix leaks, pipes and drains, 24/7."},
        {"url": "https://www.acme-plumbing.com/about", "title": "About us",
         "text": "Family-run plumbing and heating company since 1988."},
    ],
}


class PredictRequest(_Body):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"url": "acme-plumbing.com", "name": "Acme Plumbing"}]})

    url: str = Field(..., min_length=1, max_length=MAX_URL_CHARS, description="the website, e.g. acme.com")
    name: str | None = Field(None, max_length=MAX_NAME_CHARS, description="the business name, when known")


class PageIn(_Body):
    url: str = Field("", max_length=MAX_URL_CHARS)
    title: str = Field("", max_length=MAX_TITLE_CHARS)
    text: str = Field("", max_length=MAX_TEXT_CHARS)


class PagesRequest(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_PAGES]})

    name: str | None = Field(None, max_length=MAX_NAME_CHARS)
    url: str = Field("", max_length=MAX_URL_CHARS, description="the site's URL (its domain is a model feature)")
    pages: list[PageIn] = Field(..., max_length=MAX_PAGES, description="pages in crawl order, home page first")


class BatchRequest(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"items": [
        EXAMPLE_PAGES, {"url": "bright-smile.com", "pages": [{"text": "Family dentistry, implants and whitening."}]},
    ]}]})

    items: list[PagesRequest] = Field(..., min_length=1, max_length=MAX_BATCH_ITEMS)


class Industry(BaseModel):
    label: str
    probability: float


class PageOut(BaseModel):
    url: str
    title: str


class PredictResponse(BaseModel):
    domain: str
    status: str = Field(..., description="ok, or why the site could not be read (unreachable, timeout, …)")
    label: str | None = Field(None, description="top-1 industry, 'unknown' below the minimum confidence")
    probability: float | None = None
    industries: list[Industry] = Field(default_factory=list, description="top-k, most probable first")
    pages: list[PageOut] = Field(default_factory=list, description="pages the prediction used")
    error: str = ""
    cached: bool = False
    source: str | None = Field(None, description="model, or override (the overrides file fixed this site's answer: "
                               "probability 1.0); null without a prediction")
    note: str | None = Field(None, description="the override's note, or why the label is 'unknown' (below the "
                             "minimum confidence)")
    warning: str | None = Field(None, description="non_english_text: the pages' text is not English, which the "
                                "bundled encoder does not read well; null otherwise")
    naics_code: str | None = Field(None, description="the 6-digit NAICS 2022 code of the best guess's sector (the "
                                   "bundled NAICS model; also when the label is 'unknown'); null for other models")
    naics_title: str | None = Field(None, description="the title of naics_code; null without one")


class BatchResponse(BaseModel):
    items: list[PredictResponse]


class ModelInfo(BaseModel):
    model_type: str
    version: str
    siteclass_version: str
    labels: list[str]
    multi_label: bool
    temperature: float
    top_k: int
    min_confidence: float
    inference: str = Field(..., description="where the model runs: thread, inline or process ([serve] inference)")
    model_cpus: list[int] = Field(..., description="the CPUs the model process is pinned to ([serve] model_cpus); "
                                  "empty: not pinned")
    card: dict[str, Any]
    overrides: dict[str, Any] | None = Field(None, description="the overrides file in use ([serve] overrides): "
                                             "path, sha256, count, reloads, last_error; null without one")


class ErrorBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"error": "invalid_request", "detail": "pages: Field required"}]})

    error: str = Field(..., description="a stable code: url_not_allowed, invalid_request, payload_too_large, …")
    detail: Any = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "request body larger than the limit"},
    422: {"model": ErrorBody, "description": "invalid body; detail names the field, or the position of a JSON "
          "syntax error"},
    503: {"model": ErrorBody, "description": "model not loaded yet, or too many requests in flight"},
    504: {"model": ErrorBody, "description": "the request deadline passed"},
}
