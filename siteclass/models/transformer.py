"""The ``transformer`` model: one shared pretrained encoder over a site's pages, title, domain and name.

Inputs per record (the multi-input model of a production Scrapy + BERT industry classifier):

- the first ``pages`` pages: each page's ``text`` (up to ``max_tokens`` tokens) and ``title``, encoded separately
  (a record without pages uses its ``text`` as page 1);
- the domain split into words (``acme-plumbing.com`` → ``acme plumbing com``) and the business ``name``;
- a one-hot of the domain extension (biz co com edu gov info net org site us, other).

Every text goes through the same encoder (mean pooling); missing texts are zero vectors. ``pooling="concat"``
concatenates the page vectors in crawl order; ``pooling="attention"`` pools them with learned attention (absent
pages are masked out, and cost no encoder pass). Then ``[pages ‖ domain ‖ name ‖ extension] → dropout → linear``.
``single_text=True`` (table datasets) uses ``record["text"]`` alone.

Training (``siteclass.models.torchloop.fit_loop``: checkpoints, exact resume, early stopping, DDP): AdamW with no
weight decay on biases and LayerNorm, linear warmup then linear decay, ``lr`` for the whole network.
``freeze_encoder=True`` trains only the head, at ``head_lr``, on encoder outputs computed once and cached — the
practical choice on a CPU. Inference runs the encoder (PyTorch, or ONNX Runtime after ``siteclass export``) and
the head in numpy.

Saved folder: ``model.safetensors`` (head), ``encoder/`` (tokenizer files and the encoder's config.json; plus
the fine-tuned encoder weights in safetensors when it was not frozen — a frozen model refers to its encoder by
``encoder``), and ``model.onnx`` after export. Loading needs no network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from siteclass.config import TrainSettings
from siteclass.models.base import Classifier
from siteclass.models.encoder import (
    ENCODER_DIR,
    Encoder,
    EncoderBackendMixin,
    copy_tokenizer,
    encoder_dim,
    get_encoder,
    resolve_encoder,
)
from siteclass.records import EXTENSIONS, Record, domain_words, record_ext, record_text

ATTENTION_DIM = 128


# ----------------------------------------------------------------------------------------------- inputs
def ext_onehot(records: list[Record]) -> np.ndarray:
    out = np.zeros((len(records), len(EXTENSIONS) + 1), dtype=np.float32)
    index = {e: i for i, e in enumerate(EXTENSIONS)}
    for i, r in enumerate(records):
        out[i, index.get(record_ext(r), len(EXTENSIONS))] = 1.0
    return out


def slot_texts(record: Record, pages: int, single_text: bool) -> list[str]:
    """The texts a record feeds the encoder: single-text ``[text]``; else ``[title_1, text_1, …, domain, name]``."""
    if single_text:
        text = record.get("text")
        return [text if isinstance(text, str) and text else record_text(record)]
    raw = record.get("pages")
    if raw is not None and hasattr(raw, "tolist"):
        raw = raw.tolist()
    page_list = [p for p in (raw or []) if isinstance(p, dict)][:pages]
    if not page_list and isinstance(record.get("text"), str):
        page_list = [{"title": "", "text": record["text"]}]
    out: list[str] = []
    for i in range(pages):
        p = page_list[i] if i < len(page_list) else {}
        out += [str(p.get("title") or "").strip(), str(p.get("text") or "").strip()]
    domain = record.get("domain") or str(record.get("url") or "").split("://", 1)[-1].split("/", 1)[0]
    out += [domain_words(str(domain or "")), str(record.get("name") or "").strip()]
    return out


def encode_slots(encoder: Encoder, records: list[Record], pages: int, single_text: bool) -> tuple[np.ndarray, np.ndarray]:
    """(U, index): unique vectors with a zero row 0, and each record's slot → row of U (0 = empty slot)."""
    texts = [slot_texts(r, pages, single_text) for r in records]
    n_slots = 1 if single_text else 2 * pages + 2
    unique: dict[str, int] = {}
    index = np.zeros((len(records), n_slots), dtype=np.int64)
    for i, row in enumerate(texts):
        for j, t in enumerate(row):
            if t:
                index[i, j] = unique.setdefault(t, len(unique) + 1)
    U = np.zeros((len(unique) + 1, encoder.dim), dtype=np.float32)
    if unique:
        U[1:] = encoder.encode(list(unique))
    return U, index


