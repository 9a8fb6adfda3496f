"""Talking to Scrapyd: its JSON API, the egg that carries siteclass to it, and a ready ``scrapyd.conf``.

Scrapyd runs one ``scrapy crawl`` process per job from an *egg*: a zip of the Python package whose
``EGG-INFO/entry_points.txt`` names the Scrapy settings module. :func:`build_egg` writes that zip straight from
the installed ``siteclass`` package (no setup.py, no build step), and :meth:`ScrapydClient.add_version` uploads it
through ``addversion.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx

from siteclass._version import __version__
from siteclass.config import ScrapydSettings

SPIDER = "siteclass"
SETTINGS_MODULE = "siteclass.crawling.scrapyd.job"  # scrapy_settings + an add-on decoding -s JSON


class ScrapydError(RuntimeError):
    """A Scrapyd server answered with an error, or could not be reached (``unreachable`` is then True)."""

    def __init__(self, url: str, message: str, unreachable: bool = False) -> None:
        super().__init__(f"scrapyd {url}: {message}")
        self.url = url
        self.unreachable = unreachable


@dataclass
class Jobs:
    """``listjobs.json`` of one project, as sets of job ids."""

    pending: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    durations: dict[str, float] = field(default_factory=dict)  # finished job → seconds it ran (Scrapyd's clock)

    def state(self, job: str) -> str | None:
        for name in ("pending", "running", "finished"):
            if job in getattr(self, name):
                return name
        return None


class ScrapydClient:
    """The few Scrapyd API calls the scheduler needs, over one keep-alive HTTP client."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, endpoint, **kwargs)
        except httpx.TransportError as exc:
            raise ScrapydError(self.url, f"{endpoint} failed: {exc!r}", unreachable=True) from exc
        if response.status_code >= 500:
            raise ScrapydError(self.url, f"{endpoint} answered HTTP {response.status_code}", unreachable=True)
        try:
            data = response.json()
        except ValueError as exc:
            raise ScrapydError(self.url, f"{endpoint} answered non-JSON HTTP {response.status_code}") from exc
        if data.get("status") != "ok":
            raise ScrapydError(self.url, f"{endpoint}: {data.get('message', data)}")
        return dict(data)

    def daemon_status(self) -> dict[str, Any]:
        return self._call("GET", "/daemonstatus.json")

    def add_version(self, project: str, version: str, egg: bytes) -> int:
        """Upload *egg*; returns the number of spiders Scrapyd found in it."""
        data = self._call(
            "POST", "/addversion.json", data={"project": project, "version": version},
            files={"egg": (f"{project}-{version}.egg", egg, "application/octet-stream")},
        )
        return int(data.get("spiders", 0))

    def schedule(
        self, project: str, version: str, args: dict[str, str], settings: dict[str, str], jobid: str
    ) -> str:
        form: dict[str, Any] = {"project": project, "spider": SPIDER, "_version": version, "jobid": jobid, **args}
        form["setting"] = [f"{k}={v}" for k, v in settings.items()]
        return str(self._call("POST", "/schedule.json", data=form)["jobid"])

    def list_jobs(self, project: str) -> Jobs:
        try:
            data = self._call("GET", "/listjobs.json", params={"project": project})
        except ScrapydError as exc:
            if "not found" in str(exc) and not exc.unreachable:
                return Jobs()  # a fresh server that has not seen the project yet
            raise
        return Jobs(
            pending={j["id"] for j in data.get("pending", [])},
            running={j["id"] for j in data.get("running", [])},
            finished={j["id"] for j in data.get("finished", [])},
            durations={j["id"]: d for j in data.get("finished", []) if (d := _duration(j)) is not None},
        )

    def cancel(self, project: str, job: str) -> None:
        self._call("POST", "/cancel.json", data={"project": project, "job": job})


