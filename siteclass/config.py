"""Typed settings for every stage, with every default in this one module.

Precedence, lowest first: the defaults below, a TOML file (``--config``), then command-line flags.
A TOML file has one table per stage (``[crawl]``, ``[dataset]``, ``[train]``, ``[train.fasttext]`` …);
an unknown key is an error that names it. The resolved settings are saved beside every output as
``settings.toml`` so a run can be repeated with ``--config DIR/settings.toml``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import tomli_w
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from siteclass.errors import InputError

USER_AGENT = "siteclass/{version} (+https://github.com/siteclass/siteclass; industry classification crawler)"

# Words that make an internal link look informative. Lower rank is better; unmatched links rank last.
DEFAULT_RANK_WORDS: list[list[str]] = [
    ["about", "about us", "about-us", "who we are", "our story", "story", "company"],
    ["what we do", "what-we-do", "capabilities", "services", "service", "our services"],
    ["products", "product", "solutions", "industries", "amenities", "menu", "practice areas"],
    ["overview", "team", "our team", "expertise", "specialties"],
]

# Page text extraction: "fast" strips what trafilatura deletes anyway before it, reads a page up to FAST_TEXT_CHARS
# of text and builds links without a urljoin per anchor (same text as "exact" on 105 of the 109 real pages, the same
# first 4,000 characters on 108); "exact" is the extraction from before issue #21, byte for byte.
Extractor = Literal["fast", "exact"]
DEFAULT_EXTRACTOR: Extractor = "fast"
# fast extractor: a page's HTML is read up to where this many characters of visible text (whitespace aside) have
# passed; the classifier sees 4,000 a page ([dataset] page_chars), the exact extractor reads everything
FAST_TEXT_CHARS = 50_000

# How predict and serve run the bundled zero-shot NAICS model when no --model is given (siteclass/bundled.py):
# "int8", its int8 ONNX export built once into a cache folder (same answers measured, ~2x faster), or "torch".
# The environment variable SITECLASS_BUNDLED_BACKEND overrides it (child processes inherit it).
BUNDLED_BACKEND = "int8"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class CrawlSettings(_Section):
    url_column: str = Field("url", min_length=1, description="the sites file's column holding each site's URL")
    max_pages: int = Field(5, ge=1, le=100, description="pages per site, home page included")
    max_depth: int = Field(2, ge=0, le=10, description="link hops from the home page")
    max_failed_pages: int = Field(5, ge=0, description="sub-pages that may fail (404, refused, off-site) per site")
    rank_words: list[list[str]] = Field(default_factory=lambda: [list(g) for g in DEFAULT_RANK_WORDS])
    user_agent: str = USER_AGENT
    obey_robots: bool = True
    concurrent_requests: int = Field(64, ge=1, description="requests in flight across all sites")
    concurrent_per_domain: int = Field(2, ge=1, le=8)
    max_active_sites: int = Field(0, ge=0, description="sites under way at once; 0: concurrent_requests")
    autothrottle: bool = True
    autothrottle_start_delay_s: float = Field(0.25, ge=0, description="first delay between requests to one site")
    autothrottle_max_delay_s: float = Field(10.0, ge=0)
    download_delay_s: float = Field(0.0, ge=0)
    page_timeout_s: float = Field(20.0, gt=0, description="total deadline for one page, bytes trickling or not")
    site_timeout_s: float = Field(120.0, gt=0, description="total deadline for one site")
    retries: int = Field(1, ge=0, le=10, description="retries on 5xx/408/429 and connection errors")
    max_bytes: int = Field(5 * 1024 * 1024, gt=0, description="cap on a decompressed body")
    max_redirects: int = Field(5, ge=0, le=20)
    idle_connection_s: float = Field(10.0, gt=0, description="a kept-alive connection to a site closes after "
                                     "this many idle seconds (Twisted's 240 s kept a socket open per site "
                                     "crawled in the last 4 minutes: 'Too many open files' at 1,024)")
    proxy: str | None = Field(None, description="HTTP proxy every request goes through")
    keep_raw: bool = True
    extractor: Extractor = Field(DEFAULT_EXTRACTOR, description="page text extraction: fast (what "
                                 f"trafilatura deletes anyway stripped before it, the page read up to {FAST_TEXT_CHARS:,} "
                                 "characters of text, links without a urljoin per anchor) or exact (as before #21, "
                                 "byte for byte, all of the page)")
    workers: int = Field(
        -1, ge=-1, validation_alias=AliasChoices("workers", "extract_processes"),
        description="page-processing processes (decode, text, links) beside the downloading one; -1: one per CPU "
        "core, 0: in the crawl process (Scrapyd jobs: 0 unless set); extract_processes is its former name",
    )
    max_pending_pages: int = Field(0, ge=0, description="pages handed to the workers at a time; 0: 4 per worker")
    flush_every: int = Field(50, ge=1, description="sites buffered before a Parquet part is written")
    flush_interval_s: float = Field(10.0, gt=0, description="seconds after which buffered sites are written anyway")
    dns_timeout_s: float = Field(10.0, gt=0)
    log_level: str = "ERROR"


class DatasetSettings(_Section):
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    min_chars: int = Field(20, ge=0)
    balance: Literal["none", "downsample", "upsample", "weights"] = "none"
    downsample_factor: float = Field(1.0, ge=1.0, description="downsample: keep up to factor × smallest class")
    min_per_class: int = Field(0, ge=0)
    pages_per_site: int = Field(5, ge=1)
    page_chars: int = Field(4000, ge=100, description="characters kept per page (a crawl's fast extractor reads a "
                            f"page up to {FAST_TEXT_CHARS:,} characters of text: above that, crawl with extractor = exact)")
    dedup: bool = True
    dedup_threshold: float = Field(0.9, gt=0, le=1.0, description="Jaccard of word shingles for near-duplicates")
    shingle_words: int = Field(3, ge=1, le=10, description="words per shingle of the near-duplicate check")
    seed: int = 42
    fasttext_files: bool = False
    engine: Literal["local", "spark"] = "local"
    text_columns: list[str] = Field(default_factory=list, description="table datasets: text columns, joined")
    label_column: str = Field("label", description="table datasets: the label column (a list column: multi-label)")
    encoding: str = Field("auto", description="character encoding of CSV inputs (--table, --labels): auto (UTF-8, "
                          "else detected, else refused), or a name such as utf-8, cp1252, latin-1")
    min_share: float = Field(
        0.0, ge=0, le=1, description="--labels files with a 'share' column (`siteclass labels agree`'s "
        "consensus.csv): keep only items whose share of agreeing judgements is at least this; 0: keep all"
    )


class LinearParams(_Section):
    C: float = Field(4.0, gt=0, description="inverse regularisation strength of the logistic regression")
    word_ngrams: tuple[int, int] = Field((1, 2), description="word n-gram lengths")
    char_ngrams: tuple[int, int] = Field((2, 5), description="character n-gram lengths (within word bounds)")
    max_features: int = Field(100_000, ge=1000, description="features kept, split evenly word/char")
    min_df: int = Field(2, ge=1)
    sublinear_tf: bool = True
    max_iter: int = Field(300, ge=10, description="solver iterations (lbfgs single-label, liblinear multi-label)")
    class_weight: Literal["none", "balanced"] = Field("none", description="balanced: reweight rare classes")
    max_pages: int = Field(5, ge=1, description="pages of a site record that make its text")
    ovr_tol: float = Field(0.1, gt=0, description="multi-label: stopping tolerance of each one-vs-rest liblinear "
                           "dual solve (liblinear's own default; tighter is slower, same scores)")
    n_jobs: int = Field(0, ge=0, description="multi-label: one-vs-rest problems solved at once (processes); 0: CPUs")


class EnsembleParams(_Section):
    C_svm: float = Field(0.1, gt=0, description="inverse regularisation strength of the per-class linear SVMs")
    C_lr: float = Field(4.0, gt=0, description="inverse regularisation strength of the per-class logistic regressions")
    C_nb: float = Field(0.1, ge=0, description="inverse regularisation strength of the NB-SVM member (per class, "
                        "a linear SVM on the TF-IDF features scaled by their naive-Bayes log-count ratios); 0: "
                        "no such member")
    blend: Literal["val", "fixed"] = Field("val", description="val: the members' weights fitted on val (log-loss; "
                                           "single-label: class-balanced); fixed: svm_weight over the SVM and "
                                           "the LR (also used without a val split)")
    svm_weight: float = Field(0.5, ge=0, le=1, description="blend = fixed: weight of the SVM scores (the LR's: "
                              "1 − it), each member on a probability scale by a temperature fitted on val")
    thresholds: Literal["none", "val"] = Field("val", description="multi-label: val: ONE decision threshold for "
                                               "every class fitted on val (after the blend) to maximise "
                                               "macro-F1, then per-class thresholds shrunk toward it by a "
                                               "factor chosen by cross-validation on val")
    word_ngrams: tuple[int, int] = Field((1, 2), description="word n-gram lengths")
    char_ngrams: tuple[int, int] = Field((2, 5), description="character n-gram lengths (within word bounds)")
    max_features: int = Field(600_000, ge=1000, description="features kept, split evenly word/char")
    min_df: int = Field(2, ge=1)
    sublinear_tf: bool = True
    max_iter: int = Field(1000, ge=10, description="liblinear iterations per binary problem")
    tol: float = Field(0.01, gt=0, description="liblinear stopping tolerance of each binary problem")
    max_pages: int = Field(5, ge=1, description="pages of a site record that make its text")
    n_jobs: int = Field(0, ge=0, description="binary problems solved at once (processes); 0: CPUs")


class HybridParams(EnsembleParams):
    """``hybrid``: the ``ensemble`` parameters (its TF-IDF scorer) plus the frozen-encoder head."""

    encoder: str = Field("all-MiniLM-L6-v2", description="the bundled all-MiniLM-L6-v2, run as an int8 ONNX graph")
    max_tokens: int = Field(128, ge=8, le=512, description="tokens of each record's text the encoder reads")
    C_emb: float | Literal["val"] = Field(
        "val", description="inverse regularisation strength of the logistic regression on the standardised "
        "embeddings; val: the value of C_emb_grid whose regression has the lowest log-loss on val (rows weighed "
        "as the blend weighs them), the grid's middle value without a val split")
    C_emb_grid: tuple[Annotated[float, Field(gt=0)], ...] = Field(
        (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3), min_length=1,
        description="C_emb = val: the values tried, in one pool of processes")
    knn_k: int = Field(25, ge=1, description="neighbours (cosine over the embeddings) whose labels vote")
    knn_power: float = Field(4.0, ge=0, description="a neighbour's vote weighs max(cos, 0) ** knn_power")
    blend: Literal["val", "fixed"] = Field("val", description="val: the weights of the members (the "
                                           "ensemble's SVM, LR and NB-SVM, the embedding LR, the neighbour "
                                           "votes) fitted on val by log-loss (single-label: class-balanced, as "
                                           "the ensemble's); fixed: emb_weight and knn_weight (also used without "
                                           "a val split)")
    emb_weight: float = Field(0.3, ge=0, le=1, description="blend = fixed: weight of the embedding scores (the "
                              "TF-IDF scorer's: 1 − it), each on a probability scale by a temperature")
    knn_weight: float = Field(3.0, ge=0, description="blend = fixed: weight of the neighbour votes (in [0, 1])")

    @field_validator("C_emb", mode="before")
    @classmethod
    def _c_emb(cls, value: Any) -> Any:
        """One message for both forms the field takes (a union would report one error per form)."""
        if value == "val":
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not number > 0:
            raise ValueError(f'use a number > 0 or "val", not {value!r}')
        return number


class FastTextParams(_Section):
    dim: int = Field(64, ge=8, le=1024, description="embedding size")
    word_ngrams: int = Field(2, ge=1, le=5, description="word n-grams 1..N")
    char_ngrams: tuple[int, int] = Field((3, 6), description="character n-gram lengths of each word")
    use_char_ngrams: bool = Field(False, description="add character n-grams (subwords): slower, helps rare words")
    buckets: int = Field(2_000_000, ge=1024, description="hash buckets of the n-gram features")
    lr: float = Field(0.5, gt=0, description="initial learning rate, decayed linearly to 0")
    epochs: int = Field(4, ge=1)
    batch_size: int = Field(64, ge=1, description="rows per step (the global batch under torchrun)")
    loss: Literal["softmax", "ova"] = Field("softmax", description="multi-label data always uses ova")
    optimizer: Literal["adagrad", "sgd", "adam"] = Field("adagrad", description="adagrad: row-wise, sparse")
    min_count: int = Field(1, ge=1, description="features seen fewer times in training are dropped")
    max_tokens: int = Field(2000, ge=16, description="tokens kept per text")
    max_pages: int = Field(5, ge=1, description="pages of a site record that make its text")
    class_weight: Literal["auto", "none", "balanced"] = Field(
        "auto", description="balanced: reweight rare classes (multi-label: their positives, by √odds); "
        "auto: balanced for multi-label data, none for single-label"
    )


class TransformerParams(_Section):
    encoder: str = Field("all-MiniLM-L6-v2", description="'all-MiniLM-L6-v2' (bundled) or a local HF folder")
    max_tokens: int = Field(256, ge=16, le=512)
    pages: int = Field(5, ge=1, le=20)
    pooling: Literal["concat", "attention"] = "concat"
    single_text: bool = Field(False, description="one text per record (table datasets)")
    freeze_encoder: bool = False
    dropout: float = Field(0.1, ge=0, lt=1)
    lr: float = Field(2e-5, gt=0)
    head_lr: float = Field(1e-3, gt=0, description="learning rate of the head when the encoder is frozen")
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    batch_size: int = Field(16, ge=1)
    epochs: int = Field(3, ge=1)


class ZeroShotParams(_Section):
    encoder: str = "all-MiniLM-L6-v2"
    labels_file: str | None = Field(None, description="CSV with label,description; NAICS sectors when unset")
    max_tokens: int = Field(256, ge=16, le=512)
    temperature: float = Field(0.05, gt=0)
    # The bundled NAICS model only (labels_file unset): its 6-digit codes beside the sector prompts. Chosen on
    # the dev half of `python -m bench zeroshot` (Crunchbase rows mapped to sectors), reported on its test half.
    prompt_weight: float = Field(0.4, ge=0, description="bundled NAICS: weight of the sector prompt's cosine")
    code_weight: float = Field(0.6, ge=0, description="bundled NAICS: weight of the mean cosine of a sector's "
                               "top_codes best 6-digit code vectors")
    lexical_weight: float = Field(0.4, ge=0, description="bundled NAICS: weight of the mean TF-IDF cosine of a "
                                  "sector's top_codes best codes (title and index entries); 0: off")
    top_codes: int = Field(2, ge=1, description="bundled NAICS: codes averaged per sector")
    code_group_digits: int = Field(5, ge=2, le=6, description="bundled NAICS: a sector's top codes come one per "
                                   "industry of this many digits (6: any codes)")
    naics_temperature: float = Field(0.05, gt=0, description="bundled NAICS: the blended scores are divided by it "
                                     "before the softmax (temperature applies to other labels)")
    naics_min_confidence: float = Field(
        0.45, ge=0, le=1, description="bundled NAICS: the min_confidence used when [predict]/[serve] min_confidence "
        "is unset (below it the label is 'unknown')"
    )


class TrainSettings(_Section):
    model: str = Field("hybrid", description="hybrid, ensemble, linear, fasttext, transformer, zeroshot, an entry point of the "
                       "'siteclass.models' group, or a class as 'package.module:ClassName'")
    params: dict[str, Any] = Field(default_factory=dict, description="hyperparameters of a model without a table "
                                   "of its own here (a model from another package)")
    seed: int = 42
    early_stopping_patience: int = Field(2, ge=0)
    checkpoint_every_steps: int = Field(0, ge=0, description="0: at the end of each epoch only")
    metric: str = "macro_f1"
    keep_checkpoints: bool = Field(False, description="keep OUT/checkpoints after a successful run")
    calibrate: bool = True
    refit: bool = Field(False, description="choose on val (epochs, calibration, thresholds …), then fit again on "
                        "train + val with those choices and save that model")
    device: str = Field("auto", description="auto, cpu, cuda")
    dist_timeout_s: float = Field(
        1800.0, gt=0, description="torchrun: seconds a rendezvous or collective may wait for the other workers "
        "before the worker fails (torch's default); with --max-restarts the group then restarts"
    )
    linear: LinearParams = Field(default_factory=LinearParams)
    fasttext: FastTextParams = Field(default_factory=FastTextParams)
    ensemble: EnsembleParams = Field(default_factory=EnsembleParams)
    hybrid: HybridParams = Field(default_factory=HybridParams)
    transformer: TransformerParams = Field(default_factory=TransformerParams)
    zeroshot: ZeroShotParams = Field(default_factory=ZeroShotParams)

    @classmethod
    def model_tables(cls) -> set[str]:
        """The names of the ``[train.<model>]`` tables (siteclass's own models); other models use ``params``."""
        return {name for name, f in cls.model_fields.items()
                if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)}


