"""`labels agree`: consensus, ties, kappa and alpha against reference implementations, leave-one-out agreement,
gold accuracy, groups and --max-seconds, on generated judgements with a known truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from labels_helpers import generate, loo_agreement, read_csv, statuses, votes_by_item, write_csv, write_jsonl
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from siteclass.errors import InputError
from siteclass.labels.agree import agree_labels


def _agree(tmp: Path, rows: list[dict[str, Any]], **kw: Any) -> tuple[Any, dict[str, dict[str, str]]]:
    tmp.mkdir(parents=True, exist_ok=True)
    path = write_csv(tmp / "judgements.csv", rows)
    res = agree_labels(path, tmp / "out", **kw)
    consensus = {r["item"]: r for r in read_csv(tmp / "out" / "consensus.csv")}
    return res, consensus


def _reference_kappa(rows: list[dict[str, Any]]) -> float:
    """statsmodels' Fleiss kappa on the items with the modal number of judgements (≥ 2)."""
    votes = votes_by_item(rows)
    sizes = Counter(sum(v.values()) for v in votes.values() if sum(v.values()) >= 2)
    m = max(sizes, key=lambda n: (sizes[n], n))
    labels = sorted({r["label"] for r in rows})
    table = np.array([[v.get(lab, 0) for lab in labels] for v in votes.values() if sum(v.values()) == m])
    return float(sm_fleiss_kappa(table, method="fleiss"))


def _reference_alpha(rows: list[dict[str, Any]]) -> float:
    """The krippendorff package, nominal, on a labellers × items matrix with NaN where not judged."""
    items = sorted({r["item"] for r in rows})
    coders = sorted({r["labeller"] for r in rows})
    labels = {lab: i for i, lab in enumerate(sorted({r["label"] for r in rows}))}
    data = np.full((len(coders), len(items)), np.nan)
    ii, cc = {x: i for i, x in enumerate(items)}, {x: i for i, x in enumerate(coders)}
    for r in rows:
        data[cc[r["labeller"]], ii[r["item"]]] = labels[r["label"]]
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_generated_consensus_recovers_truth_and_ranks_labellers(tmp_path: Path) -> None:
    gen = generate(items=400, labellers=6, per_item=(3, 4, 5), seed=1)
    res, consensus = _agree(tmp_path, gen.rows)
    assert set(consensus) == set(gen.truth)
    expected = statuses(gen.rows)
    assert {i: c["status"] for i, c in consensus.items()} == expected
    assert set(expected.values()) >= {"agreed", "majority", "tie"}
    for item, c in consensus.items():
        votes = votes_by_item(gen.rows)[item]
        assert int(c["votes"]) == votes[c["label"]] == max(votes.values())
        assert int(c["judgements"]) == sum(votes.values())
        assert float(c["share"]) == pytest.approx(votes[c["label"]] / sum(votes.values()), abs=1e-4)
    accuracy = np.mean([c["label"] == gen.truth[i] for i, c in consensus.items()])
    assert accuracy > 0.85  # 3–5 labellers right 55–95 % of the time
    # leave-one-out agreement orders the labellers as their planted accuracy does
    labellers = read_csv(tmp_path / "out" / "labellers.csv")
    assert [r["labeller"] for r in labellers] == sorted(gen.accuracy, key=lambda w: -gen.accuracy[w])
    counts = res.agreement["counts"]
    assert counts["judgements"] == len(gen.rows)
    assert sum(int(n) * c for n, c in counts["items_by_judgements"].items()) == len(gen.rows)
    assert sum(counts["statuses"].values()) == len(gen.truth)


def test_statuses_by_hand(tmp_path: Path) -> None:
    rows = [{"item": "a", "labeller": w, "label": lab} for w, lab in (("x", "A"), ("y", "A"), ("z", "A"))]
    rows += [{"item": "b", "labeller": w, "label": lab} for w, lab in (("x", "A"), ("y", "A"), ("z", "B"))]
    rows += [{"item": "c", "labeller": w, "label": lab} for w, lab in (("x", "A"), ("y", "B"))]
    rows += [{"item": "d", "labeller": "z", "label": "C"}]
    rows += [{"item": "e", "labeller": w, "label": lab}
             for w, lab in (("x", "A"), ("y", "A"), ("z", "B"), ("w", "C"))]  # plurality, not half
    _, c = _agree(tmp_path, rows)
    assert {k: (v["label"], v["status"], v["votes"], v["share"]) for k, v in c.items() if k != "c"} == {
        "a": ("A", "agreed", "3", "1.0"), "b": ("A", "majority", "2", "0.6667"), "d": ("C", "single", "1", "1.0"),
        "e": ("A", "majority", "2", "0.5")}
    assert c["c"]["status"] == "tie" and c["c"]["share"] == "0.5"


