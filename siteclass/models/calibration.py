"""Probability maths shared by the models: softmax, sigmoid and temperature scaling (calibration on val).

``fit_temperature`` finds the T > 0 that minimises the negative log-likelihood of ``logits / T`` on held-out
data: one parameter, so it changes no prediction, only how confident the probabilities are.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fit_temperature", "sigmoid", "softmax"]


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
