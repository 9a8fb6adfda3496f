"""ONNX export (fused graph): parity with PyTorch (fp32 within 1e-4, int8 top-1), the CLI, and inference with torch blocked."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from siteclass.cli import run
from siteclass.errors import InputError
from siteclass.export import EXPORT_INFO, export_onnx, load_onnx_model
from siteclass.models.base import load_model
from siteclass.models.transformer import TransformerClassifier
from siteclass.models.zeroshot import ZeroShotClassifier, default_zeroshot_model

TRAIN = [
    ("Bright Smile Dental", "brightsmile.com", "Teeth cleaning, fillings, dental implants and whitening.", "dental"),
    ("Tooth Care Clinic", "toothcare.org", "Orthodontics, braces and dental checkups for children.", "dental"),
    ("Gentle Dentist", "gentle-dentist.co", "Root canals, crowns and emergency dental care.", "dental"),
    ("Acme Plumbing", "acme-plumbing.com", "We fix leaking pipes and install water heaters.", "plumbing"),
    ("Pipe Pros", "pipepros.net", "Drain cleaning, pipe repair and emergency plumber service.", "plumbing"),
    ("Flow Masters", "flowmasters.us", "Sewer line repair, toilets, faucets and leak detection.", "plumbing"),
    ("Luigi Pizzeria", "luigipizza.com", "Wood fired pizza, pasta and salads. Dine in or take out.", "food"),
    ("Slice House", "slicehouse.info", "Pizza by the slice, calzones and pizza delivery every night.", "food"),
    ("Taco Town", "tacotown.site", "Tacos, burritos and nachos; family restaurant and catering.", "food"),
]
TEST_TEXTS = [
    "Dental exams and cleanings", "Emergency plumber 24/7", "Burgers and fries", "Invisalign and braces",
    "Water heater replacement", "Sushi restaurant downtown", "Pediatric dentistry", "Clogged toilet repair",
    "Vegan bakery and cafe", "Teeth whitening specials", "Pipe leak detection", "Pizza night deals",
    "Oral surgery and wisdom teeth", "Bathroom remodeling and faucets", "Catering for weddings", "Our company",
    "Welcome to our website", "Contact us today for a free quote",
]


def _record(name: str, domain: str, text: str) -> dict:
    return {"name": name, "domain": domain, "pages": [{"url": f"https://{domain}/", "title": name, "text": text}]}


@pytest.fixture(scope="module")
def test_records() -> list[dict]:
    return [_record(f"Company {i}", f"company{i}.com", t) for i, t in enumerate(TEST_TEXTS)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small frozen-encoder transformer, saved (no model.onnx yet)."""
    model = TransformerClassifier(freeze_encoder=True, max_tokens=64, pages=2, epochs=10, head_lr=1e-2, batch_size=3)
    model.fit([_record(n, d, t) for n, d, t, _ in TRAIN], [lab for *_, lab in TRAIN], progress=False)
    return model.save(tmp_path_factory.mktemp("export") / "transformer")