class EvaluateSettings(_Section):
    top_k: tuple[int, ...] = (1, 3, 5)
    examples_per_confusion: int = Field(3, ge=0)
    top_confusions: int = Field(10, ge=0)
    bins: int = Field(15, ge=2, description="bins of the expected calibration error")
    coverage_steps: int = Field(20, ge=2, description="min-confidence thresholds 0, 1/steps, … on the coverage curve")
    snippet_chars: int = Field(240, ge=20, description="characters of text shown per misclassified example")
    batch_size: int = Field(512, ge=1, description="records per predict_proba call")


# Default search space per model. A spec is {type = "float"|"int", low, high, log?, step?},
# {type = "categorical", choices = [...]} or {type = "fixed", value = ...}; keys are [train.<model>] fields.
# `[tune.search_space.<model>]` in a config file overrides these parameter by parameter.
DEFAULT_SEARCH_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "linear": {
        "C": {"type": "float", "low": 0.1, "high": 100.0, "log": True},
        "word_ngrams": {"type": "categorical", "choices": [[1, 1], [1, 2], [1, 3]]},
        "char_ngrams": {"type": "categorical", "choices": [[2, 4], [2, 5], [3, 5], [3, 6]]},
    },
    "fasttext": {
        "lr": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
        "dim": {"type": "int", "low": 100, "high": 200, "step": 10},
        "word_ngrams": {"type": "int", "low": 1, "high": 3},
        "epochs": {"type": "int", "low": 5, "high": 50},
    },
    "ensemble": {
        "C_svm": {"type": "float", "low": 0.02, "high": 1.0, "log": True},
        "C_lr": {"type": "float", "low": 0.5, "high": 30.0, "log": True},
        "C_nb": {"type": "float", "low": 0.02, "high": 1.0, "log": True},
    },
    "hybrid": {
        "C_svm": {"type": "float", "low": 0.02, "high": 1.0, "log": True},
        "C_nb": {"type": "float", "low": 0.02, "high": 1.0, "log": True},
        "knn_k": {"type": "int", "low": 5, "high": 60},
    },
    "transformer": {
        "lr": {"type": "float", "low": 1e-5, "high": 1e-4, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.3},
        "pages": {"type": "int", "low": 1, "high": 5},
        "pooling": {"type": "categorical", "choices": ["concat", "attention"]},
    },
    "zeroshot": {
        "temperature": {"type": "float", "low": 0.01, "high": 0.2, "log": True},
    },
}


