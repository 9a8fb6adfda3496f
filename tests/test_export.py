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
from siteclass.models.zeroshot import ZeroShotClassifier

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
    # the saved graph is fused: one Attention per layer, residual + LayerNorm fused twice per layer (MiniLM: 6 layers)
    assert info["fused_operators"]["Attention"] == 6 and info["fused_operators"]["SkipLayerNormalization"] == 12
    # the same folder switches back to PyTorch on request
    back = load_model(exported).use_backend("torch")  # type: ignore[attr-defined]
    np.testing.assert_allclose(back.predict_proba(test_records), p_torch, atol=1e-9)


def test_int8_top1_agreement(saved: Path, test_records: list[dict], tmp_path: Path) -> None:
    folder = tmp_path / "int8"
    shutil.copytree(saved, folder)
    assert run(["export", "--model", str(folder), "--format", "onnx", "--int8"]) == 0
    assert json.loads((folder / EXPORT_INFO).read_text())["int8"] is True
    assert (folder / "model.onnx").stat().st_size < 40e6  # int8 weights: ~23 MB instead of ~90 MB
    q = load_onnx_model(folder)
    agree = (load_model(saved).predict_proba(test_records).argmax(1) == q.predict_proba(test_records).argmax(1)).mean()
    assert agree >= 0.9


def test_export_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["export", "--model", str(tmp_path), "--format", "tflite"]) == 2
    assert "--format" in capsys.readouterr().err
    assert run(["export", "--model", str(tmp_path / "nothing")]) == 2
    assert "not a siteclass model folder" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "fasttext", "params": {}}))
    with pytest.raises(InputError, match="numpy only"):
        export_onnx(tmp_path)


NO_TORCH = textwrap.dedent(
    """
    import json, sys
    sys.modules["torch"] = None          # `import torch` now raises ImportError
    sys.modules["transformers"] = None
    from siteclass.errors import ModelError
    from siteclass.models.base import load_model
    records = json.loads(sys.argv[3])
    out = {}
    for key, folder in (("transformer", sys.argv[1]), ("zeroshot", sys.argv[2])):
        model = load_model(folder)
        out[key] = {"backend": model.backend_in_use, "proba": model.predict_proba(records).tolist(),
                    "top": model.predict_top_k(records[0], k=2)[0]}
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
