"""The model predict and serve use without --model (siteclass/bundled.py): the bundled NAICS model's int8
export, built once into the cache folder and loaded from there afterwards; the PyTorch model on request or when the
export cannot be built, with a warning."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest

import siteclass.export as export
from siteclass import bundled
from siteclass.bundled import resolve
from siteclass.cli import run
from siteclass.errors import InputError
from siteclass.models.registry import resolve_model
from siteclass.models.zeroshot import ZeroShotClassifier, default_zeroshot_model

TEXTS = [
    "Family dentistry, teeth cleaning, implants and orthodontics for all ages.",
    "We haul freight across the Midwest with our fleet of refrigerated trucks.",
    "Tax returns, bookkeeping and payroll for small businesses.",
    "Fresh bread, pastries and custom wedding cakes baked daily.",
    "Residential plumbing: leaks, water heaters, drain cleaning, 24/7 emergency service.",
    "Our law firm handles personal injury, divorce and estate planning.",
    "Cloud software that automates invoicing for accounting teams.",
    "Farm-to-table restaurant serving seasonal dishes and local wines.",
    "Commercial construction, general contracting and renovation projects.",
    "Hospital network providing emergency care, surgery and outpatient clinics.",
    "Retail store selling women's clothing, shoes and accessories.",
    "Real estate agency helping families buy and sell homes.",
]
RECORDS = [{"name": "", "domain": f"site{i}.com", "text": t} for i, t in enumerate(TEXTS)]


@pytest.fixture(scope="module")
def built() -> Path:
    """The session cache's int8 folder (tests/conftest.py sets SITECLASS_CACHE_DIR), built by the default path."""
    model = resolve(None)
    assert model.backend_in_use == "onnx"  # type: ignore[attr-defined]
    return bundled.int8_folder()


def test_default_model_is_the_cached_int8_export(built: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert built.parent == Path(os.environ[bundled.CACHE_ENV])
    assert (built / "model.onnx").is_file() and (built / "model.fp32.onnx").is_file()
    assert not [p for p in built.parent.iterdir() if p.name.startswith(".")]  # no build folder left behind

    def no_build(*args: object, **kwargs: object) -> Path:
        raise AssertionError("the cached folder was built again")

    monkeypatch.setattr(export, "export_bundled", no_build)
    q = resolve(None)  # loaded from the cache, not built
    torch_model = default_zeroshot_model()
    assert isinstance(q, ZeroShotClassifier) and q.backend_in_use == "onnx"
    assert q.classes_ == torch_model.classes_
    assert q.default_min_confidence == torch_model.default_min_confidence > 0
    p, t = q.predict_proba(RECORDS), torch_model.predict_proba(RECORDS)
    assert (p.argmax(1) == t.argmax(1)).mean() >= 0.9
    assert abs(p - t).max() < 0.1


def test_registry_none_is_the_pytorch_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bundled.CACHE_ENV, str(tmp_path / "cache"))
    assert resolve_model(None).backend_in_use == "torch"  # type: ignore[attr-defined]
    assert not (tmp_path / "cache").exists()


def test_torch_backend_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bundled.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(bundled.BACKEND_ENV, "torch")
    model = resolve(None)
    assert model.backend_in_use == "torch"  # type: ignore[attr-defined]
    assert not (tmp_path / "cache").exists()


def test_unbuildable_cache_falls_back_to_torch_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv(bundled.CACHE_ENV, str(blocker))
    with caplog.at_level(logging.WARNING, logger=bundled.__name__):
        model = resolve(None)
    assert model.backend_in_use == "torch"  # type: ignore[attr-defined]
    assert "runs in PyTorch" in caplog.text and str(blocker) in caplog.text


def test_bad_backend_name_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(bundled.BACKEND_ENV, "fast")
    with pytest.raises(InputError, match="SITECLASS_BUNDLED_BACKEND='fast'"):
        resolve(None)
    table = tmp_path / "t.csv"
    table.write_text("description\nWe fix pipes and water heaters.\n")
    assert run(["predict", "--table", str(table), "--text", "description", "--out", str(tmp_path / "p.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert "SITECLASS_BUNDLED_BACKEND" in err and len(err.splitlines()) == 1, err


def test_damaged_folder_is_built_again(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bundled.CACHE_ENV, str(tmp_path))
    folder = bundled.int8_folder()
    shutil.copytree(built, folder)
    (folder / "config.json").write_text("{ not json")
    calls = []

    def build_from_the_good_copy(out: Path, int8: bool = False) -> Path:  # the real export is tested above
        calls.append(out)
        shutil.copytree(built, out)
        return out / "model.onnx"

    monkeypatch.setattr(export, "export_bundled", build_from_the_good_copy)
    model = resolve(None)
    assert model.backend_in_use == "onnx" and len(calls) == 1  # type: ignore[attr-defined]
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]  # the damaged one is gone


def test_a_build_that_lands_second_keeps_the_first(built: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes building at once: the one whose rename finds the folder there uses it, and cleans up."""
    monkeypatch.setenv(bundled.CACHE_ENV, str(tmp_path))
    folder = bundled.int8_folder()

    def other_process_lands_first(out: Path, int8: bool = False) -> Path:
        shutil.copytree(built, folder)  # the other build's rename, done while this one exported
        shutil.copytree(built, out)
        return out / "model.onnx"

    monkeypatch.setattr(export, "export_bundled", other_process_lands_first)
    model = resolve(None)
    assert model.backend_in_use == "onnx"  # type: ignore[attr-defined]
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder.name]


def test_cache_folder_follows_the_package_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    before = bundled.int8_folder()
    from importlib import metadata

    real_version = metadata.version
    monkeypatch.setattr(metadata, "version",
                        lambda name: "999" if name == "onnxruntime" else real_version(name))
    assert bundled.int8_folder() != before and bundled.int8_folder().parent == before.parent
