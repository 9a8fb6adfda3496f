"""bench/gpu_prep.py: what it writes for #18 part 5's GPU run loads and reads as the bench's own inputs do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import gpu_prep, quality


def test_float16_encoder_loads_into_float32_with_the_same_embeddings(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from siteclass.models.encoder import BUNDLED_ENCODER, TorchEncoder, resolve_encoder

    gpu_prep.encoder(tmp_path / "encoder")
    source = resolve_encoder(BUNDLED_ENCODER)
    assert (tmp_path / "encoder" / "model.safetensors").stat().st_size < 0.6 * (source / "model.safetensors").stat().st_size
    texts = ["Family dentistry and orthodontics in Millbrook", "Industrial pumps, valves and pipe fittings"]
    full = TorchEncoder(source, 64, cache=False).encode(texts)
    half = TorchEncoder(tmp_path / "encoder", 64, cache=False)
    assert {str(p.dtype) for p in half.module.parameters()} == {"torch.float32"}  # trained in float32
    rounded = half.encode(texts)
    cosine = (full * rounded).sum(axis=1) / np.linalg.norm(full, axis=1) / np.linalg.norm(rounded, axis=1)
    assert cosine.min() > 0.9999


@pytest.mark.skipif(not quality.DATA.is_file(), reason=f"{quality.DATA} not found (the shared Crunchbase table)")
def test_single_task_table_gives_the_bench_its_splits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "shared" / "data" / "crunchbase" / "companies.parquet"
    gpu_prep.table(path)
    full = quality.load_task("single", None, 1)
    monkeypatch.setattr(quality, "DATA", path)
    slim = quality.load_task("single", None, 1)
    assert slim == full and len(full["train"]["records"]) > 5_000
