"""ONNX graphs of a BERT-family encoder: fusion and int8 quantization (used by ``siteclass.export`` and ``hybrid``).

``fuse_bert_graph`` fuses attention and bias + GELU (``onnxruntime.transformers.optimizer``); ``quantize_int8``
rewrites the fused graph so that activation outliers stay out of the 8-bit ranges (``prepare_int8``: SmoothQuant
on the projections, outlier GELU channels computed apart in fp32), quantizes its weights to int8 per output
channel (``onnxruntime.quantization.quantize_dynamic``), then fixes each activation's 8-bit range from the
calibration set (``static_activations``): a text's embedding never depends on the texts encoded beside it, as it
did when each batch tensor had its own range. ``_CALIBRATION`` is the built-in calibration set. The
export stage (``siteclass.export``) and the ``hybrid`` model, which builds its int8 encoder at fit time, share
these; they sit in the models layer because a model uses them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "OPSET", "OUTLIER_FACTOR", "RANGE_MARGIN", "SMOOTH_ALPHA", "fuse_bert_graph", "prepare_int8", "quantize_int8",
    "static_activations",
]

OPSET = 17
SMOOTH_ALPHA = 0.7
RANGE_MARGIN = 1.2  # an activation's 8-bit range: its calibration min / max, widened by 20 % for unseen texts
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


def _intermediates(
    model: Any, names: list[str], batches: list[tuple[np.ndarray, np.ndarray]]
) -> Iterator[dict[str, np.ndarray]]:
    """The named intermediate tensors of *model*, batch by batch: ``{name: value}`` per calibration batch."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    probe.graph.output.extend(onnx.helper.make_empty_tensor_value_info(n) for n in names if n not in have)
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    for ids, mask in batches:
        yield dict(zip(names, sess.run(names, {"input_ids": ids, "attention_mask": mask})))


def _activation_absmax(model: Any, names: list[str], batches: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-channel max |x| of the named intermediate tensors over the calibration batches."""
    amax: dict[str, np.ndarray] = {}
    for values in _intermediates(model, names, batches):
        for name, value in values.items():
            cur = np.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
            amax[name] = np.maximum(amax[name], cur) if name in amax else cur
    return amax


def static_activations(model: Any, batches: list[tuple[np.ndarray, np.ndarray]], margin: float) -> int:
    """Give every ``DynamicQuantizeLinear`` of a dynamically quantized graph a fixed range; how many it replaced.

    Each becomes a ``QuantizeLinear`` (uint8, per tensor) whose range is the tensor's min / max over the
    calibration *batches* (0 always inside), widened by *margin*; its consumers read the scale and zero point as
    constants. Dynamic ranges are taken over the whole batch tensor, padding included, so an embedding moved with
    its batch neighbours (cosine 0.9993); with fixed ranges it does not.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    dynamic = {i: n for i, n in enumerate(graph.node) if n.op_type == "DynamicQuantizeLinear"}
    names = [n.input[0] for n in dynamic.values()]
    lo = dict.fromkeys(names, 0.0)
    hi = dict.fromkeys(names, 0.0)
    for values in _intermediates(model, names, batches):
        for name, value in values.items():
            lo[name], hi[name] = min(lo[name], float(value.min())), max(hi[name], float(value.max()))
    constant: dict[str, str] = {}  # a DynamicQuantizeLinear's scale / zero-point output → its fixed initializer
    nodes = list(graph.node)
    for i, node in dynamic.items():
        x, (y, y_scale, y_zero) = node.input[0], node.output
        low, high = lo[x] * margin, hi[x] * margin
        scale = max(high - low, 1e-8) / 255.0
        zero = int(np.clip(round(-low / scale), 0, 255))
        graph.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), f"{y}/scale"),
                                  numpy_helper.from_array(np.array(zero, np.uint8), f"{y}/zero_point")])
        constant[y_scale], constant[y_zero] = f"{y}/scale", f"{y}/zero_point"
        nodes[i] = helper.make_node("QuantizeLinear", [x, f"{y}/scale", f"{y}/zero_point"], [y],
                                    name=f"{node.name or y}/static")
    for node in nodes:
        node.input[:] = [constant.get(name, name) for name in node.input]
    del graph.node[:]
    graph.node.extend(nodes)
    return len(dynamic)


def prepare_int8(model: Any, batches: list[tuple[np.ndarray, np.ndarray]], alpha: float, split_rows: int) -> list[str]:
    """Rewrite a fused fp32 graph in place so that int8 quantization loses little; the nodes to keep fp32.

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
    """The int8 graph of a fused fp32 graph: ``prepare_int8``, int8 weights per channel, fixed activation ranges.

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
        quantized = onnx.load(str(dest))
        static_activations(quantized, calibration, RANGE_MARGIN)
        onnx.save(quantized, str(dest))
    finally:
        root.removeFilter(_no_preprocess_hint)
        smoothed.unlink(missing_ok=True)


def _no_preprocess_hint(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()
