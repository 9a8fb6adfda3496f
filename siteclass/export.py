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

``int8=True`` quantizes the encoder's weights to int8 (per channel) with
``onnxruntime.quantization.quantize_dynamic``, except the feed-forward output projections (kept fp32: their
GELU inputs have outliers): about 3× smaller and 1.5–2× faster than fp32 ONNX on CPU, top-1 nearly always
unchanged (``bench/inference.py`` measures the agreement). ``siteclass.load_model`` picks the ONNX
encoder automatically when ``model.onnx`` is present (``model.use_backend("torch")`` switches back).

``linear`` and ``fasttext`` models need no export: their inference is numpy only and never imports torch.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from siteclass.errors import InputError, ModelError
from siteclass.models.base import Classifier, load_model, read_config
from siteclass.models.encoder import ENCODER_DIR, ONNX_FILE, TextTokenizer, resolve_encoder

EXPORT_INFO = "onnx.json"
ONNX_MODELS = ("transformer", "zeroshot")
OPSET = 17
_PROBE = [
    "Family dentistry, teeth cleaning and implants.",
    "We fix leaking pipes, install water heaters and clean drains in the whole county.",
    "Acme",
]


def export_onnx(model_dir: str | Path, int8: bool = False) -> Path:
    """Write ``model.onnx`` (the encoder graph; see the module docstring) beside a saved model; return its path."""
    directory = Path(model_dir)
    config = read_config(directory)
    model_type = config["model_type"]
    if model_type not in ONNX_MODELS:
        if model_type in ("linear", "fasttext"):
            raise InputError(
                f"{directory} holds a {model_type!r} model, which already predicts with numpy only (no torch); "
                "ONNX export is for transformer and zeroshot models"
            )
        raise InputError(f"{directory} holds a {model_type!r} model; ONNX export supports {', '.join(ONNX_MODELS)}")
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
    target = directory / ONNX_FILE
    fp32 = directory / (ONNX_FILE + ".fp32.tmp")
    export_bert_onnx(bert, fp32, opset=OPSET)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q = directory / (ONNX_FILE + ".int8.tmp")
        quantize_dynamic(
            str(fp32), str(q), weight_type=QuantType.QInt8, per_channel=True,
            nodes_to_exclude=_ffn_down_projections(fp32, bert.config),
        )
        os.replace(q, target)
        fp32.unlink()
    else:
        os.replace(fp32, target)

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
        "graph": "encoder: input_ids, attention_mask (int64, batch × tokens) → embedding (float32, mean-pooled)",
        "head": "numpy, from model.safetensors",
        "model_type": model_type,
        "int8": int8,
        "quantization": "dynamic int8, weights per channel; feed-forward output projections kept fp32" if int8 else None,
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


def _ffn_down_projections(path: Path, config: dict[str, Any]) -> list[str]:
    """MatMul nodes of the feed-forward output projections (weights intermediate × hidden), kept in fp32.

    Their inputs are GELU activations with outliers that per-tensor 8-bit activation quantization handles poorly;
    keeping these 1/3 of the weights in fp32 halves the int8 embedding error at nearly the same speed.
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    shape = [int(config["intermediate_size"]), int(config["hidden_size"])]
    down = {t.name for t in graph.initializer if list(t.dims) == shape}
    return [n.name for n in graph.node if n.op_type == "MatMul" and any(i in down for i in n.input)]


def load_onnx_model(model_dir: str | Path) -> Classifier:
    """Load a saved model with its encoder in ONNX Runtime (``model.onnx`` must exist; torch is not needed)."""
    directory = Path(model_dir)
    model = load_model(directory)
    if model.model_type in ONNX_MODELS:
        if not (directory / ONNX_FILE).is_file():
            raise ModelError(f"{directory} has no {ONNX_FILE}; run `siteclass export --model {directory} --format onnx`")
        model.use_backend("onnx")  # type: ignore[attr-defined]
    return model


__all__ = ["EXPORT_INFO", "export_onnx", "load_onnx_model"]