class TuneSettings(_Section):
    trials: int = Field(20, ge=1, description="trials in the study in total (a resumed study counts earlier ones)")
    parallel: int = Field(1, ge=1, description="trials run at once, each in its own process")
    metric: str = Field("macro_f1", description="validation metric to optimise (a key of metrics.json)")
    direction: Literal["auto", "maximize", "minimize"] = Field(
        "auto", description="auto: minimize log_loss and ece, maximize the rest"
    )
    timeout_s: float | None = Field(None, description="stop starting new trials after this many seconds")
    seed: int = 42
    prune_fractions: tuple[float, ...] = Field(
        (0.25, 0.5, 1.0), description="training-set shares fitted in turn, each reported to the median pruner"
    )
    pruner_startup_trials: int = Field(3, ge=0, description="trials completed before the median pruner acts")
    sampler_startup_trials: int = Field(5, ge=1, description="random trials before TPE takes over")
    retrain: bool = Field(True, description="refit the best settings on train+val into TUNE/best_model")
    search_space: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per model, parameter specs overriding DEFAULT_SEARCH_SPACES"
    )


class PredictSettings(_Section):
    top_k: int = Field(5, ge=1)
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="below this probability the label is 'unknown'; unset: the model's own "
        "default (the bundled NAICS model: [train.zeroshot] naics_min_confidence; others: 0)"
    )
    batch_size: int = Field(256, ge=1, description="sites per model call")
    engine: Literal["local", "spark"] = "local"
    memory_limit_mb: int = Field(
        512, ge=16, description="memory for regrouping a pages file whose sites are scattered (spills to disk)"
    )
    progress: bool = True
    overrides: str | None = Field(None, description="overrides file (domain|site_id,label[,note]): these sites get "
                                  "the file's label (probability 1.0, source 'override') whatever the model says")


class ServeSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    top_k: int = Field(5, ge=1)
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="below this probability the label is 'unknown'; unset: the model's own "
        "default (the bundled NAICS model: [train.zeroshot] naics_min_confidence; others: 0)"
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1)
    deadline_s: float = Field(30.0, gt=0)
    max_concurrency: int = Field(64, ge=1)
    max_batch_items: int = Field(1000, ge=1, le=10_000, description="items per /v1/predict/batch request "
                                 "(the body must also fit max_body_bytes)")
    microbatch_max: int = Field(64, ge=1)
    microbatch_wait_ms: float = Field(
        0.0, ge=0, description="extra wait for more requests before a model call; 0: take what is queued"
    )
    cache_ttl_s: float = Field(3600.0, ge=0)
    cache_size: int = Field(10_000, ge=0)
    allow_private: bool = Field(False, description="lift the SSRF guard: live fetches may reach private addresses")
    allow_networks: list[str] = Field(
        default_factory=list, description="CIDR ranges the live fetch may reach although they are not public"
    )
    proxy: str | None = Field(
        None, description="HTTP proxy the live fetch goes through; it is sent the address the guard checked"
    )
    proxy_resolves: bool = Field(
        False, description="with a proxy: names that do not resolve here go to the proxy unchecked; "
        "the proxy must then refuse private addresses itself"
    )
    workers: int = Field(1, ge=1)
    access_log: bool = Field(True, description="uvicorn's log line per request (log level info); it costs the "
                             "HTTP side CPU time at thousands of requests/s")
    fetch_timeout_s: float = Field(20.0, gt=0, description="total time for one live site fetch (status timeout)")
    inference: Literal["auto", "thread", "inline", "process"] = Field(
        "auto", description="run the model in a worker thread, inline in the event loop, or in a child process "
        "(models whose inference is mostly Python: fasttext, linear); auto: a child process for a fasttext or "
        "linear model folder (inline with several workers), a worker thread for the others"
    )
    model_cpus: int = Field(
        0, ge=0, description="CPUs reserved for the model process (inference 'process', one worker, Linux): it runs "
        "on the last N CPUs this process may use and the HTTP process on the others; 0: no pinning"
    )
    gc_freeze: bool = Field(
        True, description="once the model is loaded, exempt every object so far from garbage-collector scans "
        "(gc.freeze: collections stop rescanning the model and libraries on every request burst)"
    )
    overrides: str | None = Field(None, description="overrides file (domain|site_id,label[,note]); re-read when it "
                                  "changes, without a restart; its sites get its label with source 'override'")


