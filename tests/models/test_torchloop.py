"""The torch training loop: exact resume after SIGKILL, early stopping with the best weights restored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from siteclass.metrics import classification_metrics  # noqa: E402
from siteclass.models.torchloop import (  # noqa: E402
    LAST,
    LoopSettings,
    epoch_batches,
    fit_loop,
)

# A real training program: an MLP with dropout on fixed synthetic data, Adam + a LR scheduler, checkpoints
# every 3 steps; each step sleeps a little so the test can kill it mid-run.
SCRIPT = textwrap.dedent(
    """
    import sys, time, json
    import numpy as np, torch
    from siteclass.models.torchloop import LoopSettings, fit_loop, seed_everything

    ckpt, out, resume, delay = sys.argv[1], sys.argv[2], sys.argv[3] == "1", float(sys.argv[4])
    torch.set_num_threads(1)
    seed_everything(0)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(96, 8, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    Xv, yv = X[:32], y[:32]
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 3))

    def batch_loss(module, idx, device):
        time.sleep(delay)
        i = torch.from_numpy(idx)
        return torch.nn.functional.cross_entropy(module(X[i]), y[i])

    def evaluate(module):
        return {"accuracy": float((module(Xv).argmax(1) == yv).float().mean())}

    result = fit_loop(
        net, len(X), batch_loss, lambda m: torch.optim.Adam(m.parameters(), lr=0.01),
        make_scheduler=lambda opt, total: torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.7),
        evaluate=evaluate,
        settings=LoopSettings(epochs=4, batch_size=10, seed=3, patience=0, checkpoint_dir=ckpt, metric="accuracy",
                              checkpoint_every_steps=3, resume=resume, progress=False),
    )
    np.savez(out, **{k: v.numpy() for k, v in net.state_dict().items()})
    print(json.dumps({"history": result.history, "resumed": result.resumed_from}))
    """
)


def _run(script: Path, ckpt: Path, out: Path, resume: bool, delay: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), str(ckpt), str(out), "1" if resume else "0", str(delay)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path: Path) -> None:
    script = tmp_path / "train_script.py"
    script.write_text(SCRIPT)
    full = _run(script, tmp_path / "ck_full", tmp_path / "full.npz", False, 0.0)
    killed = _run(script, tmp_path / "ck_kill", tmp_path / "kill.npz", False, 0.05)
    deadline = time.time() + 60
    while not (tmp_path / "ck_kill" / LAST).exists():
        assert killed.poll() is None, killed.stderr.read() if killed.stderr else "exited early"
        assert time.time() < deadline, "no checkpoint within 60 s"
        time.sleep(0.02)
    time.sleep(0.1)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(30)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "kill.npz").exists(), "the run finished before it was killed"

    ck = torch.load(tmp_path / "ck_kill" / LAST, weights_only=True)
    assert not ck["done"]
    resumed = _run(script, tmp_path / "ck_kill", tmp_path / "kill.npz", True, 0.0)
    out_r, err_r = resumed.communicate(timeout=120)
    out_f, err_f = full.communicate(timeout=120)
    assert resumed.returncode == 0, err_r
    assert full.returncode == 0, err_f
    assert '"resumed": null' not in out_r
    a, b = np.load(tmp_path / "full.npz"), np.load(tmp_path / "kill.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    hist_full = out_f.strip().splitlines()[-1].split('"resumed"')[0]
    hist_res = out_r.strip().splitlines()[-1].split('"resumed"')[0]
    assert hist_full == hist_res


def test_early_stopping_restores_best_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 2)
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.95])
    snapshots: list[torch.Tensor] = []

    def evaluate(module):
        snapshots.append(module.weight.detach().clone())
        return {"macro_f1": next(scores)}

    X = torch.randn(20, 2)
    y = (X[:, 0] > 0).long()

    def batch_loss(module, idx, device):
        i = torch.from_numpy(idx)
        return torch.nn.functional.cross_entropy(module(X[i]), y[i])

    seen: list[int] = []
    result = fit_loop(net, 20, batch_loss, lambda m: torch.optim.SGD(m.parameters(), lr=0.5), evaluate=evaluate,
                      on_epoch_end=lambda e, m: seen.append(e),
                      settings=LoopSettings(epochs=5, batch_size=4, patience=2, checkpoint_dir=tmp_path / "ck",
                                            progress=False))
    assert result.stopped_early and result.epochs_run == 4 and seen == [1, 2, 3, 4]
    assert result.best_epoch == 2 and result.best_metric == pytest.approx(0.9)
    torch.testing.assert_close(net.weight.detach(), snapshots[1])
    assert (tmp_path / "ck" / "best.pt").is_file()
    best = torch.load(tmp_path / "ck" / "best.pt", weights_only=True)
    assert best["epoch"] == 2


def test_epoch_batches_cover_every_row_once() -> None:
    order = np.random.default_rng(0).permutation(23)
    for world in (1, 2, 3):
        batches = epoch_batches(order, 5, world)
        assert sorted(np.concatenate(batches).tolist()) == list(range(23))
        assert all(len(b) >= world for b in batches)


def test_classification_metrics() -> None:
    Y = np.array([0, 1, 2, 2])
    logits = np.array([[2.0, 0, 0], [0, 2, 0], [0, 0, 2], [2, 0, 0]])
    m = classification_metrics(Y, logits, False)
    assert m["accuracy"] == pytest.approx(0.75)
    Ym = np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32)
    m2 = classification_metrics(Ym, np.array([[3.0, -1, 1], [-2, -1, -3]]), True)
    assert m2["p_at_1"] == pytest.approx(1.0) and m2["micro_f1"] == pytest.approx(1.0)
