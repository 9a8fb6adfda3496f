"""Overrides on their own: both file forms, registered-domain matching, applying to prediction rows and tables,
unknown labels, and the watcher that re-reads the file when it changes."""

from __future__ import annotations

import hashlib
import os
import time
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from labels_helpers import prediction_rows, write_jsonl

from siteclass.errors import InputError
from siteclass.labels.overrides import Overrides, OverridesFile, OverridesWarning, load_overrides
from siteclass.prediction import PREDICTION_SCHEMA


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def domain_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "overrides.csv",
                  "domain,label,note\nwww.acme.com,Dentists,checked by hand\nhttps://shop.beta.co.uk/about,Retail,\n"
                  "gamma.org,Brand New Class,added by the team\n")


@pytest.mark.parametrize("url", ["https://acme.com/", "http://www.acme.com/about/team?x=1", "acme.com",
                                 "https://blog.acme.com", "WWW.ACME.COM"])
def test_domain_matches_www_subdomains_and_sub_pages(domain_file: Path, url: str) -> None:
    hit = load_overrides(domain_file).lookup(url=url)
    assert hit is not None and (hit.label, hit.note, hit.kind, hit.key) == ("Dentists", "checked by hand", "domain",
                                                                            "acme.com")


@pytest.mark.parametrize("url", ["https://notacme.com/", "https://acme.com.evil.org/", "https://acme.co/",
                                 "https://co.uk/", "https://other.co.uk/", "", "not a url at all"])
def test_domain_does_not_match_others(domain_file: Path, url: str) -> None:
    assert load_overrides(domain_file).lookup(url=url) is None


def test_public_suffix_domains(domain_file: Path) -> None:
    ov = load_overrides(domain_file)
    assert ov.lookup(domain="beta.co.uk").label == "Retail"  # type: ignore[union-attr]
    assert ov.lookup(url="https://www.beta.co.uk/x").label == "Retail"  # type: ignore[union-attr]


def test_site_id_form_and_precedence(tmp_path: Path) -> None:
    path = _write(tmp_path / "o.csv", "site_id,domain,label,note\ns1,,Plumbing,by id\n,acme.com,Dentists,\n")
    ov = load_overrides(path)
    assert ov.lookup(site_id="s1").label == "Plumbing"  # type: ignore[union-attr]
    # the site id wins over the domain of its URL; other ids fall back to the domain
    assert ov.lookup(site_id="s1", url="https://acme.com/").label == "Plumbing"  # type: ignore[union-attr]
    assert ov.lookup(site_id="s2", url="https://acme.com/").label == "Dentists"  # type: ignore[union-attr]
    assert ov.lookup(site_id="s2") is None
    assert (len(ov), ov.info()["site_ids"], ov.info()["domains"]) == (2, 1, 1)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_other_formats(tmp_path: Path, fmt: str) -> None:
    rows = [{"site_id": "s7", "label": "Bakery"}, {"site_id": "s8", "label": "Florist"}]
    path = tmp_path / f"o.{fmt}"
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        write_jsonl(path, rows)
    ov = load_overrides(path)
    assert ov.lookup(site_id="s8").label == "Florist"  # type: ignore[union-attr]
    assert ov.lookup(site_id="s8").note == ""  # type: ignore[union-attr]
    assert ov.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unknown_labels_warn(domain_file: Path) -> None:
    with pytest.warns(OverridesWarning, match="Brand New Class"):
        ov = load_overrides(domain_file, classes=["Dentists", "Retail", "Software"])
    assert ov.unknown == ["Brand New Class"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_overrides(domain_file, classes=["Dentists", "Retail", "Brand New Class"])


def test_apply_to_rows_and_table(domain_file: Path) -> None:
    rows = prediction_rows(4, seed=2, not_ok=1)
    rows[0]["url"] = "https://www.acme.com/"
    rows[3]["url"] = "https://gamma.org/"  # a failed crawl is overridden too, its status kept
    ov = load_overrides(domain_file)
    applied = ov.apply_rows(rows)
    assert [r["source"] for r in applied] == ["override", "model", "model", "override"]
    assert applied[0] | {} == {**rows[0], "label": "Dentists", "probability": 1.0, "labels": ["Dentists"],
                               "probabilities": [1.0], "source": "override", "note": "checked by hand"}
    assert applied[1] == {**rows[1], "source": "model", "note": None}
    assert applied[3]["status"] == "dns_error" and applied[3]["label"] == "Brand New Class"
    table = ov.apply_table(pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA))
    assert table.column_names == PREDICTION_SCHEMA.names  # source and note are columns of the schema
    assert table.schema.field("labels").type == PREDICTION_SCHEMA.field("labels").type
    assert table.to_pylist() == applied


