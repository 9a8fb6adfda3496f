"""Every bad input of the labels stage through the real CLI: one line naming the file, row or column and what to
do, exit code 2, and the outputs that can still be written (one labeller: the consensus)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from labels_helpers import generate, prediction_rows, read_csv, write_csv, write_predictions

from siteclass.cli import run

J = "item,labeller,label\n"


def _bad(args: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    code = run(args)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line and "Traceback" not in err, err
    for needle in needles:
        assert needle in line, line
    return line


def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("text", "needles"), [
    ("", ["is empty (0 bytes)", "item, labeller, label"]),
    (J, ["has no rows"]),
    ("item,label\na,X\n", ["has no column 'labeller'", "columns present: item, label"]),
    (J + "a,x,A\na,y,B\nb,x,A\nb,y,A\na,x,C\nb,y,B\n",
     ["item 'a' was judged twice by labeller 'x'", "row 1, line 2 and row 5, line 6", "2 (item, labeller) pairs",
      "drop duplicates on (item, labeller)"]),
    (J + "a,x,A\na,y,\n", ["row 2, line 3: column 'label' is empty", "fill it in or remove the row"]),
    (J + "a,x,A\n ,y,B\n", ["row 2, line 3: column 'item' is empty"]),
    ("item,labeller,label,seconds\na,x,A,12\na,y,A,soon\n", ["row 2, line 3: column 'seconds' is 'soon'"]),
    ("item,labeller,label,seconds\na,x,A,12\na,y,A,-3\n", ["row 2, line 3: column 'seconds' is -3.0"]),
    ("item,labeller,label,group\na,x,A,v1\nb,x,A,v2\na,y,A,v1\n",
     ["labeller 'x' is in two groups ('v1' and 'v2')"]),
])
def test_agree_bad_judgements(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                              needles: list[str]) -> None:
    path = _file(tmp_path, "j.csv", text)
    _bad(["labels", "agree", path, "--out", str(tmp_path / "out")], capsys, path, *needles)


def test_agree_missing_and_empty_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _bad(["labels", "agree", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")], capsys, "nope.csv",
         "does not exist")
    empty = tmp_path / "j.parquet"
    pq.write_table(pa.table({"item": pa.array([], pa.string()), "labeller": pa.array([], pa.string()),
                             "label": pa.array([], pa.string())}), empty)
    _bad(["labels", "agree", str(empty), "--out", str(tmp_path / "o")], capsys, str(empty), "no rows")


def test_one_labeller_still_writes_consensus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "j.csv", J + "a,x,A\nb,x,B\nc,x,A\n")
    out = tmp_path / "out"
    _bad(["labels", "agree", path, "--out", str(out)], capsys, path, "one labeller only", "agreement is undefined",
         "consensus.csv was written")
    consensus = read_csv(out / "consensus.csv")
    assert [(r["item"], r["label"], r["status"]) for r in consensus] == [("a", "A", "single"), ("b", "B", "single"),
                                                                         ("c", "A", "single")]
    assert (out / "agreement.json").is_file() and (out / "report.html").is_file()


def test_no_shared_item(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "j.csv", J + "a,x,A\nb,y,B\n")
    _bad(["labels", "agree", path, "--out", str(tmp_path / "o")], capsys, "no item", "judged by two labellers")


def test_max_seconds_needs_seconds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "j.csv", J + "a,x,A\na,y,A\n")
    _bad(["labels", "agree", path, "--out", str(tmp_path / "o"), "--max-seconds", "30"], capsys,
         "--max-seconds needs a 'seconds' column", path)


@pytest.mark.parametrize(("text", "needles"), [
    ("item\na\n", ["has no column 'label'", "a gold file"]),
    ("item,label\n", ["has no rows"]),
    ("item,label\na,A\nb,B\na,A\n", ["item 'a' appears twice (row 1, line 2 and row 3, line 4)"]),
])
def test_agree_bad_gold(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needles: list[str]) -> None:
    judgements = _file(tmp_path, "j.csv", J + "a,x,A\na,y,A\n")
    gold = _file(tmp_path, "gold.csv", text)
    _bad(["labels", "agree", judgements, "--gold", gold, "--out", str(tmp_path / "o")], capsys, gold, *needles)


def test_agree_cli_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gen = generate(items=50, labellers=4, seed=9)
    path = write_csv(tmp_path / "j.csv", gen.rows)
    assert run(["labels", "agree", str(path), "--out", str(tmp_path / "out"), "--max-seconds", "40"]) == 0
    out = capsys.readouterr().out
    assert f"{len(gen.rows)} judgements, 50 items, 4 labellers" in out and "fleiss_kappa=" in out
    assert "within_max_seconds" in (tmp_path / "out" / "groups.csv").read_text()


def test_queue_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "q.csv")
    other = tmp_path / "train.parquet"  # a dataset split: another schema
    pq.write_table(pa.table({"id": ["1"], "domain": ["a.com"], "text": ["t"], "label": ["A"]}), other)
    _bad(["labels", "queue", "--predictions", str(other), "--out", out], capsys, str(other),
         "no column 'site_id'", "`siteclass predict`")
    rows = prediction_rows(5)
    no_probs = tmp_path / "no_probs.parquet"
    pq.write_table(pa.Table.from_pylist(rows).drop_columns(["probabilities"]), no_probs)
    _bad(["labels", "queue", "-p", str(no_probs), "--out", out], capsys, "no column 'probabilities'")
    flat = write_csv(tmp_path / "pred.csv", [{**r, "labels": "|".join(r["labels"]),
                                              "probabilities": "|".join(map(str, r["probabilities"]))} for r in rows])
    _bad(["labels", "queue", "-p", str(flat), "--out", out], capsys, "column 'labels'", "not a list of labels")
    good = write_predictions(tmp_path / "pred.parquet", rows)
    _bad(["labels", "queue", "-p", str(good), "--out", out, "--strategy", "random"], capsys, "labels.strategy")
    _bad(["labels", "queue", "-p", str(good), "--out", out, "--budget", "0"], capsys, "labels.budget")
    keys = _file(tmp_path, "done.csv", "label\nA\n")
    _bad(["labels", "queue", "-p", str(good), "--out", out, "--exclude", keys], capsys, keys,
         "none of the columns item, site_id, id, url")
    everything = write_csv(tmp_path / "all.csv", [{"site_id": r["site_id"], "label": "A"} for r in rows])
    _bad(["labels", "queue", "-p", str(good), "--out", out, "--exclude", str(everything)], capsys,
         "no site of", "5 already labelled")


@pytest.mark.parametrize(("text", "needles"), [
    ("domain,label,note\nacme.com,,x\n", ["row 1, line 2: column 'label' is empty"]),
    ("domain,label\n", ["has no rows"]),
    ("", ["is empty (0 bytes)"]),
    ("domain,note\nacme.com,x\n", ["has no column 'label'"]),
])
def test_bad_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needles: list[str]) -> None:
    path = _file(tmp_path, "overrides.csv", text)
    _bad(["labels", "check-overrides", path], capsys, path, *needles)


def test_check_overrides_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "overrides.csv", "domain,label\nacme.com,Dentists\nbeta.com,New\n")
    model = tmp_path / "model"
    model.mkdir()
    (model / "labels.json").write_text('["Dentists", "Retail"]', encoding="utf-8")
    assert run(["labels", "check-overrides", path, "--model", str(model)]) == 0
    out, err = capsys.readouterr()
    assert "2 overrides (0 by site id, 2 by domain)" in out and "1 label(s) unknown" in err and "New" in err


def test_subprocess_exit_code(tmp_path: Path) -> None:
    path = _file(tmp_path, "j.csv", J + "a,x,A\na,x,B\n")
    done = subprocess.run([sys.executable, "-m", "siteclass", "labels", "agree", path, "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "judged twice by labeller 'x'" in done.stderr
