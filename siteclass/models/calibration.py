"""Probability maths shared by the models: softmax, sigmoid, temperature scaling and stacked blend weights (fitted on val).

``fit_temperature`` finds the T > 0 that minimises the negative log-likelihood of ``logits / T`` on held-out
data: one parameter, so it changes no prediction, only how confident the probabilities are.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_blend", "fit_temperature", "log_loss", "sigmoid", "softmax"]


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))  # type: ignore[no-any-return]


def fit_temperature(logits: np.ndarray, Y: np.ndarray, multi_label: bool) -> float:
    """Temperature T > 0 minimising the negative log-likelihood of ``logits / T`` (golden-section on log T)."""

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        if multi_label:
            p = np.clip(sigmoid(z), 1e-12, 1 - 1e-12)
            return float(-(Y * np.log(p) + (1 - Y) * np.log(1 - p)).mean())
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(Y)), Y].mean())

    lo, hi = np.log(0.05), np.log(20.0)
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


def _row_weights(n: int, sample_weight: np.ndarray | None) -> np.ndarray:
    """Per-row weights of a log-loss, scaled to mean 1 (the loss keeps its scale); ones without weights."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, np.float64)
    return w * n / max(float(w.sum()), 1e-12)  # type: ignore[no-any-return]


def log_loss(logits: np.ndarray, Y: np.ndarray, multi_label: bool,
             sample_weight: np.ndarray | None = None) -> float:
    """The negative log-likelihood per row of ``logits`` (softmax over classes; multi-label: a sigmoid per class,
    summed over classes), each row weighed by ``sample_weight`` (scaled to mean 1): what :func:`fit_blend`
    minimises."""
    rw = _row_weights(len(Y), sample_weight)
    n = max(len(Y), 1)
    if multi_label:
        return float(((np.logaddexp(0.0, logits) - Y * logits) * rw[:, None]).sum() / n)
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-(logp[np.arange(len(Y)), Y] @ rw) / n)


def fit_blend(members: list[np.ndarray], Y: np.ndarray, multi_label: bool,
              sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Weights ``w`` (and, multi-label, one bias ``b``) minimising the negative log-likelihood of
    ``Σ w_i · members[i] + b`` on held-out data — a stacked combiner with one weight per member, shared by every
    class (a few parameters: held-out splits of a few hundred rows fit it without overfitting, where per-class
    weights would not). Weights are ≥ 0: a member that does not help gets 0 (a negative weight would fit the
    held-out rows' noise by turning a member's scores upside down). Single-label: softmax over classes (``b`` is
    0, it would change nothing). ``sample_weight``: each row's weight in the log-likelihood (e.g. its class's
    balanced weight)."""
    from scipy.optimize import minimize

    M = np.stack(members, axis=-1).astype(np.float64)  # n × k × m
    n = max(len(Y), 1)
    rw = _row_weights(len(Y), sample_weight)
    onehot = Y.astype(np.float64) if multi_label else np.eye(M.shape[1])[Y]

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1] if multi_label else 0.0
        z = M @ w + b
        p = sigmoid(z) if multi_label else softmax(z)
        r = (p - onehot) * rw[:, None] / n
        grad_w = np.einsum("nk,nkm->m", r, M)
        return log_loss(z, Y, multi_label, rw), np.append(grad_w, r.sum() if multi_label else 0.0)

    start = np.append(np.full(M.shape[-1], 1.0 / M.shape[-1]), 0.0)
    bounds = [(0.0, None)] * M.shape[-1] + [(None, None)]  # a member can be left out, never turned against
    theta = minimize(nll, start, jac=True, method="L-BFGS-B", bounds=bounds).x
    return np.asarray(theta[:-1], dtype=np.float64), float(theta[-1]) if multi_label else 0.0
