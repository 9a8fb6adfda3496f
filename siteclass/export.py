"""Export a saved model to ONNX so that predict and serve run from ONNX Runtime, without torch.

    siteclass export --model MODEL --format onnx [--int8]
    export_onnx("model/")            # writes model/model.onnx (+ model/onnx.json)
    load_onnx_model("model/")        # the model, its encoder running in ONNX Runtime

What ``model.onnx`` holds (the "encoder graph + head arrays" layout): the model's text encoder — token ids and
attention mask (int64, dynamic batch × tokens) → mean-pooled embedding ``embedding`` (float32, batch × hidden).
The rest of the model is small and already runs in numpy from ``model.safetensors``: the ``transformer``
head (concatenation or attention pooling over pages → linear), the ``zeroshot`` label embeddings. Tokenisation
uses ``encoder/tokenizer.json`` with the ``tokenizers`` library. So an ONNX model folder needs only numpy,
safetensors, tokenizers and onnxruntime (``pip install 'siteclass[onnx]'``).

The graph is *fused* at export time (``onnxruntime.transformers.optimizer``, model type ``bert``): each layer's
Q/K/V projections, scaled dot-product, mask and softmax become one ``Attention`` node and bias + GELU one
``BiasGelu`` (contrib ops of the standard CPU build). Residual + LayerNorm stay ``Add`` + ``LayerNormalization``:
ORT's fused ``SkipLayerNormalization`` kernel is the slower one on CPU (``encoder.UNFUSED_OPS``). The fused graph
is saved, so loading does no fusion work; ``onnx.json`` lists the fused operators.

``int8=True`` quantizes the fused graph's weights to int8 (per output channel) with
``onnxruntime.quantization.quantize_dynamic`` (activations: per-tensor uint8 over a range fixed from the
calibration set, ``static_activations``, so a record's answer never depends on its batch), after exact rewrites
that keep activation outliers out of the 8-bit ranges (factors from a built-in calibration set; see
``prepare_int8``): SmoothQuant on the Q/K/V, attention output and feed-forward input projections (``x/s``
feeds the quantizer, ``s·W`` is the weight; ``s = |x|^0.7 / |w|^0.3`` per channel) and, in each feed-forward
block, the few GELU channels with outliers computed apart in fp32. About 3× smaller than fp32 and faster on
CPUs with int8 dot products, but int8 rounding moves probabilities by up to a few hundredths, which flips the
top label of near ties (~1.5 % of records on the benchmark's 40-class head). So an int8 export also writes the
fp32 graph (``model.fp32.onnx``) and ``recheck_margin`` (default 0.01) in ``onnx.json``: records whose two best
labels lie closer than that are scored again in fp32 (``EncoderBackendMixin._recheck_near_ties``; ~5 % of
records there). ``recheck_margin=0`` writes int8 alone. Speed and top-1 agreement with PyTorch are measured by
``bench/inference.py``. ``siteclass.load_model`` picks the ONNX encoder automatically when ``model.onnx`` is
present (``model.use_backend("torch")`` switches back).

``export_bundled`` writes the bundled zero-shot NAICS model (what predict uses without a model) to a folder and
exports it: with ``int8``, 3,000 table rows took 33 s instead of 70 s on 2 cores, the same best guess on 99.1 %.

``linear`` and ``fasttext`` models need no export: their inference is numpy only and never imports torch.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from siteclass.errors import InputError, ModelError
from siteclass.models.base import Classifier, load_model, read_config
from siteclass.models.encoder import (
    ENCODER_DIR,
    EXPORT_INFO,
    FALLBACK_ONNX_FILE,
    ONNX_FILE,
    TextTokenizer,
    resolve_encoder,
)
from siteclass.models.onnx_graph import (
    _CALIBRATION,
    OPSET,
    OUTLIER_FACTOR,
    RANGE_MARGIN,
    SMOOTH_ALPHA,
    fuse_bert_graph,
    quantize_int8,
)
from siteclass.models.registry import MODEL_CLASSES, model_class

RECHECK_MARGIN = 0.01  # int8: near ties (two best labels closer than this in probability) rescored in fp32

_PROBE = [
    "Family dentistry, teeth cleaning and implants.",
    "We fix leaking pipes, install water heaters and clean drains in the whole county.",
    "Acme",
]


def export_onnx(model_dir: str | Path, int8: bool = False, recheck_margin: float = RECHECK_MARGIN) -> Path:
    """Write ``model.onnx`` (the encoder graph; see the module docstring) beside a saved model; return its path.

    With *int8*, a *recheck_margin* above 0 also writes the fp32 graph (``model.fp32.onnx``): records whose two
    best labels lie closer than that in probability are scored again with it (see the module docstring).
    """
    directory = Path(model_dir)
    _check_margin(recheck_margin)
    config = read_config(directory)
    model_type = config["model_type"]
    cls = model_class(config.get("model_class") or model_type)
    if not cls.onnx_export:
        onnx_models = ", ".join(n for n in MODEL_CLASSES if model_class(n).onnx_export)
        raise InputError(f"{directory} holds a {model_type!r} model, which has no ONNX export (it predicts without "
                         f"torch as it is); ONNX export is for models with an encoder: {onnx_models}")
    try:
        import onnxruntime as ort

        from siteclass.models.bert import export_bert_onnx, load_bert
    except ImportError as exc:
        raise ModelError(f"ONNX export needs torch, onnx and onnxruntime: pip install 'siteclass[torch,onnx]' ({exc})") from exc

    params = config.get("params", {})
    fine_tuned = bool(config.get("state", {}).get("fine_tuned", False))
    weights = directory / ENCODER_DIR if fine_tuned else resolve_encoder(params.get("encoder", "all-MiniLM-L6-v2"))
    tok_folder = directory / ENCODER_DIR if (directory / ENCODER_DIR / "tokenizer.json").is_file() else weights
    started = time.perf_counter()
    bert = load_bert(weights)
    target, fallback = directory / ONNX_FILE, directory / FALLBACK_ONNX_FILE
    raw, fp32 = directory / (ONNX_FILE + ".raw.tmp"), directory / (ONNX_FILE + ".fp32.tmp")
    try:
        export_bert_onnx(bert, raw, opset=OPSET)
        fused = fuse_bert_graph(raw, fp32, bert.config)
        if int8:
            q = directory / (ONNX_FILE + ".int8.tmp")
            tokenizer = TextTokenizer(tok_folder, int(params.get("max_tokens", 256)))
            batches = [tokenizer(_CALIBRATION[i : i + 8]) for i in range(0, len(_CALIBRATION), 8)]
            quantize_int8(fp32, q, batches, int(bert.config["intermediate_size"]))
            os.replace(q, target)
            if recheck_margin > 0:
                os.replace(fp32, fallback)
        else:
            os.replace(fp32, target)
        if not (int8 and recheck_margin > 0):
            fallback.unlink(missing_ok=True)
    finally:
        for tmp in (raw, fp32):
            tmp.unlink(missing_ok=True)

    # Check the graph against PyTorch on a few texts; the gap is recorded, a broken graph is an error.
    import torch

    ids, mask = TextTokenizer(tok_folder, int(params.get("max_tokens", 256)))(_PROBE)
    with torch.no_grad():
        ref = bert(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    sess = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    got = sess.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0]
    gap = float(np.abs(got - ref).max())
    cos = float(np.min(np.sum(got * ref, 1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))))
    if (not int8 and gap > 1e-3) or cos < 0.9:
        target.unlink()
        raise ModelError(f"the exported ONNX encoder disagrees with PyTorch (max gap {gap:.2e}); not written")
    info: dict[str, Any] = {
        "format": "onnx",
        "file": ONNX_FILE,
        "graph": "encoder: input_ids, attention_mask (int64, batch × tokens) → embedding (float32, mean-pooled); "
        "fused with onnxruntime.transformers (Attention, BiasGelu; residual + LayerNorm left unfused)",
        "head": "numpy, from model.safetensors",
        "model_type": model_type,
        "int8": int8,
        "fused_operators": fused,
        "quantization": (
            "int8 weights per channel; int8 activations per tensor over ranges fixed from the calibration texts "
            f"(x{RANGE_MARGIN}); SmoothQuant alpha {SMOOTH_ALPHA} on Q/K/V, attention output and "
            "feed-forward inputs; "
            f"feed-forward blocks: GELU channels above {OUTLIER_FACTOR}x the median max computed apart in fp32"
        ) if int8 else None,
        "recheck_margin": recheck_margin if int8 else 0.0,
        "fallback_file": FALLBACK_ONNX_FILE if int8 and recheck_margin > 0 else None,
        "opset": OPSET,
        "encoder": params.get("encoder"),
        "fine_tuned_encoder": fine_tuned,
        "max_tokens": params.get("max_tokens"),
        "tokenizer": f"{ENCODER_DIR}/tokenizer.json",
        "max_abs_diff_vs_torch": gap,
        "min_cosine_vs_torch": cos,
        "onnxruntime_version": ort.__version__,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (directory / EXPORT_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return target


def _check_margin(recheck_margin: float) -> None:
    if not 0.0 <= recheck_margin < 1.0:
        raise InputError(f"recheck_margin {recheck_margin} is not a probability gap; use a value in [0, 1), e.g. 0.01")


def save_exported(model: Classifier, out: str | Path, int8: bool = False,
                  recheck_margin: float = RECHECK_MARGIN) -> Path:
    """Save a fitted *model* to a new folder *out* and export it (``export_onnx``); the graph's path. A failed
    export leaves no folder behind."""
    directory = Path(out)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputError(f"--out {directory} already exists and is not an empty folder; give a new folder")
    _check_margin(recheck_margin)
    created = not directory.exists()
    try:
        model.save(directory)
        return export_onnx(directory, int8=int8, recheck_margin=recheck_margin)
    except BaseException:
        if created:
            shutil.rmtree(directory, ignore_errors=True)
        raise


def export_bundled(out: str | Path, int8: bool = False, recheck_margin: float = RECHECK_MARGIN) -> Path:
    """The bundled zero-shot NAICS model saved to a new folder *out* and exported (``save_exported``).

    Nothing to train: the folder holds the model ``siteclass predict`` uses without ``--model``, calibrated
    minimum confidence included; ``--model OUT`` answers from ONNX Runtime (with *int8*: faster, near ties rescored
    in fp32, a few answers moved by int8 rounding).
    """
    from siteclass.models.zeroshot import default_zeroshot_model

    return save_exported(default_zeroshot_model(), out, int8=int8, recheck_margin=recheck_margin)


def load_onnx_model(model_dir: str | Path) -> Classifier:
    """Load a saved model with its encoder in ONNX Runtime (``model.onnx`` must exist; torch is not needed)."""
    directory = Path(model_dir)
    model = load_model(directory)
    if model.onnx_export:
        if not (directory / ONNX_FILE).is_file():
            raise ModelError(f"{directory} has no {ONNX_FILE}; run `siteclass export --model {directory} --format onnx`")
        model.use_backend("onnx")  # type: ignore[attr-defined]
    return model


__all__ = ["EXPORT_INFO", "export_bundled", "export_onnx", "load_onnx_model", "save_exported"]
