"""A small BERT encoder in plain torch, weight-compatible with Hugging Face ``BertModel`` folders.

Why not ``transformers.AutoModel``? Its attention-mask plumbing (transformers 5) does not survive
``torch.onnx.export``: the exported graph silently disagrees with PyTorch. This module is the same maths
(embeddings → N × [self-attention, feed-forward] with post-LayerNorm → mean pooling over real tokens), loads
the same ``model.safetensors`` (parameter names are Hugging Face's, with or without a ``bert.`` prefix) and
exports to an ONNX graph that matches PyTorch within 1e-5. BERT-family encoders (``model_type`` bert: MiniLM,
BGE, E5, …) are supported; any other architecture raises a ``ModelError`` naming it.

Imported only when torch is needed (training, PyTorch inference, ONNX export).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from siteclass.errors import ModelError

SUPPORTED_TYPES = ("bert",)


class _SelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)


class _AttentionOutput(nn.Module):
    def __init__(self, hidden: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)


class _Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, eps: float) -> None:
        super().__init__()
        self.self = _SelfAttention(hidden, heads)
        self.output = _AttentionOutput(hidden, eps)


class _Dense(nn.Module):
    def __init__(self, d_in: int, d_out: int, eps: float | None = None) -> None:
        super().__init__()
        self.dense = nn.Linear(d_in, d_out)
        if eps is not None:
            self.LayerNorm = nn.LayerNorm(d_out, eps=eps)


class _Layer(nn.Module):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        h, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-12)
        self.attention = _Attention(h, cfg["num_attention_heads"], eps)
        self.intermediate = _Dense(h, cfg["intermediate_size"])
        self.output = _Dense(cfg["intermediate_size"], h, eps)
        self.dropout = nn.Dropout(cfg.get("hidden_dropout_prob", 0.1))
        self.attn_dropout = nn.Dropout(cfg.get("attention_probs_dropout_prob", 0.1))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        sa = self.attention.self
        b, t, _ = x.shape

        def split(z: torch.Tensor) -> torch.Tensor:
            return z.view(b, t, sa.heads, sa.head_dim).transpose(1, 2)

        q, k, v = split(sa.query(x)), split(sa.key(x)), split(sa.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(sa.head_dim) + bias
        ctx = torch.matmul(self.attn_dropout(scores.softmax(dim=-1)), v)
        ctx = ctx.transpose(1, 2).reshape(b, t, sa.heads * sa.head_dim)
        out = self.attention.output
        x = out.LayerNorm(x + self.dropout(out.dense(ctx)))
        ff = self.output.dense(nn.functional.gelu(self.intermediate.dense(x)))
        return self.output.LayerNorm(x + self.dropout(ff))  # type: ignore[no-any-return]


class _Embeddings(nn.Module):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        h = cfg["hidden_size"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], h, padding_idx=cfg.get("pad_token_id", 0))
        self.position_embeddings = nn.Embedding(cfg["max_position_embeddings"], h)
        self.token_type_embeddings = nn.Embedding(cfg.get("type_vocab_size", 2), h)
        self.LayerNorm = nn.LayerNorm(h, eps=cfg.get("layer_norm_eps", 1e-12))
        self.dropout = nn.Dropout(cfg.get("hidden_dropout_prob", 0.1))


class _Layers(nn.Module):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(cfg) for _ in range(cfg["num_hidden_layers"]))


class BertEncoder(nn.Module):
    """``forward(input_ids, attention_mask) -> (batch, hidden)``: mean of the last hidden states over real tokens."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        if config.get("model_type") not in SUPPORTED_TYPES:
            raise ModelError(
                f"encoder model_type {config.get('model_type')!r} is not supported; "
                f"siteclass encoders must be BERT-family Hugging Face folders (model_type {SUPPORTED_TYPES})"
            )
        self.config = dict(config)
        self.embeddings = _Embeddings(config)
        self.encoder = _Layers(config)

    @property
    def dim(self) -> int:
        return int(self.config["hidden_size"])

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        e = self.embeddings
        t = input_ids.shape[1]
        positions = torch.arange(t, device=input_ids.device).unsqueeze(0)
        x = e.word_embeddings(input_ids) + e.position_embeddings(positions) + e.token_type_embeddings.weight[0]
        x = e.dropout(e.LayerNorm(x))
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -1e4
        for layer in self.encoder.layer:
            x = layer(x, bias)
        return x

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.hidden_states(input_ids, attention_mask)
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)


def _rename(key: str) -> str:
    for prefix in ("bert.", "model."):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")


def load_bert(folder: str | Path) -> BertEncoder:
    """Load a BERT-family encoder from a Hugging Face folder (``config.json`` + safetensors or .bin weights)."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise ModelError(f"encoder folder {folder} has no config.json; pass a Hugging Face model folder")
    with torch.random.fork_rng(devices=[]):  # its random init (overwritten below) never moves the global generator
        model = BertEncoder(json.loads(cfg_path.read_text(encoding="utf-8")))
    st, pt = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st.is_file():
        from safetensors.torch import load_file

        raw = load_file(str(st))
    elif pt.is_file():
        raw = torch.load(str(pt), map_location="cpu", weights_only=True)
    else:
        raise ModelError(f"encoder folder {folder} has no model.safetensors or pytorch_model.bin")
    wanted = model.state_dict()
    state = {_rename(k): v for k, v in raw.items() if _rename(k) in wanted}
    missing = sorted(set(wanted) - set(state))
    if missing:
        raise ModelError(f"encoder weights in {folder} lack {len(missing)} tensors, e.g. {missing[:3]}")
    model.load_state_dict(state)
    return model.eval()


def save_bert(model: BertEncoder, folder: str | Path) -> None:
    """Write ``config.json`` + ``model.safetensors`` (Hugging Face names): a folder ``load_bert`` reads back."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(model.config, indent=2), encoding="utf-8")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


def export_bert_onnx(model: BertEncoder, path: str | Path, opset: int = 17) -> Path:
    """Export the encoder (token ids + mask → mean-pooled embedding) with dynamic batch and sequence axes."""
    path = Path(path)
    model = model.to("cpu").eval()
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102, 0, 0], [101, 7592, 102, 0, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=opset,
            dynamo=False,
        )
    return path