# ----------------------------------------------------------------------------------------------- head (numpy)
def layout_np(
    V: np.ndarray, valid: np.ndarray, ext: np.ndarray, pages: int, single_text: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slot vectors (B, S, D) → page features (B, P, Dp), page mask (B, P), site features (B, Ds)."""
    b, _, d = V.shape
    if single_text:
        return V[:, :1, :], valid[:, :1], np.zeros((b, 0), dtype=V.dtype)
    page_feats = V[:, : 2 * pages].reshape(b, pages, 2 * d)
    mask = valid[:, 0 : 2 * pages : 2] | valid[:, 1 : 2 * pages : 2]
    return page_feats, mask, np.concatenate([V[:, 2 * pages], V[:, 2 * pages + 1], ext], axis=1)


def head_logits_np(arrays: dict[str, np.ndarray], pooling: str, page_feats: np.ndarray, mask: np.ndarray, site: np.ndarray) -> np.ndarray:
    """The head's forward pass in numpy (inference; mirrors ``_Head.forward``)."""
    if pooling == "attention":
        h = np.tanh(page_feats @ arrays["proj.weight"].T + arrays["proj.bias"])
        s = (h @ arrays["score.weight"].T)[..., 0]
        s = np.where(mask, s, -1e4)
        s = np.exp(s - s.max(axis=1, keepdims=True))
        w = s / s.sum(axis=1, keepdims=True)
        x = np.concatenate([(w[..., None] * page_feats).sum(axis=1), site], axis=1)
    else:
        x = np.concatenate([page_feats.reshape(len(page_feats), -1), site], axis=1)
    return x @ arrays["out.weight"].T + arrays["out.bias"]  # type: ignore[no-any-return]


def _torch_head(n_pages: int, page_dim: int, site_dim: int, n_classes: int, pooling: str, dropout: float) -> Any:
    import torch
    from torch import nn

    class _Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pooling = pooling
            if pooling == "attention":
                self.proj = nn.Linear(page_dim, ATTENTION_DIM)
                self.score = nn.Linear(ATTENTION_DIM, 1, bias=False)
                in_dim = page_dim + site_dim
            else:
                in_dim = n_pages * page_dim + site_dim
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(in_dim, n_classes)

        def forward(self, page_feats: Any, mask: Any, site: Any) -> Any:
            if self.pooling == "attention":
                s = self.score(torch.tanh(self.proj(page_feats))).squeeze(-1)
                w = s.masked_fill(~mask, -1e4).softmax(dim=1)
                x = torch.cat([(w.unsqueeze(-1) * page_feats).sum(dim=1), site], dim=1)
            else:
                x = torch.cat([page_feats.flatten(1), site], dim=1)
            return self.out(self.drop(x))

    return _Head()


def _fine_tune_net(encoder: Any, head: Any, pages: int, single_text: bool) -> Any:
    """Encoder + head as one module whose ``forward`` runs both (so DistributedDataParallel syncs both)."""
    import torch
    from torch import nn

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = head

        def forward(self, chunks: list[tuple[Any, Any]], rows: Any, ext: Any) -> Any:
            vecs = [self.encoder(ids, mask) for ids, mask in chunks]
            table = torch.cat([rows.new_zeros((1, self.encoder.dim), dtype=torch.float32), *vecs], dim=0)
            V = table[rows]
            return self.head(*_layout_torch(V, rows > 0, ext, pages, single_text))

    return _Net()


def _layout_torch(V: Any, valid: Any, ext: Any, pages: int, single_text: bool) -> tuple[Any, Any, Any]:
    import torch

    b, _, d = V.shape
    if single_text:
        return V[:, :1, :], valid[:, :1], V.new_zeros((b, 0))
    page_feats = V[:, : 2 * pages].reshape(b, pages, 2 * d)
    mask = valid[:, 0 : 2 * pages : 2] | valid[:, 1 : 2 * pages : 2]
    return page_feats, mask, torch.cat([V[:, 2 * pages], V[:, 2 * pages + 1], ext], dim=1)


# ----------------------------------------------------------------------------------------------- the model
_T = TrainSettings()  # hyperparameter defaults live in siteclass.config, nowhere else
_P = _T.transformer


class TransformerClassifier(EncoderBackendMixin, Classifier):
    """Shared encoder over pages/title/domain/name + extension one-hot → dropout → linear. See the module doc."""

    model_type = "transformer"
    onnx_export = True
    checkpoints = True
    epoch_callbacks = True
    distributed = True

    def __init__(
        self,
        encoder: str = _P.encoder,
        max_tokens: int = _P.max_tokens,
        pages: int = _P.pages,
        pooling: Literal["concat", "attention"] = _P.pooling,
        single_text: bool = _P.single_text,
        freeze_encoder: bool = _P.freeze_encoder,
        dropout: float = _P.dropout,
        lr: float = _P.lr,
        head_lr: float = _P.head_lr,
        weight_decay: float = _P.weight_decay,
        warmup_ratio: float = _P.warmup_ratio,
        batch_size: int = _P.batch_size,
        epochs: int = _P.epochs,
        seed: int = _T.seed,
        early_stopping_patience: int = _T.early_stopping_patience,
        checkpoint_every_steps: int = _T.checkpoint_every_steps,
        metric: str = _T.metric,
        device: str = _T.device,
    ) -> None:
        self.encoder = encoder
        self.max_tokens = max_tokens
        self.pages = pages
        self.pooling = pooling
        self.single_text = single_text
        self.freeze_encoder = freeze_encoder
        self.dropout = dropout
        self.lr = lr
        self.head_lr = head_lr
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.batch_size = batch_size
        self.epochs = epochs
        self.seed = seed
        self.early_stopping_patience = early_stopping_patience
        self.checkpoint_every_steps = checkpoint_every_steps
        self.metric = metric
        self.device = device

    @classmethod
    def from_settings(cls, settings: TrainSettings) -> TransformerClassifier:
        return cls(
            **settings.transformer.model_dump(),
            seed=settings.seed,
            early_stopping_patience=settings.early_stopping_patience,
            checkpoint_every_steps=settings.checkpoint_every_steps,
            metric=settings.metric,
            device=settings.device,
        )

    # --------------------------------------------------------------- encoder plumbing
    _module: Any = None  # the fine-tuned encoder (torch) after fit; None when frozen or loaded
    fine_tuned_: bool = False

    def _torch_module(self) -> Any:
        return self._module

    def _weights_folder(self) -> Path:
        if self.fine_tuned_ and self._model_dir is not None:
            return self._model_dir / ENCODER_DIR
        return resolve_encoder(self.encoder)

    def features(self, records: list[Record], encoder: Encoder | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(page features, page mask, site features) of records, as the head sees them."""
        enc = encoder or self._inference_encoder()
        U, index = encode_slots(enc, records, self.pages, self.single_text)
        return layout_np(U[index], index > 0, ext_onehot(records), self.pages, self.single_text)

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
        from siteclass.models.bert import load_bert
        from siteclass.models.encoder import TextTokenizer, TorchEncoder
        from siteclass.models.torchloop import LoopSettings, fit_loop, seed_everything

        self._model_dir, self._enc, self._module, self.fine_tuned_ = None, None, None, not self.freeze_encoder
        folder = resolve_encoder(self.encoder)
        d = encoder_dim(folder)
        page_dim = d if self.single_text else 2 * d
        site_dim = 0 if self.single_text else 2 * d + len(EXTENSIONS) + 1
        n_pages = 1 if self.single_text else self.pages
        multi = self.multi_label_
        seed_everything(self.seed)
        head = _torch_head(n_pages, page_dim, site_dim, len(self.classes_), self.pooling, self.dropout)
        y_t = torch.as_tensor(Y, dtype=torch.float32 if multi else torch.int64)
        w_t = torch.as_tensor(sample_weight if sample_weight is not None else np.ones(len(Y)), dtype=torch.float32)
        ext_t = torch.from_numpy(ext_onehot(records))

        def loss_of(logits: Any, idx: np.ndarray, device: Any) -> Any:
            target = y_t[torch.from_numpy(idx)].to(device)
            if multi:
                per = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(1)
            else:
                per = torch.nn.functional.cross_entropy(logits, target, reduction="none")
            return (per * w_t[torch.from_numpy(idx)].to(device)).mean()

        if self.freeze_encoder:
            enc = get_encoder(folder, self.max_tokens, "torch", device=self._device_name())
            U, index = encode_slots(enc, records, self.pages, self.single_text)
            U_t, index_t = torch.from_numpy(U), torch.from_numpy(index)
            module = head

            def batch_loss(m: Any, idx: np.ndarray, device: Any) -> Any:
                rows = index_t[torch.from_numpy(idx)]
                V = U_t[rows].to(device)
                logits = m(*_layout_torch(V, (rows > 0).to(device), ext_t[torch.from_numpy(idx)].to(device), self.pages, self.single_text))
                return loss_of(logits, idx, device)

            lr = self.head_lr
        else:
            bert = load_bert(folder)
            module = _fine_tune_net(bert, head, self.pages, self.single_text)
            tokenizer = TextTokenizer(folder, self.max_tokens)
            slots = [slot_texts(r, self.pages, self.single_text) for r in records]

            def batch_loss(m: Any, idx: np.ndarray, device: Any) -> Any:
                # Unique texts of the batch, tokenised in length-sorted chunks; rows map slots to their vectors.
                texts = [slots[i] for i in idx]
                unique: dict[str, int] = {}
                for row in texts:
                    for t in row:
                        if t:
                            unique.setdefault(t, len(unique))
                ulist = list(unique)
                encs = tokenizer.encode(ulist)  # tokenised once: sorted by length, then padded per chunk
                order: Any = np.argsort([len(e.ids) for e in encs], kind="stable") if ulist else []
                position = np.zeros(len(ulist), dtype=np.int64)
                position[order] = np.arange(1, len(ulist) + 1)
                rows = torch.tensor(
                    [[int(position[unique[t]]) if t else 0 for t in row] for row in texts], dtype=torch.int64
                )
                chunks = []
                for start in range(0, len(ulist), 64):
                    ids, mask = tokenizer.pad([encs[k] for k in order[start : start + 64]])
                    chunks.append((torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)))
                logits = m(chunks, rows.to(device), ext_t[torch.from_numpy(idx)].to(device))
                return loss_of(logits, idx, device)

            lr = self.lr

        evaluate = None
        if val is not None:
            val_records, Y_val = val

            def evaluate(m: Any) -> dict[str, float]:
                dev = next(m.parameters()).device
                if self.freeze_encoder:
                    venc: Encoder = get_encoder(folder, self.max_tokens, "torch", device=self._device_name())
                    h = m
                else:
                    venc = TorchEncoder(folder, self.max_tokens, module=m.encoder, device=str(dev), cache=False)
                    h = m.head
                pf, mask, site = self.features(val_records, venc)
                logits = h(torch.from_numpy(pf).to(dev), torch.from_numpy(mask).to(dev), torch.from_numpy(site).to(dev))
                return classification_metrics(Y_val, logits.float().cpu().numpy(), multi)

        def make_optimizer(m: Any) -> Any:
            decay: list[Any] = []
            no_decay: list[Any] = []
            for name, p in m.named_parameters():
                (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(p)
            groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
            return torch.optim.AdamW(groups, lr=lr)

        def make_scheduler(optimizer: Any, total_steps: int) -> Any:
            warmup = int(self.warmup_ratio * total_steps)

            def factor(step: int) -> float:
                if step < warmup:
                    return (step + 1) / (warmup + 1)
                return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

            return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

        result = fit_loop(
            module,
            len(Y),
            batch_loss,
            make_optimizer,
            make_scheduler=make_scheduler,
            evaluate=evaluate,
            on_epoch_end=epoch_callback,
            settings=LoopSettings.for_model(self, has_val=val is not None, checkpoint_dir=checkpoint_dir,
                                            resume=resume, progress=progress, desc="transformer"),
        )
        trained_head = head
        self.head_ = {k: v.detach().cpu().numpy().astype(np.float32, copy=True) for k, v in trained_head.state_dict().items()}
        if not self.freeze_encoder:
            self._module = module.encoder.eval()
        self.card_["history"] = result.history
        self.card_["best_epoch"] = result.best_epoch
        self.card_["stopped_early"] = result.stopped_early
        if result.resumed_from:
            self.card_["resumed_from"] = result.resumed_from

    # --------------------------------------------------------------- prediction
    def _logits(self, records: list[Record]) -> np.ndarray:
        return self._recheck_near_ties(records, self._logits_with(records, None), self._logits_with)

    def _logits_with(self, records: list[Record], encoder: Encoder | None) -> np.ndarray:
        pf, mask, site = self.features(records, encoder)
        return head_logits_np(self.head_, self.pooling, pf, mask, site)

    # --------------------------------------------------------------- persistence
    def _state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays = {f"head.{k}": v for k, v in self.head_.items()}
        return arrays, {"fine_tuned": self.fine_tuned_, "extensions": list(EXTENSIONS), "encoder_dir": ENCODER_DIR}

    def _save_extra_files(self, directory: Path) -> None:
        target = directory / ENCODER_DIR
        if self._model_dir is None or self._model_dir.resolve() != directory.resolve():
            copy_tokenizer(self._tokenizer_folder(), target)
            if self.fine_tuned_:
                if self._module is not None:
                    from siteclass.models.bert import save_bert

                    save_bert(self._module, target)
                else:
                    import shutil

                    assert self._model_dir is not None
                    shutil.copyfile(self._model_dir / ENCODER_DIR / "model.safetensors", target / "model.safetensors")

    def _load_state(self, arrays: dict[str, np.ndarray], extra: dict[str, Any], directory: Path) -> None:
        self.head_ = {k[len("head.") :]: v for k, v in arrays.items() if k.startswith("head.")}
        self.fine_tuned_ = bool(extra.get("fine_tuned", False))
        self._model_dir = Path(directory)
        self._module, self._enc = None, None
