"""torchrun: 2 CPU processes (gloo, DistributedDataParallel) train the same model as one process; an elastic
group whose worker is killed restarts, resumes from the last checkpoint and finishes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("torch")

from siteclass.models.base import load_model

sys.path.insert(0, str(Path(__file__).parent))
from processes import children_running
from test_train import make_dataset

TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")


def _torchrun(args: list[str], extra: list[str] | None = None) -> subprocess.Popen:
    assert TORCHRUN, "torchrun not found beside the interpreter"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [TORCHRUN, "--standalone", "--nproc_per_node", "2", *(extra or []), "-m", "siteclass.training", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _single(ds: Path, out: Path, epochs: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "siteclass.training", "--data", str(ds), "--model", "fasttext", "--out", str(out),
         "--epochs", str(epochs), "--no-progress", "--config", str(ds / "ft.toml")],
        capture_output=True, text=True, timeout=300,
    )


def _metrics(out: Path) -> dict[str, float]:
    return json.loads((out / "config.json").read_text())["card"]["metrics"]


def test_two_processes_match_one(tmp_path: Path) -> None:
    ds = make_dataset(tmp_path / "ds", n_train=240, n_val=60, seed=3)
    (ds / "ft.toml").write_text("[train]\nearly_stopping_patience = 0\n[train.fasttext]\ndim = 16\nlr = 0.5\n")
    proc = _torchrun(["--data", str(ds), "--model", "fasttext", "--out", str(tmp_path / "ddp"), "--epochs", "4",
                      "--no-progress", "--config", str(ds / "ft.toml")])
    from siteclass.config import load_settings
    from siteclass.training import train

    train(ds, model="fasttext", out=tmp_path / "one", settings=load_settings(ds / "ft.toml").train, epochs=4,
          progress=False)  # the single-process reference, in this process, while torchrun runs
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert json.loads((tmp_path / "ddp" / "config.json").read_text())["card"]["world_size"] == 2
    m_ddp, m_one = _metrics(tmp_path / "ddp"), _metrics(tmp_path / "one")
    for key in ("accuracy", "macro_f1"):
        assert abs(m_ddp[key] - m_one[key]) <= 0.02, (m_ddp, m_one)
    val = pq.read_table(ds / "val.parquet").to_pylist()
    a, b = load_model(tmp_path / "ddp"), load_model(tmp_path / "one")
    # The gradient of each global batch is the same sum over rows; only float summation order differs.
    np.testing.assert_allclose(a.weight_, b.weight_, atol=1e-3)
    np.testing.assert_allclose(a.predict_proba(val), b.predict_proba(val), atol=1e-3)


@pytest.mark.slow
def test_elastic_restart_after_a_worker_is_killed(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    ds = make_dataset(tmp_path / "ds", n_train=1500, n_val=60, seed=4)
    (ds / "ft.toml").write_text(
        "[train]\nearly_stopping_patience = 0\ncheckpoint_every_steps = 5\ndist_timeout_s = 60\n"
        "[train.fasttext]\ndim = 16\nlr = 0.5\n"
    )
    # Before each attempt got store keys of its own (siteclass.models.torchloop.init_distributed), a restarted
    # group often dialled the previous attempt's dead ports: "connectFullMesh … refused", or a stall.
    out = tmp_path / "el"
    code, err = _kill_one_worker_run(psutil, ds, out)
    assert code == 0, err[-3000:]
    card = json.loads((out / "config.json").read_text())["card"]
    assert "resumed_from" in card, "the restarted group did not resume from the checkpoint"
    single = _single(ds, tmp_path / "one", 3)
    assert single.returncode == 0, single.stderr[-3000:]
    m_el, m_one = card["metrics"], _metrics(tmp_path / "one")
    for key in ("accuracy", "macro_f1"):
        assert abs(m_el[key] - m_one[key]) <= 0.02, (m_el, m_one)


def _kill_one_worker_run(psutil, ds: Path, out: Path) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Start 2 elastic workers, SIGKILL one after the first checkpoint, return torchrun's exit code and stderr."""
    args = ["--data", str(ds), "--model", "fasttext", "--out", str(out), "--epochs", "3",
            "--no-progress", "--config", str(ds / "ft.toml")]
    proc = _torchrun(args, ["--max-restarts", "3"])
    last = out / "checkpoints" / "last.pt"
    deadline = time.time() + 180
    while not last.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "no checkpoint within 180 s"
        time.sleep(0.05)
    workers = children_running(psutil, proc.pid, "siteclass.training")
    assert len(workers) == 2
    os.kill(workers[1].pid, signal.SIGKILL)
    try:
        _out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        for p in psutil.Process(proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        proc.kill()
        _out, err = proc.communicate()
        return 1, err + "\nrestarted group hung for 300 s"
    return proc.returncode, err


def test_a_worker_whose_group_never_forms_exits_after_the_timeout() -> None:
    """No peer ever comes: the worker ends after dist_timeout_s (so torchrun can restart it) instead of waiting."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = ("import os; os.environ.update(WORLD_SIZE='2', RANK='0', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1', "
            f"MASTER_PORT='{port}'); from siteclass.models.torchloop import init_distributed; init_distributed(3)")
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and time.monotonic() - started < 60
    assert "did not form within 3 s" in r.stderr, r.stderr[-2000:]


def test_a_model_without_ddp_is_fitted_by_rank_0_alone(tmp_path: Path) -> None:
    """Under torchrun, a model without the ``distributed`` capability is fitted once, by rank 0; the other rank
    waits at the barrier (it used to fit the whole model too)."""
    ds = make_dataset(tmp_path / "ds", n_train=60, n_val=20, seed=5)
    log = tmp_path / "fits.log"
    tests_dir = str(Path(__file__).parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TINY_FIT_LOG": str(log),
           "PYTHONPATH": os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH", "")) if p)}
    done = subprocess.run(
        [TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "siteclass.training", "--data", str(ds),
         "--model", "custom_model.tiny:TinyClassifier", "--out", str(tmp_path / "m"), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert log.read_text().split() == ["0"]
    assert (tmp_path / "m" / "config.json").is_file()