def _duration(job: dict[str, Any]) -> float | None:
    """Seconds between a finished job's ``start_time`` and ``end_time`` (both on the server's clock)."""
    from datetime import datetime

    try:
        return (datetime.fromisoformat(job["end_time"]) - datetime.fromisoformat(job["start_time"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


# ----- egg -----


def _package_files() -> list[tuple[str, bytes]]:
    """(archive name, bytes) of every .py file of the installed siteclass package, sorted."""
    import siteclass

    root = Path(siteclass.__file__).resolve().parent
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        if "__pycache__" in rel or rel.startswith("siteclass/demo/_"):  # the demo corpus is not crawl code
            continue
        files.append((rel, path.read_bytes()))
    return files


def build_egg() -> tuple[str, bytes]:
    """(version, egg bytes) of the installed siteclass package; the version changes when the code does."""
    files = _package_files()
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode() + b"\0" + data)
    version = f"{__version__}+{digest.hexdigest()[:12]}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as egg:
        for name, data in files:
            egg.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
        meta = {
            "PKG-INFO": f"Metadata-Version: 2.1\nName: siteclass\nVersion: {version}\n",
            "entry_points.txt": f"[scrapy]\nsettings = {SETTINGS_MODULE}\n",
            "top_level.txt": "siteclass\n",
            "zip-safe": "\n",
        }
        for name, text in meta.items():
            egg.writestr(zipfile.ZipInfo(f"EGG-INFO/{name}", date_time=(2020, 1, 1, 0, 0, 0)), text)
    return version, buf.getvalue()


# ----- scrapyd.conf -----


def scrapyd_conf(settings: ScrapydSettings, directory: str | Path | None = None) -> str:
    """A ``scrapyd.conf`` for one node: loopback-bound by default, SQLite queue and job storage (both survive a
    restart), eggs/logs/dbs under *directory* (relative to Scrapyd's working folder when None)."""
    base = Path(directory).resolve() if directory is not None else None

    def under(name: str) -> str:
        return str(base / name) if base is not None else name

    lines = [
        "# Scrapyd configuration written by `siteclass scrapyd-conf`.",
        "# Start Scrapyd from the folder holding this file (it reads ./scrapyd.conf): `cd DIR && scrapyd`.",
        "[scrapyd]",
        f"bind_address      = {settings.bind_address}",
        f"http_port         = {settings.http_port}",
        f"max_proc          = {settings.max_proc}",
        f"max_proc_per_cpu  = {settings.max_proc_per_cpu}",
        f"poll_interval     = {settings.queue_poll_s}",
        "# pending jobs and finished jobs are kept in SQLite, so both survive a Scrapyd restart",
        "spiderqueue       = scrapyd.spiderqueue.SqliteSpiderQueue",
        "jobstorage        = scrapyd.jobstorage.SqliteJobStorage",
        f"finished_to_keep  = {settings.finished_to_keep}",
        f"eggs_dir          = {under('eggs')}",
        f"logs_dir          = {under('logs')}",
        f"dbs_dir           = {under('dbs')}",
        "items_dir         =",
        "jobs_to_keep      = 5",
        "",
    ]
    return "\n".join(lines)


class LocalScrapyd:
    """A real ``scrapyd`` process on 127.0.0.1, in its own folder with a :func:`scrapyd_conf` configuration.

    For tests, benchmarks and single-machine runs: ``LocalScrapyd(folder, max_proc=2).start()`` … ``.stop()``.
    It runs in its own process group, so :meth:`stop` also ends the crawl processes it started.
    """

    def __init__(self, folder: str | Path, max_proc: int = 0, port: int = 0, queue_poll_s: float = 0.5) -> None:
        self.folder = Path(folder)
        self.port = port or _free_port()
        self.folder.mkdir(parents=True, exist_ok=True)
        conf = ScrapydSettings.model_validate(
            {"http_port": self.port, "max_proc": max_proc, "queue_poll_s": queue_poll_s}
        )
        (self.folder / "scrapyd.conf").write_text(scrapyd_conf(conf, self.folder), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> Self:
        with (self.folder / "scrapyd.out").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scrapyd", "--pidfile=", "--logfile", str(self.folder / "twistd.log")],
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"scrapyd exited with code {self.proc.returncode}; see {self.folder}/twistd.log")
            try:
                if httpx.get(f"{self.url}/daemonstatus.json", timeout=2, trust_env=False).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"scrapyd did not answer on {self.url} within {timeout_s:.0f} s")

    def stop(self) -> None:
        """Stop Scrapyd and the crawl processes it started (its whole process group)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