def test_tie_goes_to_the_labeller_with_best_agreement(tmp_path: Path) -> None:
    # 'good' agrees with the others on ten items, 'bad' never; on the tie item each gives a different label
    rows = []
    for i in range(10):
        rows += [{"item": f"i{i}", "labeller": "good", "label": "A"},
                 {"item": f"i{i}", "labeller": "other", "label": "A"},
                 {"item": f"i{i}", "labeller": "bad", "label": "B"}]
    rows += [{"item": "tie", "labeller": "bad", "label": "X"}, {"item": "tie", "labeller": "good", "label": "Y"}]
    _, c = _agree(tmp_path, rows)
    assert (c["tie"]["label"], c["tie"]["status"]) == ("Y", "tie")
    # the tie labels swapped (and the label order with them): the tie follows the better labeller again
    swapped = [{**r, "label": {"X": "Y", "Y": "X"}.get(r["label"], r["label"])} for r in rows]
    _, c2 = _agree(tmp_path / "swapped", swapped)
    assert c2["tie"]["label"] == "X"
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Ties (1)" in report and "X ×1, Y ×1" in report


def test_gold_breaks_ties_and_scores_labellers(tmp_path: Path) -> None:
    rows = []
    for i in range(6):  # 'a' and 'b' always disagree: leave-one-out agreement cannot tell them apart
        rows += [{"item": f"g{i}", "labeller": "a", "label": "A"}, {"item": f"g{i}", "labeller": "b", "label": "B"}]
    gold = write_csv(tmp_path / "gold.csv", [{"item": f"g{i}", "label": "B" if i < 5 else "A"} for i in range(6)]
                     + [{"item": "never-judged", "label": "A"}])
    res, c = _agree(tmp_path, rows, gold=gold)
    assert all(c[f"g{i}"]["label"] == "B" and c[f"g{i}"]["status"] == "tie" for i in range(6))
    assert c["g5"]["gold"] == "A"  # gold shown beside, never replacing the consensus
    lab = {r["labeller"]: r for r in read_csv(tmp_path / "out" / "labellers.csv")}
    assert float(lab["b"]["gold_accuracy"]) == pytest.approx(5 / 6, abs=1e-4) and lab["b"]["gold_n"] == "6"
    assert float(lab["a"]["gold_accuracy"]) == pytest.approx(1 / 6, abs=1e-4)
    g = res.agreement["counts"]["gold"]
    assert (g["items"], g["items_judged"], g["items_not_judged"]) == (7, 6, 1)
    assert g["consensus_accuracy"] == pytest.approx(5 / 6)


def test_kappa_and_alpha_match_references(tmp_path: Path) -> None:
    gen = generate(items=250, labellers=7, labels=6, per_item=(2, 3, 3, 4, 5), seed=3)
    res, _ = _agree(tmp_path, gen.rows)
    assert res.agreement["fleiss_kappa"] == pytest.approx(_reference_kappa(gen.rows), abs=1e-9)
    assert res.agreement["krippendorff_alpha"] == pytest.approx(_reference_alpha(gen.rows), abs=1e-9)
    assert res.agreement["fleiss_judgements_per_item"] == 3


