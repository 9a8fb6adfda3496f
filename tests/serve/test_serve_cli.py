"""The `siteclass predict` and `siteclass serve` commands, end to end with a saved fastText model."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import serve_models
from serve_helpers import free_port

from siteclass.cli import run


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from siteclass.models.fasttext import FastTextClassifier

    X, y = serve_models.training_data()
    model = FastTextClassifier(dim=16, epochs=20, buckets=1 << 16, use_char_ngrams=False, lr=0.5)
    model.fit(X * 4, y * 4, progress=False)
    path = tmp_path_factory.mktemp("model") / "fasttext"
    model.save(path)
    return path


def test_help_texts() -> None:
    for cmd in (["predict", "--help"], ["serve", "--help"]):
        assert run(cmd) == 0


def test_predict_crawl_command_writes_predictions(tmp_path: Path, model_dir: Path, capsys) -> None:
    serve_models.write_crawl(tmp_path / "crawl", 50)
    out = tmp_path / "pred.parquet"
    code = run(["predict", "--crawl", str(tmp_path / "crawl"), "--out", str(out), "--model", str(model_dir),
                "--top-k", "2", "--no-progress"])
    assert code == 0
    assert "50 sites, 45 predicted" in capsys.readouterr().out
    table = pq.read_table(out)
    assert table.num_rows == 50
    assert all(len(x) == 2 for x, s in zip(table.column("labels").to_pylist(), table.column("status").to_pylist())
               if s == "ok")


def test_predict_command_user_errors_exit_2(tmp_path: Path, model_dir: Path, capsys) -> None:
    assert run(["predict", "--crawl", str(tmp_path), "--model", str(model_dir)]) == 2
    assert "--out" in capsys.readouterr().err
    assert run(["predict", "--crawl", str(tmp_path), "--out", str(tmp_path / "p.parquet"),
                "--model", str(tmp_path / "missing")]) == 2


def test_serve_model_cpus_with_several_workers_exits_2_before_starting_them(model_dir: Path, capsys) -> None:
    assert run(["serve", "--model", str(model_dir), "--port", str(free_port()), "--workers", "2",
                "--model-cpus", "1"]) == 2
    assert "model_cpus = 1 pins the model process" in capsys.readouterr().err


def wait_ready(proc: subprocess.Popen[Any], base: str, times: int = 1, timeout_s: float = 90.0) -> None:
    """Until ``/readyz`` answers 200 *times* in a row, each on a new connection; fails if the server exits."""
    deadline = time.monotonic() + timeout_s
    ready = 0
    while time.monotonic() < deadline and proc.poll() is None and ready < times:
        try:
            ready = ready + 1 if httpx.get(base + "/readyz", timeout=1).status_code == 200 else 0
        except httpx.TransportError:
            ready = 0
        time.sleep(0.05 if ready else 0.2)
    if proc.poll() is not None:
        out = proc.stdout.read() if proc.stdout else ""
        pytest.fail(f"the server exited: {out.decode() if isinstance(out, bytes) else out}")
    assert ready >= times, f"the server was not ready within {timeout_s} s"


@pytest.fixture(params=[(1, "thread"), (2, "thread"), (1, "process")],
                ids=["one-process", "two-workers", "model-process"])
def cli_server(model_dir: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    import psutil

    port = free_port()
    workers, inference = request.param
    proc = subprocess.Popen(
        [sys.executable, "-m", "siteclass", "serve", "--model", str(model_dir), "--port", str(port),
         "--log-level", "warning", "--workers", str(workers), "--inference", inference],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ},
    )
    base = f"http://127.0.0.1:{port}"
    children: list[psutil.Process] = []
    try:
        wait_ready(proc, base, times=8)  # 8 new connections: with two workers, both have loaded the model
        children = psutil.Process(proc.pid).children(recursive=True)
        if inference == "process":
            assert any("siteclass.serve.model_process" in " ".join(c.cmdline()) for c in children)
        yield base
    finally:
        proc.terminate()
        try:
            assert proc.wait(20) is not None  # SIGTERM stops the server (and every worker)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        _, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"left running after the server stopped: {[c.cmdline() for c in alive]}"


def test_serve_command_loads_the_model_folder(cli_server: str) -> None:
    card = httpx.get(cli_server + "/v1/model").json()
    assert card["model_type"] == "fasttext" and card["labels"] == ["bakery", "law", "plumbing"]
    for _ in range(6):  # new connections (with two workers, they are spread over both; each has the model)
        r = httpx.post(cli_server + "/v1/predict/pages",
                       json={"url": "buns.com", "pages": [{"text": "fresh bread cakes"}]})
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert r.json()["industries"][0]["label"] in card["labels"]


@pytest.mark.parametrize("flags", [[], ["--no-access-log"]], ids=["default", "no-access-log"])
def test_access_log_line_per_request_unless_turned_off(model_dir: Path, flags: list[str]) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "siteclass", "serve", "--model", str(model_dir), "--port",
                             str(port), "--inference", "inline", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}")
        r = httpx.post(f"http://127.0.0.1:{port}/v1/predict/pages", json={"pages": [{"text": "fresh bread"}]})
        assert r.status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "Application startup complete" in out  # the other info lines stay
    assert ('"POST /v1/predict/pages HTTP/1.1" 200' in out) is (not flags), out


def test_predict_one_url_prints_industries_and_pages(model_dir: Path, capsys) -> None:
    from siteclass.demo.web import LocalWeb

    home = ("<html><head><title>Buns Bakery</title></head><body><p>Fresh bread, cakes and pastries baked daily.</p>"
            "<a href='/about'>About us</a></body></html>")
    with LocalWeb() as web:
        web.add_site("buns-bakery.com", {"/": home, "/about": "<html><title>About</title><p>Our bakery.</p></html>"})
        code = run(["predict", "buns-bakery.com", "--name", "Buns", "--model", str(model_dir), "--proxy",
                    web.proxy_url, "--top-k", "3"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "status: ok" in out and "pages used" in out
    assert "http://buns-bakery.com/about" in out
    assert all(label in out for label in ("bakery", "law", "plumbing"))


def test_serve_on_a_folder_that_is_not_a_model_exits_2_before_binding(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "siteclass", "serve", "--model", str(tmp_path), "--port",
                           str(port)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "not a siteclass model folder" in done.stderr and str(tmp_path) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1  # one line, no traceback


@pytest.mark.parametrize("target", ["no-such-site.invalid", "http://"])
def test_predict_url_without_a_prediction_exits_1_with_the_status(model_dir: Path, target: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from siteclass.demo.web import LocalWeb

    with LocalWeb() as web:  # an empty web: every name fails to resolve
        code = run(["predict", target, "--model", str(model_dir), "--proxy", web.proxy_url])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "no prediction for" in err and "status" in err