@pytest.fixture(scope="module")
def exported(saved: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("onnx") / "fp32"
    shutil.copytree(saved, folder)
    assert export_onnx(folder) == folder / "model.onnx"
    return folder


def test_fp32_parity(saved: Path, exported: Path, test_records: list[dict]) -> None:
    torch_model = load_model(saved)
    assert torch_model.backend_in_use == "torch"  # type: ignore[attr-defined]
    onnx_model = load_model(exported)  # picks model.onnx automatically
    assert onnx_model.backend_in_use == "onnx"  # type: ignore[attr-defined]
    p_torch, p_onnx = torch_model.predict_proba(test_records), onnx_model.predict_proba(test_records)
    assert np.abs(p_torch - p_onnx).max() <= 1e-4
    assert (p_torch.argmax(axis=1) == p_onnx.argmax(axis=1)).all()
    info = json.loads((exported / EXPORT_INFO).read_text())
    assert info["int8"] is False and info["max_abs_diff_vs_torch"] < 1e-4 and info["model_type"] == "transformer"
    # the saved graph is fused: one Attention and one BiasGelu per layer (MiniLM: 6 layers); residual + LayerNorm
    # stays Add + LayerNormalization (ORT's SkipLayerNormalization kernel is the slower one on CPU)
    fused = info["fused_operators"]
    assert fused["Attention"] == 6 and fused["BiasGelu"] == 6 and fused["LayerNormalization"] == 13
    assert "SkipLayerNormalization" not in fused
    assert not (exported / "model.fp32.onnx").exists()  # no int8, no fallback graph
    # the same folder switches back to PyTorch on request
    back = load_model(exported).use_backend("torch")  # type: ignore[attr-defined]
    np.testing.assert_allclose(back.predict_proba(test_records), p_torch, atol=1e-9)


def test_int8_top1_agreement(saved: Path, test_records: list[dict], tmp_path: Path) -> None:
    folder = tmp_path / "int8"
    shutil.copytree(saved, folder)
    assert run(["export", "--model", str(folder), "--format", "onnx", "--int8"]) == 0
    assert json.loads((folder / EXPORT_INFO).read_text())["int8"] is True
    assert (folder / "model.onnx").stat().st_size < 40e6  # int8 weights: ~23 MB instead of ~90 MB
    assert (folder / "model.fp32.onnx").is_file()  # the near-tie fallback
    q = load_onnx_model(folder)
    agree = (load_model(saved).predict_proba(test_records).argmax(1) == q.predict_proba(test_records).argmax(1)).mean()
    assert agree >= 0.9


def test_int8_near_ties_rescored_in_fp32(saved: Path, test_records: list[dict], tmp_path: Path) -> None:
    p_torch = load_model(saved).predict_proba(test_records)
    plain, everything = tmp_path / "plain", tmp_path / "everything"
    shutil.copytree(saved, plain)
    shutil.copytree(saved, everything)
    # margin 0: int8 alone, no fp32 graph; its probabilities show int8 rounding
    assert run(["export", "--model", str(plain), "--int8", "--recheck-margin", "0"]) == 0
    assert not (plain / "model.fp32.onnx").exists()
    assert json.loads((plain / EXPORT_INFO).read_text())["recheck_margin"] == 0.0
    q = load_model(plain)
    p_int8 = q.predict_proba(test_records)
    assert np.abs(p_int8 - p_torch).max() > 1e-4
    assert q._inference_encoder().fallback is None  # type: ignore[attr-defined]
    # int8 activation ranges are fixed at export: a record scored alone gets the answer it gets in a batch
    q._inference_encoder().clear_cache()  # type: ignore[attr-defined]
    alone = np.vstack([q.predict_proba([rec]) for rec in test_records])
    np.testing.assert_allclose(alone, p_int8, rtol=0, atol=1e-6)
    # margin 0.9: most records here are "near ties"; those come from the fp32 graph, the others stay int8
    export_onnx(everything, int8=True, recheck_margin=0.9)
    info = json.loads((everything / EXPORT_INFO).read_text())
    assert info["recheck_margin"] == 0.9 and info["fallback_file"] == "model.fp32.onnx"
    top2 = np.sort(p_int8, axis=1)[:, -2:]
    near = top2[:, 1] - top2[:, 0] < 0.9
    assert 0 < near.sum() < len(test_records)
    r = load_model(everything)
    p = r.predict_proba(test_records)
    assert np.abs(p[near] - p_torch[near]).max() <= 1e-4
    np.testing.assert_allclose(p[~near], p_int8[~near], atol=1e-6)
    assert r._inference_encoder().rechecked == near.sum()  # type: ignore[attr-defined]
    # a later fp32 export of the same folder removes the stale fallback graph
    export_onnx(everything)
    assert not (everything / "model.fp32.onnx").exists()
    with pytest.raises(InputError, match="recheck_margin"):
        export_onnx(everything, int8=True, recheck_margin=1.5)


def test_export_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["export", "--model", str(tmp_path), "--format", "tflite"]) == 2
    assert "--format" in capsys.readouterr().err
    assert run(["export", "--model", str(tmp_path / "nothing")]) == 2
    assert "not a siteclass model folder" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "fasttext", "params": {}}))
    with pytest.raises(InputError, match="has no ONNX export"):
        export_onnx(tmp_path)


