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
Q/K/V projections, scaled dot-product, mask and softmax become one ``Attention`` node, residual + LayerNorm
become ``SkipLayerNormalization`` and bias + GELU ``BiasGelu`` (contrib ops of the standard CPU build). The
fused graph is saved, so loading does no fusion work; ``onnx.json`` lists the fused operators.

``int8=True`` quantizes the fused graph's weights to int8 (per output channel) with
``onnxruntime.quantization.quantize_dynamic`` (activations: dynamic per-tensor uint8), after two exact rewrites
that keep activation outliers out of the 8-bit ranges (factors from a built-in calibration set; see
``prepare_int8``): SmoothQuant on the Q/K/V and feed-forward input projections (``x/s`` feeds the quantizer,
``s·W`` is the weight; ``s = |x|^0.7 / |w|^0.3`` per channel) and, in the feed-forward output projections,
the few GELU channels with outliers split off into a small fp32 product. About 3× smaller than fp32; its speed
and top-1 agreement with PyTorch are measured by ``bench/inference.py``: faster than fp32 on CPUs with int8
dot products, agreement near but not reliably above 99 % on the benchmark's near-tie-heavy 40-class head.
``siteclass.load_model`` picks the ONNX encoder automatically when ``model.onnx`` is present
(``model.use_backend("torch")`` switches back).