class LabelsSettings(_Section):
    max_seconds: float | None = Field(
        None, gt=0, description="agree: mark the groups whose median seconds per judgement is within this"
    )
    tie_items: int = Field(200, ge=0, description="agree: tied items listed in report.html (all are in consensus.csv)")
    confusion_labels: int = Field(
        50, ge=2, description="agree: labels shown in the report's confusion picture (the most judged; the rest "
        "as one '(other)')"
    )
    memory_limit_mb: int = Field(1024, ge=64, description="agree: DuckDB memory for the group-bys (spills to disk)")
    threads: int = Field(0, ge=0, description="agree: DuckDB threads; 0: one per CPU")
    strategy: Literal["margin", "entropy", "diverse"] = Field(
        "margin", description="queue: margin (smallest gap between the two best probabilities), entropy (largest), "
        "diverse (smallest margins, round-robin over the predicted labels)"
    )
    budget: int = Field(200, ge=1, description="queue: sites to write")
    top_k: int = Field(3, ge=1, description="queue: labels and probabilities shown per site")
    digits: int = Field(2, ge=1, le=6, description="queue: decimals of the probabilities shown")
    titles: int = Field(5, ge=0, description="queue with --crawl: page titles shown per site, in crawl order")


class ScrapydSettings(_Section):
    urls: list[str] = Field(default_factory=list, description="Scrapyd servers the crawl is spread across")
    project: str = "siteclass"
    chunk_size: int = Field(100, ge=1, description="sites per Scrapyd job")
    max_running: int = Field(10, ge=1, description="jobs started per server (set Scrapyd's slots to match)")
    max_pending: int = Field(5, ge=0, description="jobs queued per server on top of max_running")
    poll_s: float = Field(15.0, gt=0, description="seconds between listjobs.json polls")
    min_poll_s: float = Field(1.0, gt=0, description="polls come this soon when a job is expected to end")
    chunk_retries: int = Field(1, ge=0, description="retries of a chunk whose job ended without all its sites")
    lost_retries: int = Field(3, ge=0, description="reschedules of a chunk its server forgot (a restart)")
    server_down_s: float = Field(600.0, gt=0, description="an unreachable server's chunks move elsewhere after")
    http_timeout_s: float = Field(60.0, gt=0, description="timeout of one Scrapyd API call")
    keep_chunks: bool = Field(False, description="keep OUT/_chunks after the merge")
    # `siteclass scrapyd-conf`
    bind_address: str = "127.0.0.1"
    http_port: int = Field(6800, ge=0, le=65535)
    max_proc: int = Field(0, ge=0, description="Scrapyd process slots; 0: max_proc_per_cpu × CPUs")
    max_proc_per_cpu: int = Field(4, ge=1)
    queue_poll_s: float = Field(1.0, gt=0, description="Scrapyd's own queue poll interval")
    finished_to_keep: int = Field(100_000, ge=1, description="finished jobs Scrapyd remembers")


