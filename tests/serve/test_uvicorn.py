"""Against a real uvicorn process on 127.0.0.1: health, prediction, a chunked body over the limit, the guard."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_helpers import Listener, free_port

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "SITECLASS_TEST_SERVE": json.dumps({"max_body_bytes": 20_000})}
    proc = subprocess.Popen([sys.executable, str(HERE / "run_server.py"), str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stdout.read().decode() if proc.stdout else ''}")
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("server did not become ready in 60 s")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_health_ready_model_and_predict(server: str) -> None:
    assert httpx.get(server + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server + "/readyz").status_code == 200
    assert httpx.get(server + "/v1/model").json()["labels"] == ["bakery", "law", "plumbing"]
    r = httpx.post(server + "/v1/predict/pages",
                   json={"url": "lawyers.com", "pages": [{"text": "attorneys litigation law firm"}]})
    assert r.status_code == 200 and r.json()["label"] == "law"
    assert "openapi" in httpx.get(server + "/openapi.json").json()
    assert "siteclass_requests_total" in httpx.get(server + "/metrics").text


def test_chunked_body_over_the_limit_is_413(server: str) -> None:
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /v1/predict/pages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 4096
        try:
            for _ in range(10):  # 40 KB > 20 KB, no Content-Length anywhere
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the rest is sent
        data = b""
        while b"payload_too_large" not in data:
            part = s.recv(65536)
            if not part:
                break
            data += part
        reply = data.decode("latin-1")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert "payload_too_large" in reply


def test_guard_vectors_get_no_connection(server: str, listener: Listener) -> None:
    port = listener.port
    for url in [f"http://127.0.0.1:{port}/", f"http://2130706433:{port}/", f"http://0x7f000001:{port}/",
                f"http://0177.0.0.1:{port}/", f"http://127.1:{port}/", f"http://[::ffff:127.0.0.1]:{port}/",
                f"http://localhost:{port}/", f"http://0.0.0.0:{port}/", "http://169.254.169.254/"]:
        r = httpx.post(server + "/v1/predict", json={"url": url}, timeout=30)
        assert r.status_code == 400 and r.json()["error"] == "url_not_allowed", (url, r.text)
    time.sleep(0.3)
    assert listener.accepted == []
