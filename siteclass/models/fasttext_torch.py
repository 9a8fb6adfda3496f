"""The torch half of ``fasttext`` (imported only to train): the network (an embedding bag whose mean is a
sparse averaging matrix times the batch's distinct rows, then a linear layer), row-wise Adagrad, fastText's linear
learning-rate decay, and an optimiser pair for sparse + dense parameters. Prediction never needs these."""

from __future__ import annotations

from typing import Any


def fasttext_net(n_vocab: int, dim: int, n_classes: int) -> Any:
    import torch
    from torch import nn

    class FastTextNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            init = torch.empty(n_vocab, dim).uniform_(-1.0 / dim, 1.0 / dim)  # fastText's initialisation
            self.emb = nn.EmbeddingBag(n_vocab, dim, mode="mean", sparse=True, _weight=init)
            self.out = nn.Linear(dim, n_classes)
            with torch.no_grad():
                self.out.bias.zero_()

        def forward(self, rows: Any, A: Any) -> Any:
            """Training forward: bag means of a batch as ``A @ E[rows]`` (see ``siteclass.models.fasttext._local_bags``)."""
            return self.out(_bag_mean_function().apply(self.emb.weight, rows, A))

    return FastTextNet()


def _bag_mean_function() -> Any:
    """``A @ E[rows]`` (A sparse) whose gradient for ``E`` is a coalesced sparse tensor on ``rows`` only
    (``A.T @ grad``): EmbeddingBag(mode="mean")'s sparse gradient summed per row, without a per-occurrence
    tensor or a coalescing sort.
    """
    global _BAG_MEAN
    if _BAG_MEAN is None:
        import torch

        class BagMean(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, weight: Any, rows: Any, A: Any) -> Any:
                ctx.save_for_backward(rows, A)
                ctx.weight_shape = weight.shape
                return torch.sparse.mm(A, weight.index_select(0, rows))

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                rows, A = ctx.saved_tensors
                values = torch.sparse.mm(A.t(), grad)
                g = torch.sparse_coo_tensor(rows.unsqueeze(0), values, ctx.weight_shape, is_coalesced=True,
                                            check_invariants=False)
                return g, None, None

        _BAG_MEAN = BagMean
    return _BAG_MEAN


_BAG_MEAN: Any = None


class LinearDecay:
    """fastText's schedule: the learning rate falls linearly to 0 over the planned steps."""

    def __init__(self, optimizer: Any, total_steps: int) -> None:
        self.optimizers = optimizer.optimizers if isinstance(optimizer, MultiOptimizer) else [optimizer]
        self.base = [[g["lr"] for g in o.param_groups] for o in self.optimizers]
        self.total = max(1, total_steps)
        self.step_count = 0

    def step(self) -> None:
        self.step_count += 1
        factor = max(0.0, 1.0 - self.step_count / self.total)
        for opt, base in zip(self.optimizers, self.base):
            for group, lr in zip(opt.param_groups, base):
                group["lr"] = lr * factor

    def state_dict(self) -> dict[str, Any]:
        return {"step_count": self.step_count, "total": self.total}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_count = int(state["step_count"])
        self.total = int(state["total"])
        factor = max(0.0, 1.0 - self.step_count / self.total)
        for opt, base in zip(self.optimizers, self.base):
            for group, lr in zip(opt.param_groups, base):
                group["lr"] = lr * factor


def _row_adagrad_class() -> Any:
    import torch

    class RowAdagrad(torch.optim.Optimizer):
        """Row-wise Adagrad (one accumulator per embedding row, as in large recommender models).

        Sparse gradients are coalesced (one row per feature), so single-process and DDP runs (whose gloo
        all-reduce coalesces) take the same steps. Cheap state (one float per row) and insensitive to the tiny
        gradients a mean-pooled bag gives each row.
        """

        def __init__(self, params: Any, lr: float, eps: float = 1e-8) -> None:
            super().__init__(params, {"lr": lr, "eps": eps})

        @torch.no_grad()
        def step(self, closure: Any = None) -> None:  # type: ignore[override]
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if "sum" not in state:
                        state["sum"] = torch.zeros(p.shape[0], dtype=p.dtype, device=p.device)
                    acc, grad = state["sum"], p.grad
                    if grad.is_sparse:
                        if not grad.is_coalesced():
                            grad = grad.coalesce()
                        rows, values = grad._indices()[0], grad._values()
                        acc.index_add_(0, rows, values.pow(2).mean(1))
                        scale = (acc[rows].sqrt() + group["eps"]).unsqueeze(1)
                        p.index_add_(0, rows, values / scale, alpha=-group["lr"])
                    else:
                        flat = grad.reshape(p.shape[0], -1)
                        acc.add_(flat.pow(2).mean(1))
                        scale = (acc.sqrt() + group["eps"]).reshape(-1, *[1] * (p.dim() - 1))
                        p.add_(grad / scale, alpha=-group["lr"])

    return RowAdagrad


def row_adagrad(params: Any, lr: float) -> Any:
    return _row_adagrad_class()(params, lr=lr)


class MultiOptimizer:
    """Several optimizers stepped together (SparseAdam for the embedding, Adam for the dense layer)."""

    def __init__(self, *optimizers: Any) -> None:
        self.optimizers = list(optimizers)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for o, s in zip(self.optimizers, state["optimizers"]):
            o.load_state_dict(s)
