"""``hybrid``: the ``ensemble``'s TF-IDF scorers (SVM, LR, NB-SVM) plus frozen MiniLM embeddings, stacked.

TF-IDF sees the words; a frozen sentence encoder sees what they mean (synonyms, paraphrases, words the training
set never had), and the labels of a site's nearest training sites carry what one linear boundary per class misses.
They make different mistakes, so their blend beats each (issue #18). Fitting:

1. the ``ensemble`` model's three per-class scorers over TF-IDF (linear SVM, logistic regression, NB-SVM; same
   parameters, one pool of processes), kept apart as members of the stack below;
2. every text (the same ``record_text`` as the TF-IDF, truncated to ``max_tokens`` tokens) encoded by the bundled
   all-MiniLM-L6-v2 as an **int8 ONNX graph** (built once per process with ``models.onnx_graph``'s fusion and
   quantisation, ~10 s; ~3× faster than the fp32 encoder in torch on CPU), mean-pooled (384-d);
3. a logistic regression on the standardised embeddings (balanced class weights; multinomial for single-label,
   one-vs-rest for multi-label). Its ``C_emb`` is chosen on val (``C_emb = "val"``, the default): one regression
   per value of ``C_emb_grid``, the one with the lowest val log-loss kept — the frozen embeddings' head wants far
   more regularisation on a 40-class table of 6K rows (0.003) than on 47 labels over 26K rows (0.01), and a head
   fitted too loosely hands the stack overconfident, noisy scores;
4. nearest-neighbour label votes over the same embeddings (``models.neighbors``: the ``knn_k`` most similar
   training rows, kept in the model as float16);
5. the stack: ``logits = w_svm · svm + w_lr · lr + w_nb · nbsvm + w_emb · emb + w_knn · votes + b`` with the
   weights (and, multi-label, the bias) fitted on val by log-loss exactly as the ``ensemble`` fits its own
   (``calibration.fit_blend``; single-label: each val row weighs its class's balanced weight, as every member
   was trained), a few numbers shared by every class that a val split of a few hundred rows fits without
   overfitting; with ``thresholds = "val"`` (multi-label) ONE decision threshold for all classes is fitted on
   val to maximise macro-F1 and folded into ``b``, then per-class thresholds shrunk toward it by a factor chosen
   by cross-validation on val (``ensemble.fit_shrunk_thresholds``: 0 where val cannot support them). Without a
   val split, or with ``blend = "fixed"``, the weights are ``emb_weight`` and ``knn_weight`` over
   temperature-scaled scores beside the ensemble's fixed SVM + LR blend.

The SVM, LR and NB-SVM are linear in the same features, so after the blend they are folded into ONE coefficient
matrix (with the bias and the per-class thresholds in its intercepts): the saved model is no larger and predicts
no slower for three TF-IDF members than for one. ``model.safetensors`` holds those coefficients, the embedding
head, the neighbours' embeddings and labels, and the two remaining weights; the int8 encoder graph and its
tokenizer are saved in the model folder (``encoder/``), so a saved model predicts with numpy, scipy, tokenizers
and onnxruntime only (no torch); fitting needs torch and onnx to build the graph. The int8 graph *is* the model's
encoder (fit and predict use the same one), so ``siteclass export`` has nothing to add: ``onnx_export`` is
False. ``train --refit`` keeps what val chose: the embedding head's C (``refit_params``), the weights and
thresholds (``carry_choices``, the ensemble's).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Literal

import numpy as np

from siteclass.config import TrainSettings
from siteclass.errors import InputError, ModelError
from siteclass.models.calibration import log_loss
from siteclass.models.encoder import ENCODER_DIR, Encoder, copy_tokenizer, get_encoder, resolve_encoder
from siteclass.models.ensemble import SparseEnsembleClassifier
from siteclass.models.neighbors import NeighbourVotes
from siteclass.records import Record, record_text

_T = TrainSettings()  # hyperparameter defaults live in siteclass.config, nowhere else
_P = _T.hybrid
INT8_FILE = "encoder.int8.onnx"
_CALIBRATION_TOKENS = 256  # the int8 graph's SmoothQuant factors: from siteclass.export's calibration texts

_GRAPHS: dict[str, Path] = {}
_GRAPHS_LOCK = threading.Lock()


def int8_encoder_graph(encoder: str) -> Path:
    """The int8 ONNX graph of an encoder reference, built once per process (in a temporary folder)."""
    folder = resolve_encoder(encoder)
    key = str(folder.resolve())
    with _GRAPHS_LOCK:
        path = _GRAPHS.get(key)
        if path is not None and path.is_file():
            return path
        try:
            from siteclass.models.bert import export_bert_onnx, load_bert
            from siteclass.models.encoder import TextTokenizer
            from siteclass.models.onnx_graph import _CALIBRATION, OPSET, fuse_bert_graph, quantize_int8
        except ImportError as exc:
            raise ModelError("fitting a hybrid model (the default) needs torch, onnx and onnxruntime: pip install "
                             "'siteclass[torch,onnx]', or choose --model ensemble (TF-IDF only), which needs "
                             f"neither ({exc})") from exc
        tmp = Path(tempfile.mkdtemp(prefix="siteclass-int8-"))
        atexit.register(shutil.rmtree, tmp, True)
        bert = load_bert(folder)
        export_bert_onnx(bert, tmp / "raw.onnx", opset=OPSET)
        fuse_bert_graph(tmp / "raw.onnx", tmp / "fp32.onnx", bert.config)
        tokenizer = TextTokenizer(folder, _CALIBRATION_TOKENS)
        batches = [tokenizer(_CALIBRATION[i : i + 8]) for i in range(0, len(_CALIBRATION), 8)]
        copy_tokenizer(folder, tmp / ENCODER_DIR)  # the graph beside its tokenizer, as in a saved model folder
        path = tmp / ENCODER_DIR / INT8_FILE
        quantize_int8(tmp / "fp32.onnx", path, batches, int(bert.config["intermediate_size"]))
        for name in ("raw.onnx", "fp32.onnx"):
            (tmp / name).unlink(missing_ok=True)
        _GRAPHS[key] = path
        return path


class HybridClassifier(SparseEnsembleClassifier):
    """``ensemble`` over TF-IDF + a logistic regression over frozen MiniLM embeddings; see the module docstring."""

    model_type = "hybrid"
    _other_members = ("emb", "knn")  # blend members beside the TF-IDF scorers
    onnx_export = False  # its encoder already is an (int8) ONNX graph, saved with the model
    _enc: Encoder | None = None
    _graph: Path | None = None

    def __init__(
        self,
        encoder: str = _P.encoder,
        max_tokens: int = _P.max_tokens,
        C_emb: float | Literal["val"] = _P.C_emb,
        C_emb_grid: tuple[float, ...] = _P.C_emb_grid,
        C_nb: float = _P.C_nb,
        knn_k: int = _P.knn_k,
        knn_power: float = _P.knn_power,
        blend: Literal["val", "fixed"] = _P.blend,
        emb_weight: float = _P.emb_weight,
        knn_weight: float = _P.knn_weight,
        C_svm: float = _P.C_svm,
        C_lr: float = _P.C_lr,
        svm_weight: float = _P.svm_weight,
        thresholds: Literal["none", "val"] = _P.thresholds,
        word_ngrams: tuple[int, int] = _P.word_ngrams,
        char_ngrams: tuple[int, int] = _P.char_ngrams,
        max_features: int = _P.max_features,
        min_df: int = _P.min_df,
        sublinear_tf: bool = _P.sublinear_tf,
        max_iter: int = _P.max_iter,
        tol: float = _P.tol,
        max_pages: int = _P.max_pages,
        n_jobs: int = _P.n_jobs,
        seed: int = _T.seed,
    ) -> None:
        super().__init__(C_svm=C_svm, C_lr=C_lr, svm_weight=svm_weight, thresholds=thresholds,
                         word_ngrams=word_ngrams, char_ngrams=char_ngrams, max_features=max_features, min_df=min_df,
                         sublinear_tf=sublinear_tf, max_iter=max_iter, tol=tol, max_pages=max_pages, n_jobs=n_jobs,
                         seed=seed)
        self.encoder = encoder
        self.max_tokens = max_tokens
        self.C_emb = C_emb
        self.C_emb_grid = C_emb_grid
        self.C_nb = C_nb
        self.knn_k = knn_k
        self.knn_power = knn_power
        self.blend = blend
        self.emb_weight = emb_weight
        self.knn_weight = knn_weight

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> HybridClassifier:
        return cls(**settings.hybrid.model_dump(), seed=settings.seed)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()  # without the unfolded TF-IDF members
        state.pop("_enc", None)  # an ONNX Runtime session does not pickle: rebuilt on first use
        return state

    def _member_kinds(self) -> tuple[str, ...]:
        """The NB-SVM whatever ``blend`` says: it is a member of this model's own stack, fixed blend included."""
        return ("svm", "lr", "nbsvm") if self.C_nb > 0 else ("svm", "lr")

    # --------------------------------------------------------------- encoder
    def _encoder(self) -> Encoder:
        enc = self._enc
        if enc is None:
            graph = self._graph
            if graph is None:
                graph = int8_encoder_graph(self.encoder)
                self._graph = graph
            enc = get_encoder(graph.parent, self.max_tokens, "onnx", onnx_path=graph)
            self._enc = enc
        return enc

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self._encoder().encode(texts).astype(np.float64)

    # --------------------------------------------------------------- fit / logits
    def _fit(
        self,
        records: list[Record],
        Y: np.ndarray,
        *,
        val: tuple[list[Record], np.ndarray] | None,
        sample_weight: np.ndarray | None,
        **options: Any,
    ) -> None:
        if not 0.0 <= self.emb_weight <= 1.0:
            raise InputError(f"emb_weight {self.emb_weight} is not a blend weight; use a value in [0, 1]")
        self._graph = int8_encoder_graph(self.encoder)  # first: without torch and onnx, fail before any work
        self._enc = None
        thresholds, blend_kind = self.thresholds, self.blend
        self.thresholds, self.blend = "none", "fixed"
        try:  # the ensemble's members (SVM, LR, NB-SVM: one pool); the blend and thresholds come after the stack
            super()._fit(records, Y, val=val, sample_weight=sample_weight, **options)
        finally:
            self.thresholds, self.blend = thresholds, blend_kind
        fixed = dict(self.card_["blend"])  # the ensemble's fixed SVM + LR weights: the fixed blend's TF-IDF member
        texts = [record_text(r, self.max_pages) for r in records]
        E = self._embed(texts)
        held = None  # val's texts, embeddings and labels (Classifier.fit hands val only when it has rows)
        if val is not None:
            val_texts = [record_text(r, self.max_pages) for r in val[0]]
            held = (val_texts, self._embed(val_texts), val[1])
        mean, scale = E.mean(axis=0), E.std(axis=0) + 1e-6
        coef, intercept = self._embedding_head((E - mean) / scale, Y, sample_weight,
                                               None if held is None else ((held[1] - mean) / scale, held[2]))
        self.emb_coef_ = coef / scale  # folded: emb logits = E @ emb_coef.T + emb_intercept, on raw embeddings
        self.emb_intercept_ = intercept - self.emb_coef_ @ mean
        self.knn_ = NeighbourVotes(self.knn_k, self.knn_power).fit(E, Y, len(self.classes_))
        self.card_["keeps"] = (f"the sentence embeddings and labels of its {len(E)} training rows (float16, for the "
                               "neighbour votes): data derived from the training set")
        shift = np.zeros(len(self.classes_))
        blend = None
        if held is not None and self.blend == "val":
            val_texts, E_val, Y_val = held
            X_val = self._transform(val_texts)
            members = {kd: np.asarray(X_val @ c.T) + b for kd, (c, b) in self._parts.items()}
            members.update(emb=E_val @ self.emb_coef_.T + self.emb_intercept_, knn=self.knn_.votes(E_val))
            blend = self._val_blend(members, Y_val)
            if blend is not None:
                stack = sum(blend[kd] * m for kd, m in members.items()) + blend["bias"]
                shift = self._val_thresholds(stack, Y_val, blend)
        if blend is None:
            blend = self._fixed_blend(texts, E, fixed)
        self._fold(blend, shift)

    def _embedding_head(self, Z: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None,
                        val: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
        """The logistic regression on the standardised embeddings ``Z``. ``C_emb = "val"``: one per value of
        ``C_emb_grid`` (all in one pool of processes), the one with the lowest log-loss on the standardised val
        embeddings kept (each val row weighed as the blend weighs it); without val, the grid's middle value. The
        chosen C goes on the model card (and into a refit, which has no val to choose it)."""
        grid = [float(self.C_emb)] if self.C_emb != "val" else sorted(self.C_emb_grid)
        if val is None and len(grid) > 1:
            grid = [grid[(len(grid) - 1) // 2]]
        heads = self._fit_embedding_heads(Z, Y, sample_weight, grid)
        best = 0
        if len(grid) > 1 and val is not None:
            Z_val, Y_val = val
            keep = np.ones(len(Y_val), bool) if self.multi_label_ else Y_val >= 0
            weight = self._val_row_weights(Y_val[keep])
            losses = [log_loss(Z_val[keep] @ c.T + b, Y_val[keep], self.multi_label_, weight) for c, b in heads]
            best = int(np.argmin(losses))
            self.card_["C_emb_val_loss"] = {f"{C:g}": round(float(v), 5) for C, v in zip(grid, losses)}
        self.card_["C_emb"] = grid[best]
        return heads[best]

    def refit_params(self) -> dict[str, Any]:
        """The embedding head's C that val chose (``C_emb = "val"``): a refit on train + val has no val left."""
        out = super().refit_params()
        if self.C_emb == "val" and "C_emb" in self.card_:
            out["C_emb"] = float(self.card_["C_emb"])
        return out

    def _fold(self, blend: dict[str, float], shift: np.ndarray) -> None:
        """The ensemble's fold (the TF-IDF members, linear in the same features, weighed into ONE coefficient
        matrix, the bias and the per-class shifts in its intercepts); the embedding LR and the votes keep their
        weights in ``blend_``."""
        super()._fold(blend, shift)
        self.blend_ = np.array([1.0, blend.get("emb", 0.0), blend.get("knn", 0.0), 0.0])

    def _fixed_blend(self, texts: list[str], E: np.ndarray, fixed: dict[str, float]) -> dict[str, float]:
        """``blend = "fixed"`` (or no val split): ``emb_weight``/``knn_weight``; the TF-IDF member is the
        ensemble's fixed SVM + LR blend (``fixed``: its weights), the embedding scores scaled to its spread on
        train (the NB-SVM's too, sharing the TF-IDF weight half and half); votes centred on 0.5 for multi-label
        (independent sigmoids)."""
        coef, intercept = self._combine({"svm": fixed["svm"], "lr": fixed["lr"]})
        X = self._transform(texts)
        tfidf_train = np.asarray(X @ coef.T) + intercept
        emb_train = E @ self.emb_coef_.T + self.emb_intercept_
        t_emb = float(emb_train.std() / max(tfidf_train.std(), 1e-12))
        w = self.emb_weight
        w_tfidf = 1.0 - w
        blend = {"nbsvm": 0.0, "emb": w / max(t_emb, 1e-12), "knn": self.knn_weight,
                 "bias": -0.5 * self.knn_weight if self.multi_label_ else 0.0}
        nb = self._parts.get("nbsvm")
        if nb is not None:
            t_nb = float((np.asarray(X @ nb[0].T) + nb[1]).std() / max(tfidf_train.std(), 1e-12))
            w_tfidf, blend["nbsvm"] = (1.0 - w) / 2, (1.0 - w) / 2 / max(t_nb, 1e-12)
        return {"svm": w_tfidf * fixed["svm"], "lr": w_tfidf * fixed["lr"], **blend}

    def _fit_embedding_heads(self, Z: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None,
                             grid: list[float]) -> list[tuple[np.ndarray, np.ndarray]]:
        """One embedding head per C of ``grid``: multinomial (single-label, balanced row weights) or one binary
        problem per class (multi-label, each balanced on its own), every (C, class) problem in one pool."""
        from joblib import Parallel, delayed

        k = len(self.classes_)
        if self.multi_label_:
            problems = [(C, j) for C in grid for j in range(k)]
            sw = sample_weight
        else:
            problems = [(C, -1) for C in grid]
            sw = self._balanced_row_weights(Y, sample_weight)
        jobs = max(1, min(self.n_jobs or os.cpu_count() or 1, len(problems)))
        solved = Parallel(n_jobs=jobs, backend="loky")(
            delayed(_solve_dense)(Z, Y if j < 0 else Y[:, j].astype(np.int64), sw, C, self.max_iter, self.seed,
                                  j >= 0) for C, j in problems
        )
        heads = []
        for i in range(len(grid)):
            if self.multi_label_:
                part = solved[i * k : (i + 1) * k]
                heads.append((np.vstack([c for c, _ in part]), np.concatenate([b for _, b in part])))
                continue
            coef, intercept = solved[i]
            if k == 2:  # sklearn keeps one row for two classes: expand to two logits
                coef = np.vstack([-coef[0] / 2, coef[0] / 2])
                intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
            heads.append((coef, intercept))
        return heads

    def _members(self, records: list[Record]) -> tuple[np.ndarray, ...]:
        """The stack's scores at prediction: the folded TF-IDF logits, embedding logits, neighbour votes."""
        texts = [record_text(r, self.max_pages) for r in records]
        E = self._embed(texts)
        X = self._transform(texts)
        return (np.asarray(X @ self.coef_.T) + self.intercept_, E @ self.emb_coef_.T + self.emb_intercept_,
                self.knn_.votes(E))

    def _stack(self, members: tuple[np.ndarray, ...]) -> np.ndarray:
        w = self.blend_
        # w[3] is 0 (the bias sits in the TF-IDF intercepts) but for folders saved before it moved there
        return w[0] * members[0] + w[1] * members[1] + w[2] * members[2] + w[3]  # type: ignore[no-any-return]

    def _logits(self, records: list[Record]) -> np.ndarray:
        return self._stack(self._members(records))

    # --------------------------------------------------------------- persistence
    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, extra = super()._state()
        arrays.update(emb_coef=self.emb_coef_, emb_intercept=self.emb_intercept_, blend=self.blend_,
                      **self.knn_.arrays())
        extra["encoder_file"] = f"{ENCODER_DIR}/{INT8_FILE}"
        return arrays, extra

    def _save_extra_files(self, directory: Path) -> None:
        super()._save_extra_files(directory)
        src = self._graph or int8_encoder_graph(self.encoder)
        dest = directory / ENCODER_DIR
        if src.resolve() != (dest / INT8_FILE).resolve():
            copy_tokenizer(src.parent, dest)
            shutil.copyfile(src, dest / INT8_FILE)

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        super()._load_state(arrays, extra, directory)
        if "blend" not in arrays:
            raise ModelError(f"{directory} holds a hybrid model saved before neighbour votes and the stacked blend; "
                             "train it again with this siteclass")
        self.emb_coef_ = arrays["emb_coef"]
        self.emb_intercept_ = arrays["emb_intercept"]
        self.blend_ = arrays["blend"]
        self.knn_ = NeighbourVotes.from_arrays(arrays, len(self.classes_), self.knn_k, self.knn_power)
        graph = Path(directory) / extra.get("encoder_file", f"{ENCODER_DIR}/{INT8_FILE}")
        if not graph.is_file():
            raise ModelError(f"{directory} has no {graph.name}: the hybrid model's encoder graph is missing")
        self._graph = graph
        self._enc = None


def _solve_dense(Z: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, C: float, max_iter: int,
                 seed: int, balanced: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A logistic regression (lbfgs) on dense standardised embeddings: multinomial, or one binary problem."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    if y.min() == y.max():  # a class on every row or on none: a constant score
        return np.zeros((1, Z.shape[1])), np.array([8.0 if y.max() == 1 else -8.0])
    clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed,
                             class_weight="balanced" if balanced else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(Z, y, sample_weight=sample_weight)
    return np.asarray(clf.coef_, dtype=np.float64), np.asarray(clf.intercept_, dtype=np.float64)


__all__ = ["HybridClassifier", "int8_encoder_graph"]
