"""Input files a data team really gets (#19): CSVs that are not UTF-8, header-only files, one-class labels.

Each is either read correctly or refused with exit code 2 and one line naming the file and the fix; never
mojibake, never a failure three stages later.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_helpers import table_rows

from siteclass.cli import run
from siteclass.data.io import read_split, read_table

ACCENTED = ["Société Générale", "Café Crème", "Bäckerei Müller", "Crêperie Noël"]


def _write_csv(path: Path, rows: list[dict[str, str]], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _accented_rows() -> list[dict[str, str]]:
    rows = table_rows({"Food": 20, "Bank": 20})
    for i, row in enumerate(rows):
        row["name"] = f"{ACCENTED[i % len(ACCENTED)]} {i}"
        row["description"] = f"{row['description']} spécialité français à côté {i}"
    return rows


def test_latin1_csv_is_read_as_text_never_mojibake(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "latin1.csv", _accented_rows(), "latin-1")
    assert b"Soci\xe9t\xe9" in path.read_bytes()  # really not UTF-8
    names = read_table(path).column("name").to_pylist()
    assert names[0] == "Société Générale 0" and all(isinstance(n, str) for n in names)
    split = read_split(path)
    assert split.records[1]["name"] == "Café Crème 1"
    assert read_table(path, encoding="latin-1").column("name").to_pylist() == names


def test_dataset_build_reads_latin1_table_through_the_cli(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "companies.csv", _accented_rows(), "cp1252")
    out = tmp_path / "ds"
    proc = subprocess.run(
        [sys.executable, "-m", "siteclass", "dataset", "build", "--table", str(path), "--text", "name,description",
         "--label", "label", "--out", str(out), "-q"], capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "is not UTF-8; read as cp1252" in proc.stderr  # detection is said, not silent
    names = {r["name"] for s in ("train", "val", "test") for r in pq.read_table(out / f"{s}.parquet").to_pylist()}
    assert "Société Générale 0" in names and not any("Ã" in n or "\ufffd" in n for n in names)


def test_wrong_encoding_is_refused_naming_file_and_option(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write_csv(tmp_path / "latin1.csv", _accented_rows(), "latin-1")
    code = run(["dataset", "build", "--table", str(path), "--text", "name,description", "--label", "label",
                "--encoding", "utf-8", "--out", str(tmp_path / "ds"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and str(path) in err and "--encoding" in err, err
    code = run(["dataset", "build", "--table", str(path), "--text", "name", "--label", "label",
                "--encoding", "klingon", "--out", str(tmp_path / "ds"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "klingon" in err and "--encoding" in err


def test_undetectable_bytes_are_refused(tmp_path: Path) -> None:
    from siteclass.charsets import resolve_encoding
    from siteclass.errors import InputError

    noise = bytes(range(128, 256)) * 4 + b"\x00\x81\x8d\x8f\x90\x9d"
    try:
        found = resolve_encoding(noise, "noise.csv")
    except InputError as exc:
        assert "noise.csv" in str(exc) and "--encoding" in str(exc)
    else:  # a detector may still name a single-byte code page: then it is one Python can decode with
        noise.decode(found)


def test_labels_agree_reads_latin1_judgements(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    rows = [{"item": f"site{i}", "labeller": who, "label": "Boulangerie-pâtisserie" if i % 2 else "Crêperie"}
            for i in range(6) for who in ("ann", "bob")]
    path = _write_csv(tmp_path / "judgements.csv", rows, "latin-1")
    assert run(["labels", "agree", str(path), "--out", str(tmp_path / "agree")]) == 0
    capsys.readouterr()
    with (tmp_path / "agree" / "consensus.csv").open(encoding="utf-8") as fh:
        labels = {r["label"] for r in csv.DictReader(fh)}
    assert labels == {"Boulangerie-pâtisserie", "Crêperie"}
    # and the same file with a wrong --encoding: refused, naming the file and the option
    code = run(["labels", "agree", str(path), "--out", str(tmp_path / "agree2"), "--encoding", "utf-8"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and str(path) in err and "--encoding" in err and len(err.splitlines()) == 1, err


def test_use_encoding_reaches_read_split(tmp_path: Path) -> None:
    from siteclass.charsets import use_encoding
    from siteclass.errors import InputError

    path = _write_csv(tmp_path / "test.csv", _accented_rows(), "latin-1")
    with use_encoding("latin-1"):
        assert read_split(path).records[0]["name"] == "Société Générale 0"
    with use_encoding("utf-8"), pytest.raises(InputError, match="--encoding"):
        read_split(path)


def test_header_only_csv_says_no_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("name,description,label\n", encoding="utf-8")
    code = run(["dataset", "build", "--table", str(path), "--text", "description", "--label", "label",
                "--out", str(tmp_path / "ds"), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "has no rows" in err and "name, description, label" in err and str(path) in err
    assert "not found" not in err and "(none)" not in err


def test_one_class_fails_at_dataset_build(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write_csv(tmp_path / "one.csv", table_rows({"Food": 30}), "utf-8")
    out = tmp_path / "ds"
    code = run(["dataset", "build", "--table", str(path), "--text", "description", "--label", "label",
                "--out", str(out), "-q"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "'label'" in err and "'Food'" in err and "one class" in err and str(path) in err
    assert not (out / "train.parquet").exists()


def test_one_class_left_after_min_per_class(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = _write_csv(tmp_path / "two.csv", table_rows({"Food": 30, "Rare": 2}), "utf-8")
    code = run(["dataset", "build", "--table", str(path), "--text", "description", "--label", "label",
                "--min-per-class", "5", "--out", str(tmp_path / "ds"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "one class, 'Food'" in err and "--min-per-class" in err


def test_one_class_test_only_build_is_allowed(tmp_path: Path) -> None:
    """--split 0,0,1 builds an evaluation set: one class there trains nothing and is a fair thing to score."""
    path = _write_csv(tmp_path / "one.csv", table_rows({"Food": 10}), "utf-8")
    assert run(["dataset", "build", "--table", str(path), "--text", "description", "--label", "label",
                "--split", "0,0,1", "--out", str(tmp_path / "ds"), "-q"]) == 0
    assert pq.read_table(tmp_path / "ds" / "test.parquet").num_rows == 10
