"""``fasttext``: a fastText-style classifier in torch, fast on CPU.

Text → lower-cased word tokens → hashed features: words, word n-grams (2..``word_ngrams``) and optionally
character n-grams of each word (``<word>`` sliced to ``char_ngrams`` lengths), all hashed with CRC-32 into
``buckets`` (deterministic across processes and machines — never Python's ``hash``). The features of a text
are averaged by an ``nn.EmbeddingBag(mode="mean")`` and fed to a linear layer: softmax (single-label) or
one-vs-all sigmoids (``loss="ova"``, always for multi-label). Optimiser: row-wise Adagrad (default; sparse,
one accumulator per feature row), plain SGD or Adam, all with fastText's linear learning-rate decay to 0. Each
batch's bag means are ``A @ E[rows]`` over the batch's distinct feature rows, so the embedding gradient is a small
coalesced sparse tensor (cheap on CPU, and DDP all-reduces it as is). Training runs through
:mod:`siteclass.models.torchloop` (checkpoints, resume, early stopping, DDP); the torch parts (network, row-wise
Adagrad, learning-rate decay) are in :mod:`siteclass.models.fasttext_torch`.

Only the hashed features seen in training get a row (the table is compacted), so saved models are small;
features never seen are ignored at prediction time, like fastText's out-of-vocabulary words. Prediction runs
in numpy (no torch needed): a sparse averaging matrix times the precomputed ``embedding @ W.T``.
"""

from __future__ import annotations

import re
import zlib
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import numpy as np

from siteclass.config import TrainSettings
from siteclass.models.base import Classifier
from siteclass.records import Record, record_text

_TOKEN = re.compile(r"\w+", re.UNICODE)
_PRIME = np.uint64(116049371)  # fastText's n-gram hash multiplier
_CHAR_SEED = 0x5BD1E995  # CRC-32 start value for character n-grams (a separate hash namespace)
_CACHE_WORDS = 500_000  # words whose hashes a model keeps between calls