``linear`` and ``fasttext`` models need no export: their inference is numpy only and never imports torch.
"""

from __future__ import annotations

import json
import logging
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
SMOOTH_ALPHA = 0.7
OUTLIER_FACTOR = 4.0  # a GELU channel whose calibration max exceeds 4× the median channel's
# Calibration texts for the int8 SmoothQuant factors: short names to long descriptions, many industries.
_CALIBRATION = [
    "Acme",
    "acme plumbing",
    "Welcome to our website! Contact us today for a free quote.",
    "Family dentistry, teeth cleaning and implants.",
    "We fix leaking pipes, install water heaters and clean drains in the whole county.",
    "Cloud software for small business accounting, invoicing and payroll, trusted by 20,000 companies.",
    "Organic coffee roasters and cafe in downtown Portland. Order beans online or visit our shop.",
    "Law firm specializing in personal injury, family law and estate planning. Free consultation: call 555-0100.",
    "A biotech company developing novel antibody therapies for cancer and autoimmune diseases, with Phase II "
    "trials underway.",
    "Commercial real estate brokerage: office, retail and industrial leasing and investment sales across the Midwest.",
    "The platform uses machine learning and big data analytics to help retailers optimise pricing, inventory and "
    "marketing in real time across online and offline channels, integrating with Shopify, Magento and SAP.",
    "Non-profit organisation providing education, clean water and healthcare to rural communities in East Africa "
    "since 1998.",
    "Boutique hotel & spa — 42 rooms, rooftop bar, weddings and events.",
    "Freight logistics, trucking, warehousing and last-mile delivery for e-commerce sellers.",
    "Mobile game studio behind puzzle and strategy titles with 50M downloads on iOS and Android.",
    "Solar panel installation, battery storage and EV chargers for homes and businesses. Financing available.",
    "Digital marketing agency: SEO, PPC, social media and web design.",
    "Manufacturer of precision CNC machined parts for aerospace, automotive and medical device OEMs, ISO 9001 "
    "certified.",
    "Online marketplace connecting freelance designers, developers and writers with clients worldwide.",
    "Veterinary clinic and pet hospital offering vaccinations, surgery, dental care and boarding for dogs and cats.",
    "Investment bank and asset manager; private equity, venture capital, M&A advisory.",
    "Insurance broker for auto, home, life and commercial policies.",
    "University research lab in quantum computing, photonics and materials science.",
    "Fashion brand of sustainable clothing, shoes and accessories made from recycled materials.",
]
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
        else:
            os.replace(fp32, target)
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
        "fused with onnxruntime.transformers (Attention, SkipLayerNormalization, BiasGelu)",
        "head": "numpy, from model.safetensors",
        "model_type": model_type,
        "int8": int8,
        "fused_operators": fused,
        "quantization": (
            f"dynamic int8, weights per channel; SmoothQuant alpha {SMOOTH_ALPHA} on Q/K/V and feed-forward inputs; "
            f"feed-forward output: GELU channels above {OUTLIER_FACTOR}x the median max split off in fp32"
        ) if int8 else None,
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


def fuse_bert_graph(src: Path, dest: Path, config: dict[str, Any]) -> dict[str, int]:
    """Fuse a BERT graph with ``onnxruntime.transformers`` (see the module docstring); the fused-operator counts.

    ``opt_level=0``: only the transformer fusions are stored (portable across CPUs); ORT's own graph rewrites
    still run when a session loads the file.
    """
    from onnxruntime.transformers.optimizer import optimize_model

    opt = optimize_model(
        str(src), model_type="bert", num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]), opt_level=0,
    )
    opt.save_model_to_file(str(dest))
    stats = opt.get_fused_operator_statistics()
    return {k: int(v) for k, v in stats.items() if v}


def _weighted_nodes(graph: Any) -> list[Any]:
    """MatMul / Attention nodes whose second input is a 2-D weight initializer."""
    dims = {t.name: list(t.dims) for t in graph.initializer}
    return [
        n for n in graph.node
        if n.op_type in ("MatMul", "Attention") and len(n.input) > 1 and len(dims.get(n.input[1], [])) == 2
    ]


def _activation_absmax(model: Any, names: list[str], batches: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-channel max |x| of the named intermediate tensors over the calibration batches."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names if n not in have)
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    amax: dict[str, np.ndarray] = {}
    for ids, mask in batches:
        for name, value in zip(names, sess.run(names, {"input_ids": ids, "attention_mask": mask})):
            cur = np.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
            amax[name] = np.maximum(amax[name], cur) if name in amax else cur
    return amax


def prepare_int8(model: Any, batches: list[tuple[np.ndarray, np.ndarray]], alpha: float, split_rows: int) -> list[str]:
    """Rewrite a fused fp32 graph in place so that dynamic int8 quantization loses little; nodes to keep fp32.

    * Q/K/V and feed-forward input projections (input: the residual stream, outliers spread over channels):
      SmoothQuant, ``x @ W`` → ``(x / s) @ (s · W)``.
    * Projections whose weight has *split_rows* rows (feed-forward output, input: GELU activations where one or
      two channels reach ~20× the others, on the [CLS] token): those outlier channels are split off,
      ``x @ W`` → ``(x · m) @ (m · W) + x[:, :, o] @ W[o]`` with ``m`` zero on the outlier channels ``o``; the
      small outlier product stays fp32 (its MatMul name is returned), the rest is quantized.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    nodes = _weighted_nodes(graph)
    amax = _activation_absmax(model, sorted({n.input[0] for n in nodes}), batches)
    before: dict[str, list[Any]] = {}
    after: dict[str, list[Any]] = {}
    keep_fp32: list[str] = []

    def const(name: str, value: np.ndarray) -> str:
        graph.initializer.append(numpy_helper.from_array(value, name))
        return name

    for node in nodes:
        x, w_name, tag = node.input[0], node.input[1], node.name
        w = numpy_helper.to_array(inits[w_name])
        xa = np.maximum(amax[x], 1e-5)
        if w.shape[0] != split_rows:
            scale = (xa**alpha / np.maximum(np.abs(w).max(axis=1), 1e-5) ** (1 - alpha)).astype(np.float32)
            inits[w_name].CopyFrom(numpy_helper.from_array((w * scale[:, None]).astype(np.float32), w_name))
            before[tag] = [helper.make_node("Mul", [x, const(f"{tag}/smooth_inv", 1.0 / scale)], [f"{tag}/x_s"])]
            node.input[0] = f"{tag}/x_s"
            continue
        outliers = np.flatnonzero(xa > OUTLIER_FACTOR * np.median(xa))
        if outliers.size == 0:
            continue
        keep = np.ones(w.shape[0], dtype=np.float32)
        keep[outliers] = 0.0
        inits[w_name].CopyFrom(numpy_helper.from_array((w * keep[:, None]).astype(np.float32), w_name))
        y = node.output[0]
        before[tag] = [
            helper.make_node("Mul", [x, const(f"{tag}/inlier_mask", keep)], [f"{tag}/x_in"]),
            helper.make_node("Gather", [x, const(f"{tag}/outlier_idx", outliers.astype(np.int64))], [f"{tag}/x_out"], axis=-1),
            helper.make_node("MatMul", [f"{tag}/x_out", const(f"{tag}/outlier_w", w[outliers])], [f"{tag}/y_out"],
                             name=f"{tag}/outliers"),
        ]
        keep_fp32.append(f"{tag}/outliers")
        node.input[0], node.output[0] = f"{tag}/x_in", f"{tag}/y_in"
        after[tag] = [helper.make_node("Add", [f"{tag}/y_in", f"{tag}/y_out"], [y])]
    ordered = []
    for node in graph.node:  # inserted nodes right around their anchor keep the graph topologically sorted
        ordered += [*before.get(node.name, []), node, *after.get(node.name, [])]
    del graph.node[:]
    graph.node.extend(ordered)
    return keep_fp32


def quantize_int8(src: Path, dest: Path, calibration: list[tuple[np.ndarray, np.ndarray]], intermediate_size: int) -> None:
    """The int8 graph of a fused fp32 graph: ``prepare_int8``, then dynamic int8 weights per channel.

    *intermediate_size*: rows of the feed-forward output projections (their outlier channels are split off).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(src))
    keep_fp32 = prepare_int8(model, calibration, SMOOTH_ALPHA, split_rows=intermediate_size)
    smoothed = dest.with_suffix(".smooth.tmp")
    root = logging.getLogger()
    root.addFilter(_no_preprocess_hint)  # quantize_dynamic's "consider pre-processing" warning: not applicable here
    try:
        onnx.save(model, str(smoothed))
        quantize_dynamic(
            str(smoothed), str(dest), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=keep_fp32,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.removeFilter(_no_preprocess_hint)
        smoothed.unlink(missing_ok=True)


def _no_preprocess_hint(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


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
