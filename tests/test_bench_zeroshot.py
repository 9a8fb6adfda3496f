"""bench/zeroshot.py's cheap helpers: the documented Crunchbase → NAICS sector mapping, the row rule, the split
and the choice of the minimum confidence (the benchmark itself reads ../shared and runs the encoder)."""

from __future__ import annotations

import csv

import numpy as np

from bench.zeroshot import MAPPING, choose_min_confidence, half_of, kept, load_mapping, scores, sector_of_row
from siteclass.models.taxonomy import load_labels


def test_the_mapping_is_documented_and_names_bundled_sectors() -> None:
    with MAPPING.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    sectors = {lab.code for lab in load_labels(None)}
    assert len(rows) == len({r["group"] for r in rows}) >= 10
    for r in rows:
        assert r["sector"] in sectors, r
        assert len(r["reason"]) > 20 and "\n" not in r["reason"], r  # one line of reason per group
    mapping = load_mapping()
    assert mapping["Health Care"] == "62" and mapping["Real Estate"] == "53" and mapping["Education"] == "61"
    assert mapping["Financial Services"] == "52" and "Software" not in mapping  # no obvious sector: left out


def test_a_row_maps_by_its_single_group_or_when_all_its_groups_agree() -> None:
    mapping = load_mapping()
    assert sector_of_row("Health Care", ["Health Care", "Software"], mapping) == "62"  # the single group decides
    assert sector_of_row("Software", ["Software"], mapping) is None
    assert sector_of_row("", ["Financial Services", "Payments", "Lending and Investments"], mapping) == "52"
    assert sector_of_row("", ["Financial Services", "Software"], mapping) is None  # a group without a sector
    assert sector_of_row("", ["Financial Services", "Real Estate"], mapping) is None  # two sectors
    assert sector_of_row(None, [], mapping) is None


def test_split_by_domain_and_the_minimum_confidence() -> None:
    halves = [half_of(f"company{i}.com") for i in range(1000)]
    assert halves == [half_of(f"company{i}.com") for i in range(1000)]
    assert 400 < halves.count("dev") < 600
    confidence = np.array([0.9, 0.8, 0.6, 0.5, 0.3, 0.2])
    correct = np.array([True, True, True, False, False, False])
    assert choose_min_confidence(confidence, correct, 1.0) == 0.51  # the lowest threshold keeping only hits
    assert choose_min_confidence(confidence, correct, 0.5) == 0.0
    assert kept(confidence, correct, 0.51) == {"coverage": 0.5, "kept_accuracy": 1.0}
    s = scores(["a", "a", "b"], ["a", "c", "b"])
    assert s["accuracy"] == 2 / 3 and 0 < s["macro_f1"] < 1


def test_the_blend_rule_prefers_sanity_hits_among_near_ties() -> None:
    from bench.zeroshot import choose_blend

    rows = [{"accuracy": 0.615, "sanity_hits": 19, "top_codes": 5}, {"accuracy": 0.608, "sanity_hits": 21, "top_codes": 2},
            {"accuracy": 0.609, "sanity_hits": 21, "top_codes": 3}, {"accuracy": 0.590, "sanity_hits": 23, "top_codes": 1}]
    assert choose_blend(rows)["top_codes"] == 3  # 0.590 is too far below the best to count