def test_bundled_model_exported_int8(tmp_path: Path, test_records: list[dict],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`export --bundled --out DIR --int8`: the bundled NAICS model in a folder, answered by ONNX Runtime, with its
    calibrated minimum confidence and the top labels of the PyTorch default."""
    out = tmp_path / "naics"
    assert run(["export", "--bundled", "--out", str(out), "--int8"]) == 0
    bundled = default_zeroshot_model()
    q = load_model(out)
    assert q.backend_in_use == "onnx" and (out / "model.fp32.onnx").is_file()  # type: ignore[attr-defined]
    assert q.default_min_confidence == bundled.default_min_confidence > 0  # type: ignore[attr-defined]
    agree = (q.predict_proba(test_records).argmax(1) == bundled.predict_proba(test_records).argmax(1)).mean()
    assert agree >= 0.9
    for argv, says in (
        (["export", "--bundled", "--out", str(out)], "already exists"),
        (["export", "--bundled"], "--bundled needs --out"),
        (["export", "--bundled", "--model", str(out), "--out", str(tmp_path / "x")], "one of them"),
        (["export"], "one of them"),
        (["export", "--model", str(out), "--out", str(tmp_path / "x")], "--out is for --bundled"),
    ):
        assert run(argv) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()


def test_failed_bundled_export_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import siteclass.export as export

    def fail(*args: object, **kwargs: object) -> Path:
        raise MemoryError("injected: the export ran out of memory")

    monkeypatch.setattr(export, "export_onnx", fail)
    with pytest.raises(MemoryError):
        export.export_bundled(tmp_path / "naics", int8=True)
    assert not (tmp_path / "naics").exists()  # a rerun is not refused as "already exists"


NO_TORCH = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class NoTorch(importlib.abc.MetaPathFinder):  # `import torch` raises ImportError, as where it is not installed
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("torch", "transformers"):
                raise ImportError(f"No module named {name!r}")
            return None

    # (not sys.modules["torch"] = None: scipy, imported by the NAICS model's TF-IDF, reads sys.modules["torch"])
    sys.meta_path.insert(0, NoTorch())
    from siteclass.errors import ModelError
    from siteclass.models.base import load_model
    records = json.loads(sys.argv[3])
    out = {}
    for key, folder in (("transformer", sys.argv[1]), ("zeroshot", sys.argv[2])):
        model = load_model(folder)
        out[key] = {"backend": model.backend_in_use, "proba": model.predict_proba(records).tolist(),
                    "top": model.predict_top_k(records[0], k=2)}
    try:
        load_model(sys.argv[4]).predict_proba(records)
        out["without_onnx"] = "predicted"
    except ModelError as exc:
        out["without_onnx"] = str(exc)
    out["torch_imported"] = sys.modules.get("torch") is not None
    print(json.dumps(out))
    """
)


def test_predict_without_torch(saved: Path, exported: Path, test_records: list[dict], tmp_path: Path) -> None:
    zs_dir = ZeroShotClassifier(max_tokens=64).fit(None, None).save(tmp_path / "zeroshot")
    assert run(["export", "--model", str(zs_dir), "--format", "onnx"]) == 0
    zs_expected = ZeroShotClassifier.load(zs_dir).use_backend("torch").predict_proba(test_records)  # type: ignore[attr-defined]
    proc = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(exported), str(zs_dir), json.dumps(test_records), str(saved)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["torch_imported"] is False
    assert out["transformer"]["backend"] == out["zeroshot"]["backend"] == "onnx"
    expected = load_model(saved).predict_proba(test_records)
    assert np.abs(np.array(out["transformer"]["proba"]) - expected).max() <= 1e-4
    assert np.abs(np.array(out["zeroshot"]["proba"]) - zs_expected).max() <= 1e-4
    assert "siteclass export" in out["without_onnx"]