judgement_sets = st.lists(
    st.tuples(st.integers(0, 11), st.integers(0, 4), st.sampled_from("ABCD")), min_size=4, max_size=60,
    unique_by=lambda t: (t[0], t[1]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(judgement_sets)
def test_coefficients_and_loo_property(tmp_path_factory: pytest.TempPathFactory,
                                       triples: list[tuple[int, int, str]]) -> None:
    rows = [{"item": f"i{i}", "labeller": f"w{w}", "label": lab} for i, w, lab in triples]
    items = votes_by_item(rows)
    pairable = [v for v in items.values() if sum(v.values()) >= 2]
    labellers = {r["labeller"] for r in rows}
    tmp = tmp_path_factory.mktemp("prop")
    path = write_jsonl(tmp / "j.jsonl", rows)
    try:
        res = agree_labels(path, tmp / "out")
    except InputError as exc:  # agreement undefined: said after the outputs were written
        assert len(labellers) < 2 or not pairable, exc
        assert (tmp / "out" / "consensus.csv").is_file()
        return
    a = res.agreement
    labels_pairable = {lab for v in pairable for lab in v}
    if len(labels_pairable) > 1:
        assert a["krippendorff_alpha"] == pytest.approx(_reference_alpha(rows), abs=1e-9)
    else:
        assert a["krippendorff_alpha"] is None
    if a["fleiss_kappa"] is not None:
        assert a["fleiss_kappa"] == pytest.approx(_reference_kappa(rows), abs=1e-9)
    expected = loo_agreement(rows)
    for r in read_csv(tmp / "out" / "labellers.csv"):
        value, n = expected[r["labeller"]]
        assert int(r["agreement_n"]) == n
        if value is None:
            assert r["agreement_with_consensus"] == ""
        else:
            assert float(r["agreement_with_consensus"]) == pytest.approx(value, abs=1e-4)
    assert a["counts"]["judgements"] == len(rows)


def test_groups_and_max_seconds(tmp_path: Path) -> None:
    gen = generate(items=200, labellers=6, groups=3, seed=5)
    # vendor0 fast, vendor1 slow, vendor2 mixed
    for r in gen.rows:
        r["seconds"] = {"vendor0": 10.0, "vendor1": 60.0}.get(r["group"], 30.0 if r["labeller"] == "ann2" else 50.0)
    gold = write_csv(tmp_path / "gold.csv", [{"item": i, "label": t} for i, t in list(gen.truth.items())[:100]])
    _agree(tmp_path, gen.rows, gold=gold, max_seconds=35)
    groups = read_csv(tmp_path / "out" / "groups.csv")
    assert [g["group"] for g in groups] == sorted(
        {g["group"] for g in groups}, key=lambda g: -float(next(x for x in groups if x["group"] == g)["gold_accuracy"]))
    by = {g["group"]: g for g in groups}
    assert by["vendor0"]["within_max_seconds"] == "true" and by["vendor1"]["within_max_seconds"] == "false"
    assert float(by["vendor0"]["median_seconds"]) == 10.0
    assert sum(int(g["judgements"]) for g in groups) == len(gen.rows)
    assert by["vendor0"]["labellers"] == "2"
    # per group gold accuracy recomputed by hand from the gold half
    for name, g in by.items():
        on_gold = [r for r in gen.rows if r["group"] == name and r["item"] in dict(list(gen.truth.items())[:100])]
        assert int(g["gold_n"]) == len(on_gold)
        assert float(g["gold_accuracy"]) == pytest.approx(
            sum(r["label"] == gen.truth[r["item"]] for r in on_gold) / len(on_gold), abs=1e-4)
    # the vendor with the best planted accuracy (ann0, ann3 in vendor0) comes first
    assert groups[0]["group"] == "vendor0"
    settings_toml = (tmp_path / "out" / "settings.toml").read_text()
    assert "max_seconds = 35" in settings_toml


def test_group_defaults_to_labeller_and_seconds_optional(tmp_path: Path) -> None:
    gen = generate(items=60, labellers=4, seed=2)
    rows = [{k: r[k] for k in ("item", "labeller", "label")} for r in gen.rows]
    _agree(tmp_path, rows)
    groups = read_csv(tmp_path / "out" / "groups.csv")
    assert sorted(g["group"] for g in groups) == sorted(gen.accuracy)
    assert all(g["median_seconds"] == "" for g in groups)


def test_report_and_agreement_json(tmp_path: Path) -> None:
    gen = generate(items=120, labellers=5, seed=4)
    _, consensus = _agree(tmp_path, gen.rows)
    out = tmp_path / "out"
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64," in report and "<script" not in report
    ties = [i for i, c in consensus.items() if c["status"] == "tie"]
    assert ties and all(i in report for i in ties)
    data = json.loads((out / "agreement.json").read_text(encoding="utf-8"))
    assert data["counts"]["judgements"] == len(gen.rows)
    assert set(data["per_label"]) == {r["label"] for r in gen.rows}
    assert sum(v["judgements"] for v in data["per_label"].values()) == len(gen.rows)
    assert sum(v["consensus_items"] for v in data["per_label"].values()) == len(gen.truth)
    assert 0 < data["observed_agreement"] < 1
    assert (out / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