# ----------------------------------------------------------------------------------------------- features
class Hasher:
    """Texts → CSR (``ptr``, ``ids``) of hashed feature ids in ``[0, buckets)``.

    The hashes of words (and of their character n-grams) are kept in *cache* (a dict shared by every call of one
    model, emptied when it passes ``_CACHE_WORDS`` words), so a word is hashed once however often it comes back;
    the per-token work runs in C (``dict.fromkeys``, ``map``), which makes small batches nearly as cheap per
    record as large ones."""

    def __init__(
        self,
        word_ngrams: int,
        char_ngrams: tuple[int, int],
        use_char_ngrams: bool,
        buckets: int,
        max_tokens: int,
        cache: dict[str, Any] | None = None,
    ) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = (int(char_ngrams[0]), int(char_ngrams[1]))
        self.use_char_ngrams = use_char_ngrams
        self.buckets = buckets
        self.max_tokens = max_tokens
        self.cache: dict[str, Any] = {} if cache is None else cache

    def _subwords(self, word: str) -> list[int]:
        w = f"<{word}>"
        lo, hi = self.char_ngrams
        return [
            zlib.crc32(w[i : i + n].encode("utf-8"), _CHAR_SEED)
            for n in range(lo, hi + 1)
            for i in range(len(w) - n + 1)
        ]

    def _hashes(self, words: list[str]) -> list[Any]:
        """Per word: its crc32, or (crc32, subword hashes) with character n-grams — from the cache when there."""
        cache = self.cache
        found = list(map(cache.get, words))
        if None in found:
            if len(cache) > _CACHE_WORDS:
                cache.clear()
            for i, (w, h) in enumerate(zip(words, found)):
                if h is None:
                    crc = zlib.crc32(w.encode("utf-8"))
                    found[i] = cache[w] = (crc, self._subwords(w)) if self.use_char_ngrams else crc
        return found

    def transform(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        token_lists = [_TOKEN.findall(text.lower())[: self.max_tokens] for text in texts]
        lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
        tokens = list(chain.from_iterable(token_lists))
        words = list(dict.fromkeys(tokens))  # distinct words in order of first appearance
        index = dict(zip(words, range(len(words))))
        toks = np.fromiter(map(index.__getitem__, tokens), dtype=np.int64, count=len(tokens))
        doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        hashes = self._hashes(words)
        crcs = [h[0] for h in hashes] if self.use_char_ngrams else hashes
        word_hash = np.fromiter(crcs, dtype=np.uint64, count=len(words))
        H = word_hash[toks]
        feats, docs = [H], [doc]
        for n in range(2, self.word_ngrams + 1):
            if len(H) < n:
                break
            m = len(H) - n + 1
            valid = doc[: m] == doc[n - 1 :]
            g = H[:m].copy()
            for k in range(1, n):
                g = g * _PRIME + H[k : k + m]
            g = g ^ np.uint64((0x9E3779B97F4A7C15 * n) % 2**64)
            feats.append(g[valid])
            docs.append(doc[:m][valid])
        if self.use_char_ngrams and len(words):
            subs = [h[1] for h in hashes]
            sub_len = np.fromiter(map(len, subs), dtype=np.int64, count=len(subs))
            sub_ptr = np.concatenate([[0], np.cumsum(sub_len)])
            sub_hash = np.fromiter(chain.from_iterable(subs), dtype=np.uint64, count=int(sub_ptr[-1]))
            per_tok = sub_len[toks]
            total = int(per_tok.sum())
            starts = np.repeat(sub_ptr[toks] - (np.cumsum(per_tok) - per_tok), per_tok)
            feats.append(sub_hash[starts + np.arange(total)])
            docs.append(np.repeat(doc, per_tok))
        all_ids = (np.concatenate(feats) % np.uint64(self.buckets)).astype(np.int64)
        all_docs = np.concatenate(docs)
        order = np.argsort(all_docs, kind="stable")
        counts = np.bincount(all_docs, minlength=len(texts))
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return ptr, all_ids[order]


def _gather(ptr: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CSR rows ``rows`` as (flat ids, offsets) for EmbeddingBag."""
    lengths = ptr[rows + 1] - ptr[rows]
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    total = int(lengths.sum())
    idx = np.repeat(ptr[rows] - offsets, lengths) + np.arange(total)
    return ids[idx], offsets


def _local_bags(ptr: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The batch's distinct feature rows and its sparse averaging matrix ``A`` (batch × distinct), as COO
    (indices, values, n_distinct): bag means = A @ E[rows]."""
    flat, _ = _gather(ptr, ids, rows)
    lengths = ptr[rows + 1] - ptr[rows]
    uniq, inverse = np.unique(flat, return_inverse=True)
    doc = np.repeat(np.arange(len(rows)), lengths)
    weights = np.repeat(1.0 / np.maximum(lengths, 1), lengths)
    cells, cell_inv = np.unique(doc * len(uniq) + inverse, return_inverse=True)
    values = np.bincount(cell_inv, weights=weights)
    A = np.stack([cells // len(uniq), cells % len(uniq)]).astype(np.int64)  # sparse (doc, row) → weight
    return uniq.astype(np.int64), A, values.astype(np.float32), len(uniq)


# ----------------------------------------------------------------------------------------------- the model
_T = TrainSettings()  # hyperparameter defaults live in siteclass.config, nowhere else
_P = _T.fasttext


class FastTextClassifier(Classifier):
    """Hashed word/char n-grams → mean embedding → linear; see the module docstring."""

    model_type = "fasttext"
    gil_bound = True  # tokenising and hashing in Python: serve gives it a model process
    checkpoints = True
    epoch_callbacks = True
    distributed = True  # every torchrun rank trains its share of each batch

    def __init__(
        self,
        dim: int = _P.dim,
        word_ngrams: int = _P.word_ngrams,
        char_ngrams: tuple[int, int] = _P.char_ngrams,
        use_char_ngrams: bool = _P.use_char_ngrams,
        buckets: int = _P.buckets,
        lr: float = _P.lr,
        epochs: int = _P.epochs,
        batch_size: int = _P.batch_size,
        loss: Literal["softmax", "ova"] = _P.loss,
        optimizer: Literal["adagrad", "sgd", "adam"] = _P.optimizer,
        min_count: int = _P.min_count,
        max_tokens: int = _P.max_tokens,
        max_pages: int = _P.max_pages,
        class_weight: Literal["auto", "none", "balanced"] = _P.class_weight,
        seed: int = _T.seed,
        early_stopping_patience: int = _T.early_stopping_patience,
        checkpoint_every_steps: int = _T.checkpoint_every_steps,
        metric: str = _T.metric,
        device: str = _T.device,
    ) -> None:
        self.dim = dim
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.use_char_ngrams = use_char_ngrams
        self.buckets = buckets
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.loss = loss
        self.optimizer = optimizer
        self.min_count = min_count
        self.max_tokens = max_tokens
        self.max_pages = max_pages
        self.class_weight = class_weight
        self.seed = seed
        self.early_stopping_patience = early_stopping_patience
        self.checkpoint_every_steps = checkpoint_every_steps
        self.metric = metric
        self.device = device

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> FastTextClassifier:
        p = settings.fasttext
        return cls(
            **p.model_dump(),
            seed=settings.seed,
            early_stopping_patience=settings.early_stopping_patience,
            checkpoint_every_steps=settings.checkpoint_every_steps,
            metric=settings.metric,
            device=settings.device,
        )

    # --------------------------------------------------------------- features
    def _hasher(self) -> Hasher:
        key = (tuple(self.char_ngrams), self.use_char_ngrams)  # what a cached entry depends on
        if getattr(self, "_hash_cache_key", None) != key:  # first call, or the settings changed since
            self._hash_cache: dict[str, Any] = {}
            self._hash_cache_key = key
        return Hasher(self.word_ngrams, tuple(self.char_ngrams), self.use_char_ngrams, self.buckets,  # type: ignore[arg-type]
                      self.max_tokens, self._hash_cache)

    def _features(self, records: list[Record]) -> tuple[np.ndarray, np.ndarray]:
        """CSR of compact feature rows (features unseen in training dropped)."""
        ptr, ids = self._hasher().transform([record_text(r, self.max_pages) for r in records])
        if getattr(self, "_rows", None) is None:
            self._rows: Any = np.full(self.buckets, -1, dtype=np.int32)  # hashed id → embedding row, -1: unseen
            self._rows[self.vocab_] = np.arange(len(self.vocab_), dtype=np.int32)
        rows = self._rows[ids]
        hit = rows >= 0
        doc = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
        kept = np.bincount(doc[hit], minlength=len(ptr) - 1)
        return np.concatenate([[0], np.cumsum(kept)]).astype(np.int64), rows[hit].astype(np.int64)

    # --------------------------------------------------------------- training
    def _fit(
        self,
        records: list[Record],
        Y: np.ndarray,
        *,
        val: tuple[list[Record], np.ndarray] | None,
        sample_weight: np.ndarray | None,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        progress: bool = True,
        epoch_callback: Any = None,
        **options: Any,
    ) -> None:
        import torch

        from siteclass.metrics import classification_metrics
        from siteclass.models.fasttext_torch import LinearDecay, MultiOptimizer, fasttext_net, row_adagrad
        from siteclass.models.torchloop import seed_everything

        ptr, hashed = self._hasher().transform([record_text(r, self.max_pages) for r in records])
        uniq, inverse, counts = np.unique(hashed, return_inverse=True, return_counts=True)
        keep = counts >= self.min_count
        self.vocab_ = uniq[keep] if keep.any() else np.zeros(1, dtype=np.int64)
        self._rows = None
        row_of = np.where(keep, np.cumsum(keep) - 1, -1)[inverse.reshape(-1)]  # hashed id → embedding row
        doc = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
        ptr = np.concatenate([[0], np.cumsum(np.bincount(doc[row_of >= 0], minlength=len(ptr) - 1))])
        ids = row_of[row_of >= 0].astype(np.int64)
        multi = self.multi_label_
        ova = multi or self.loss == "ova"
        n_classes = len(self.classes_)
        seed_everything(self.seed)
        net = fasttext_net(len(self.vocab_), self.dim, n_classes)
        y_t = torch.as_tensor(Y, dtype=torch.float32 if multi else torch.int64)
        if not multi and ova:
            y_t = torch.nn.functional.one_hot(y_t, n_classes).float()
        weights = np.asarray(sample_weight if sample_weight is not None else np.ones(len(Y)), dtype=np.float64)
        pos_weight = None
        if self.class_weight in ("balanced", "auto") and multi:  # rare labels: up-weight positives (√odds)
            pos = Y.sum(axis=0).clip(1, None)
            pos_weight = torch.as_tensor(np.sqrt((len(Y) - pos) / pos), dtype=torch.float32)
        elif self.class_weight == "balanced":
            counts = np.bincount(Y, minlength=n_classes).clip(1, None)
            weights = weights * (len(Y) / (n_classes * counts))[Y]
        w_t = torch.as_tensor(weights, dtype=torch.float32)
        ptr_np = ptr

        def batch_loss(module: Any, idx: np.ndarray, device: Any) -> Any:
            uniq, cells, values, n_uniq = _local_bags(ptr_np, ids, idx)
            A = torch.sparse_coo_tensor(torch.from_numpy(cells), torch.from_numpy(values), (len(idx), n_uniq),
                                        is_coalesced=True, check_invariants=False)
            logits = module(torch.from_numpy(uniq).to(device), A.to(device))
            target = y_t[torch.from_numpy(idx)].to(device)
            if ova:
                per = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, target, reduction="none",
                    pos_weight=pos_weight.to(device) if pos_weight is not None else None,
                ).sum(1)
            else:
                per = torch.nn.functional.cross_entropy(logits, target, reduction="none")
            return (per * w_t[torch.from_numpy(idx)].to(device)).mean()

        evaluate = None
        if val is not None:
            vptr, vids = self._features(val[0])
            Y_val = val[1]

            def evaluate(module: Any) -> dict[str, float]:
                dev = next(module.parameters()).device
                rows = np.arange(len(vptr) - 1)
                flat, offsets = _gather(vptr, vids, rows)
                logits = module.out(module.emb(torch.from_numpy(flat).to(dev), torch.from_numpy(offsets).to(dev)))
                return classification_metrics(Y_val, logits.float().cpu().numpy(), multi)

        def make_optimizer(module: Any) -> Any:
            if self.optimizer == "adagrad":
                return row_adagrad(module.parameters(), lr=self.lr)
            if self.optimizer == "adam":
                return MultiOptimizer(
                    torch.optim.SparseAdam(list(module.emb.parameters()), lr=self.lr),
                    torch.optim.Adam(list(module.out.parameters()), lr=self.lr),
                )
            return torch.optim.SGD(module.parameters(), lr=self.lr)

        def make_scheduler(optimizer: Any, total_steps: int) -> Any:
            return LinearDecay(optimizer, total_steps)

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small sparse ops: one thread beats contended OpenMP by far
        try:
            result = self._run_loop(net, len(Y), batch_loss, make_optimizer, make_scheduler, evaluate, val,
                                    checkpoint_dir, resume, progress, epoch_callback)
        finally:
            torch.set_num_threads(threads)
        net = net.cpu()
        self.embedding_ = net.emb.weight.detach().numpy().astype(np.float32, copy=True)
        self.weight_ = net.out.weight.detach().numpy().astype(np.float32, copy=True)
        self.bias_ = net.out.bias.detach().numpy().astype(np.float32, copy=True)
        self.card_["history"] = result.history
        self.card_["best_epoch"] = result.best_epoch
        self.card_["stopped_early"] = result.stopped_early
        if result.resumed_from:
            self.card_["resumed_from"] = result.resumed_from

    def _run_loop(
        self, net: Any, n: int, batch_loss: Any, make_optimizer: Any, make_scheduler: Any, evaluate: Any,
        val: Any, checkpoint_dir: str | Path | None, resume: bool, progress: bool, epoch_callback: Any,
    ) -> Any:
        from siteclass.models.torchloop import LoopSettings, fit_loop

        settings = LoopSettings.for_model(self, has_val=val is not None, checkpoint_dir=checkpoint_dir,
                                          resume=resume, progress=progress, desc="fasttext")
        return fit_loop(net, n, batch_loss, make_optimizer, make_scheduler=make_scheduler, evaluate=evaluate,
                        on_epoch_end=epoch_callback, settings=settings)

    # --------------------------------------------------------------- prediction (numpy)
    def _logits(self, records: list[Record]) -> np.ndarray:
        from scipy import sparse

        ptr, ids = self._features(records)
        lengths = np.diff(ptr)
        vals = np.repeat(1.0 / np.maximum(lengths, 1), lengths).astype(np.float32)
        M = sparse.csr_matrix((vals, ids, ptr), shape=(len(lengths), len(self.vocab_)))
        hidden = np.asarray(M @ self.embedding_, dtype=np.float64)
        return hidden @ self.weight_.T.astype(np.float64) + self.bias_.astype(np.float64)

    # --------------------------------------------------------------- persistence
    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {"vocab": self.vocab_, "embedding": self.embedding_, "weight": self.weight_, "bias": self.bias_}
        return arrays, {"n_features": len(self.vocab_), "hash": "crc32", "tokenizer": _TOKEN.pattern}

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        self.vocab_ = arrays["vocab"].astype(np.int64)
        self.embedding_ = arrays["embedding"]
        self.weight_ = arrays["weight"]
        self.bias_ = arrays["bias"]
        self._rows = None
