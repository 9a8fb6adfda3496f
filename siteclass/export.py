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
``onnxruntime.quantization.quantize_dynamic`` (activations: dynamic per-tensor uint8), after exact rewrites
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
from siteclass.models.encoder import (
    ENCODER_DIR,
    EXPORT_INFO,
    FALLBACK_ONNX_FILE,
    ONNX_FILE,
    TextTokenizer,
    resolve_encoder,
)
from siteclass.models.registry import MODEL_CLASSES, model_class

OPSET = 17
SMOOTH_ALPHA = 0.7
RECHECK_MARGIN = 0.01  # int8: near ties (two best labels closer than this in probability) rescored in fp32
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


def export_onnx(model_dir: str | Path, int8: bool = False, recheck_margin: float = RECHECK_MARGIN) -> Path:
    """Write ``model.onnx`` (the encoder graph; see the module docstring) beside a saved model; return its path.

    With *int8*, a *recheck_margin* above 0 also writes the fp32 graph (``model.fp32.onnx``): records whose two
    best labels lie closer than that in probability are scored again with it (see the module docstring).
    """
    directory = Path(model_dir)
    if not 0.0 <= recheck_margin < 1.0:
        raise InputError(f"recheck_margin {recheck_margin} is not a probability gap; use a value in [0, 1), e.g. 0.01")
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
            f"dynamic int8, weights per channel; SmoothQuant alpha {SMOOTH_ALPHA} on Q/K/V, attention output and "
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


def fuse_bert_graph(src: Path, dest: Path, config: dict[str, Any]) -> dict[str, int]:
    """Fuse a BERT graph with ``onnxruntime.transformers`` (see the module docstring); the fused-operator counts.

    ``opt_level=0``: only the transformer fusions are stored (portable across CPUs); ORT's own graph rewrites
    still run when a session loads the file.
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_skip_layer_norm = options.enable_bias_skip_layer_norm = False  # see encoder.UNFUSED_OPS
    opt = optimize_model(
        str(src), model_type="bert", num_heads=int(config["num_attention_heads"]),
        hidden_size=int(config["hidden_size"]), opt_level=0, optimization_options=options,
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

    Exact rewrites (the fp32 function is unchanged), with factors from the calibration *batches*:

    * Q/K/V, attention output and feed-forward input projections (inputs with outliers spread over channels):
      SmoothQuant, ``x @ W`` → ``(x / s) @ (s · W)``. The attention output projection's ``1 / s`` goes into the V
      columns of its ``Attention`` node (no extra pass over the activations); the others get a ``Mul``.
    * Projections whose weight has *split_rows* rows (feed-forward output, input: GELU activations where one or
      two channels reach ~20× the others, on the [CLS] token): those outlier channels are computed apart, in
      fp32 — their columns of the feed-forward input projection, their GELU and their rows of the output
      projection (the small MatMuls returned) — and their sum joins the quantized rest.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    nodes = _weighted_nodes(graph)
    amax = _activation_absmax(model, sorted({n.input[0] for n in nodes}), batches)
    before: dict[str, list[Any]] = {}
    after: dict[str, list[Any]] = {}
    keep_fp32: list[str] = []

    def get(name: str) -> np.ndarray:
        return numpy_helper.to_array(inits[name]).copy()

    def put(name: str, value: np.ndarray) -> str:
        array = numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name)
        if name in inits:
            inits[name].CopyFrom(array)
        else:
            graph.initializer.append(array)
            inits[name] = graph.initializer[-1]
        return name

    for node in nodes:
        x, w_name, tag = node.input[0], node.input[1], node.name
        w = get(w_name)
        xa = np.maximum(amax[x], 1e-5)
        if w.shape[0] == split_rows:
            outliers = np.flatnonzero(xa > OUTLIER_FACTOR * np.median(xa))
            gelu = producer.get(x)
            up = producer.get(gelu.input[0]) if gelu is not None and gelu.op_type == "BiasGelu" else None
            if outliers.size == 0 or gelu is None or up is None or up.op_type != "MatMul" or up.input[1] not in inits:
                continue  # no outliers, or not the MatMul → BiasGelu → MatMul block of a fused BERT layer
            inliers = np.setdiff1d(np.arange(w.shape[0]), outliers)
            w_up, b_up = get(up.input[1]), get(gelu.input[1])
            put(up.input[1], w_up[:, inliers])
            put(gelu.input[1], b_up[inliers])
            put(w_name, w[inliers])
            y = node.output[0]
            before[tag] = [
                helper.make_node("MatMul", [up.input[0], put(f"{tag}/outlier_up_w", w_up[:, outliers])],
                                 [f"{tag}/up_out"], name=f"{tag}/outlier_up"),
                helper.make_node("BiasGelu", [f"{tag}/up_out", put(f"{tag}/outlier_up_b", b_up[outliers])],
                                 [f"{tag}/x_out"], domain="com.microsoft"),
                helper.make_node("MatMul", [f"{tag}/x_out", put(f"{tag}/outlier_w", w[outliers])], [f"{tag}/y_out"],
                                 name=f"{tag}/outliers"),
            ]
            keep_fp32 += [f"{tag}/outlier_up", f"{tag}/outliers"]
            node.output[0] = f"{tag}/y_in"
            after[tag] = [helper.make_node("Add", [f"{tag}/y_in", f"{tag}/y_out"], [y])]
            continue
        scale = (xa**alpha / np.maximum(np.abs(w).max(axis=1), 1e-5) ** (1 - alpha)).astype(np.float32)
        put(w_name, w * scale[:, None])
        src = producer.get(x)
        if src is not None and src.op_type == "Attention" and len(src.input) > 2 and src.input[2] in inits:
            qkv, bias = get(src.input[1]), get(src.input[2])
            if qkv.shape[1] == 3 * scale.size:
                # x is the attention output: its channel j is V's column j of the packed Q/K/V projection.
                qkv[:, 2 * scale.size :] /= scale
                bias[2 * scale.size :] /= scale
                put(src.input[1], qkv)
                put(src.input[2], bias)
                continue
        before[tag] = [helper.make_node("Mul", [x, put(f"{tag}/smooth_inv", 1.0 / scale)], [f"{tag}/x_s"])]
        node.input[0] = f"{tag}/x_s"
    ordered = []
    for node in graph.node:  # inserted nodes right around their anchor keep the graph topologically sorted
        ordered += [*before.get(node.name, []), node, *after.get(node.name, [])]
    del graph.node[:]
    graph.node.extend(ordered)
    del graph.value_info[:]  # shapes of resized tensors changed; ORT infers them again
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
    if model.onnx_export:
        if not (directory / ONNX_FILE).is_file():
            raise ModelError(f"{directory} has no {ONNX_FILE}; run `siteclass export --model {directory} --format onnx`")
        model.use_backend("onnx")  # type: ignore[attr-defined]
    return model


__all__ = ["EXPORT_INFO", "export_onnx", "load_onnx_model"]
