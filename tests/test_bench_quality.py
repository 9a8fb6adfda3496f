"""bench/quality.py's own options (the benchmark itself runs as ``python -m bench quality``, not in the suite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import quality


@pytest.mark.parametrize("args", [["--models", "linear,ensemble"], ["--skip", "transformer"]])
def test_finetune_without_the_transformer_is_a_usage_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        quality.main(["--finetune", *args])
    assert exit_info.value.code == 2
    assert "--finetune applies to the transformer model" in capsys.readouterr().err


def test_transformer_row_says_how_it_trained(monkeypatch: pytest.MonkeyPatch) -> None:
    """The frozen (CPU) and fine-tuned runs of the transformer get different names, so a table never mixes them."""
    seen: list[tuple[str, bool]] = []

    class _Pool:
        def __init__(self, *args: object, **kwargs: object) -> None: ...
        def __enter__(self) -> _Pool:
            return self
        def __exit__(self, *args: object) -> None: ...
        def submit(self, fn: object, job: tuple) -> _Pool:  # type: ignore[type-arg]
            seen.append((job[0], job[5]))
            self.job = job
            return self
        def result(self) -> dict[str, float]:
            return {"macro_f1": 0.0}

    monkeypatch.setattr(quality, "ProcessPoolExecutor", _Pool)
    monkeypatch.setattr(quality, "load_task", lambda task, limit, seed: {s: {"records": []} for s in ("train", "val", "test")})
    frozen = quality.run_task("single", 0, ["transformer"], (), None, 1)
    tuned = quality.run_task("single", 0, ["transformer"], (), None, 1, finetune=True)
    assert list(frozen["results"]) == ["transformer (frozen encoder)"]
    assert next(iter(tuned["results"])).startswith("transformer (fine-tuned on ")
    assert seen == [("transformer", False), ("transformer", True)]


def test_encoder_must_be_a_model_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        quality.main(["--models", "transformer", "--encoder", str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"--encoder {tmp_path}: no config.json there" in capsys.readouterr().err