def test_empty_overrides_apply_nothing(tmp_path: Path) -> None:
    ov = Overrides({}, {})
    rows = prediction_rows(3)
    table = ov.apply_table(pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA))
    assert table.column("source").to_pylist() == ["model"] * 3
    assert table.column("label").to_pylist() == [r["label"] for r in rows]


def _touch_later(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:  # coarse file-system clocks: move the mtime on explicitly
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_watcher_reloads_on_change(tmp_path: Path) -> None:
    path = _write(tmp_path / "o.csv", "domain,label\nacme.com,Dentists\n")
    watched = OverridesFile(path, classes=["Dentists", "Plumbing"])
    first = watched.current()
    assert watched.current() is first  # unchanged file: not re-read
    assert first.lookup(url="https://acme.com").label == "Dentists"  # type: ignore[union-attr]
    _touch_later(path, "domain,label\nacme.com,Plumbing\nbeta.com,Dentists\n")
    second = watched.current()
    assert second is not first and len(second) == 2 and watched.reloads == 1
    assert second.lookup(url="https://acme.com").label == "Plumbing"  # type: ignore[union-attr]
    assert watched.info()["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # replaced by a rename (what editors and deploy scripts do)
    new = _write(tmp_path / "o.new", "domain,label\nacme.com,Unknown Here\n")
    os.replace(new, path)
    with pytest.warns(OverridesWarning, match="Unknown Here"):
        third = watched.current()
    assert third.lookup(url="acme.com").label == "Unknown Here"  # type: ignore[union-attr]


def test_watcher_keeps_last_good_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "o.csv", "domain,label\nacme.com,Dentists\n")
    watched = OverridesFile(path)
    good = watched.current()
    _touch_later(path, "domain,label\nacme.com,\n")  # an empty label: invalid
    with pytest.warns(OverridesWarning, match="not reloaded"):
        assert watched.current() is good
    assert watched.last_error is not None and "row 1" in watched.last_error
    path.unlink()
    with pytest.warns(OverridesWarning, match="gone"):
        assert watched.current() is good
    time.sleep(0.01)
    _write(path, "domain,label\nacme.com,Plumbing\n")
    assert watched.current().lookup(url="acme.com").label == "Plumbing"  # type: ignore[union-attr]
    assert watched.last_error is None


def test_watcher_first_read_must_succeed(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        OverridesFile(tmp_path / "missing.csv")


@pytest.mark.parametrize(("text", "match"), [
    ("domain,label\nacme.com,A\nwww.acme.com,B\n", "'acme.com' is overridden twice \\(row 1, line 2 and row 2"),
    ("site_id,domain,label\ns1,acme.com,A\n", "both 'site_id' and 'domain'"),
    ("domain,label\n,A\n", "row 1, line 2: column 'domain' is empty"),
    ("domain,label\nco.uk,A\n", "'co.uk' has no registered domain"),
    ("label,note\nA,x\n", "no column 'domain' or 'site_id'"),
])
def test_bad_files(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        load_overrides(_write(tmp_path / "o.csv", text))