class SparkSettings(_Section):
    master: str = "local[*]"
    app_name: str = "siteclass"
    partitions: int = Field(0, ge=0, description="0: Spark's default")
    batch_size: int = Field(1024, ge=1, description="rows per Arrow batch in mapInPandas")
    console_progress: bool = Field(False, description="Spark's own stage progress lines on stderr (siteclass "
                                   "prints its own progress)")


class Settings(_Section):
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    tune: TuneSettings = Field(default_factory=TuneSettings)
    predict: PredictSettings = Field(default_factory=PredictSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    labels: LabelsSettings = Field(default_factory=LabelsSettings)
    scrapyd: ScrapydSettings = Field(default_factory=ScrapydSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)


S = TypeVar("S", bound=BaseModel)

SETTINGS_FILE = "settings.toml"


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"train.fasttext.lr": 0.1}`` → ``{"train": {"fasttext": {"lr": 0.1}}}``; None values are skipped."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        node = nested
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return nested


def load_settings(config: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Defaults ← TOML file ← overrides (dotted keys such as ``"crawl.max_pages"``; None means 'not given')."""
    data: dict[str, Any] = {}
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise InputError(f"config file {path} does not exist; pass a TOML file such as settings.toml")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"config file {path} is not valid TOML: {exc}") from exc
    data = _deep_merge(data, _nest(overrides or {}))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        where = f"config file {config}" if config else "settings"
        raise InputError(f"invalid {where}: {validation_problems(exc)}") from exc


def validation_problems(exc: ValidationError) -> str:
    """A pydantic error as one line: ``epochs: Input should be greater than or equal to 1; …``."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
                     for err in exc.errors())


def settings_dict(settings: BaseModel) -> dict[str, Any]:
    """Plain TOML-safe dict (tuples → lists, None dropped)."""

    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if x is not None}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return clean(settings.model_dump(mode="json"))  # type: ignore[no-any-return]


def save_settings(settings: BaseModel, directory: str | Path, section: str | None = None) -> Path:
    """Write ``settings.toml`` in *directory*; with *section* the table is nested under that name."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = settings_dict(settings)
    if section:
        for part in reversed(section.split(".")):
            data = {part: data}
    path = directory / SETTINGS_FILE
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def read_saved_settings(directory: str | Path) -> Settings:
    """The settings saved beside an artifact (defaults where it saved none)."""
    path = Path(directory) / SETTINGS_FILE
    return load_settings(path if path.is_file() else None)
