"""The bundled NAICS hierarchy of the zeroshot model: 6-digit codes on guesses, the shipped code vectors against
re-encoding, the calibrated default minimum confidence, predictions and serve answers with the code (real
encoder, a handful of records)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from siteclass.config import PredictSettings, ServeSettings, TrainSettings
from siteclass.metrics import UNKNOWN, Guess, apply_min_confidence, resolve_min_confidence
from siteclass.models.base import load_model
from siteclass.models.taxonomy import load_labels
from siteclass.models.taxonomy.naics import CODES_FILE, INDEX_FILE, VECTORS_FILE, naics_index, sector_of
from siteclass.models.zeroshot import ZeroShotClassifier, default_zeroshot_model

DENTIST = {"name": "Bright Smile Dental", "text": "Family dentist: teeth cleaning, fillings and dental implants."}
TRUCKS = "Acme Freight: long-distance trucking and freight logistics across the Midwest."
BAKERY = "Crumbs: fresh bread, birthday cakes and pastries baked daily."


@pytest.fixture(scope="module")
def naics() -> ZeroShotClassifier:
    return default_zeroshot_model(TrainSettings.model_validate({"zeroshot": {"max_tokens": 64}}))


def test_guesses_carry_a_six_digit_code_inside_their_sector(naics: ZeroShotClassifier) -> None:
    sector_code = {lab.label: lab.code for lab in naics.labels_}
    top = naics.predict_top_k([DENTIST, TRUCKS], k=3)
    assert top[0][0][0] == "Health Care and Social Assistance" and top[0][0].code == "621210"
    assert top[0][0].title == "Offices of Dentists"
    assert top[1][0][0] == "Transportation and Warehousing" and top[1][0].code.startswith("484")
    for guesses in top:
        for g in guesses:
            label, p = g  # still a (label, probability) pair
            assert 0 < p < 1
            assert len(g.code) == 6 and sector_of(g.code) == sector_code[label] and g.title
    one = naics.predict_top_k(DENTIST, k=2)  # one record: its list alone
    assert one[0].code == "621210" and naics.predict(DENTIST) == "Health Care and Social Assistance"
    clone = pickle.loads(pickle.dumps(one))  # the serve model process and Spark pickle guesses
    assert clone == one and clone[0].code == "621210" and clone[0].title == "Offices of Dentists"


def test_save_load_keeps_the_hierarchy_and_other_labels_have_none(naics: ZeroShotClassifier, tmp_path: Path) -> None:
    folder = naics.save(tmp_path / "zs")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["state"]["hierarchy"] == "naics_2022"
    loaded = load_model(folder)
    assert loaded.predict_top_k(DENTIST, k=1)[0].code == "621210"
    np.testing.assert_allclose(loaded.predict_proba([DENTIST, BAKERY]), naics.predict_proba([DENTIST, BAKERY]),
                               atol=1e-5)
    labels = tmp_path / "labels.csv"
    labels.write_text("label,description\nteeth,Dentists and dental clinics\nbread,Bakeries\n", encoding="utf-8")
    mine = ZeroShotClassifier(labels_file=str(labels), max_tokens=64)
    top = mine.predict_top_k(DENTIST, k=2)
    assert top[0][0] == "teeth" and getattr(top[0], "code", None) is None and not mine.hierarchy_
    assert mine.default_min_confidence == 0.0  # a user's taxonomy keeps today's behaviour
    fitted = ZeroShotClassifier(max_tokens=64).fit(["x", "y"], ["teeth", "bread"])  # classes from labels
    assert not fitted.hierarchy_ and getattr(fitted.predict_top_k(DENTIST, k=1)[0], "code", None) is None


def test_default_min_confidence_turns_weak_guesses_unknown(naics: ZeroShotClassifier) -> None:
    configured = TrainSettings().zeroshot.naics_min_confidence
    assert 0 < configured < 1 and naics.default_min_confidence == configured
    assert resolve_min_confidence(None, naics) == configured  # [predict]/[serve] unset: the model's default
    assert resolve_min_confidence(0.0, naics) == 0.0  # an explicit setting wins, 0 included
    assert PredictSettings().min_confidence is None and ServeSettings().min_confidence is None
    weak = [Guess("Retail Trade", 0.30, "455110", "Department Stores"), Guess("Wholesale Trade", 0.25)]
    d = apply_min_confidence(weak, configured)
    assert d.label == UNKNOWN and d.probability == 0.30 and d.labels[0] == "Retail Trade"
    assert d.code == "455110" and d.title == "Department Stores"  # the best guess's code stays
    assert d.note is not None and "below min_confidence" in d.note and "Retail Trade" in d.note
    sure = apply_min_confidence([Guess("Retail Trade", 0.9, "455110", "Department Stores")], configured)
    assert sure.label == "Retail Trade" and sure.note is None and sure.code == "455110"


def test_predict_writes_the_code_and_says_why_a_label_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from siteclass.cli import run

    table = tmp_path / "firms.jsonl"
    firms = [{"id": "1", "about": DENTIST["text"]}, {"id": "2", "about": TRUCKS}, {"id": "3", "about": "Welcome!"}]
    table.write_text("".join(json.dumps(f) + "\n" for f in firms), encoding="utf-8")
    out = tmp_path / "pred.parquet"
    assert run(["predict", "--table", str(table), "--text", "about", "--id", "id", "--out", str(out),
                "--no-progress"]) == 0
    rows = pq.read_table(out).to_pylist()
    assert rows[0]["label"] == "Health Care and Social Assistance" and rows[0]["naics_code"] == "621210"
    assert rows[0]["naics_title"] == "Offices of Dentists" and rows[0]["note"] is None
    assert rows[1]["naics_code"].startswith("484")
    assert rows[2]["label"] == UNKNOWN and rows[2]["naics_code"] is not None  # "Welcome!" says nothing
    assert "below min_confidence" in rows[2]["note"]
    configured = TrainSettings().zeroshot.naics_min_confidence
    assert f"1 labelled unknown: best guess below min_confidence {configured:g}" in capsys.readouterr().out
    assert run(["predict", "--table", str(table), "--text", "about", "--id", "id", "--out", str(out),
                "--no-progress", "--min-confidence", "0"]) == 0  # an explicit 0 keeps every guess
    assert UNKNOWN not in {r["label"] for r in pq.read_table(out).to_pylist()}


def test_shipped_vectors_equal_re_encoding() -> None:
    """A sample of the shipped code vectors against the builder's recipe run again (float16 tolerance)."""
    from siteclass.models.encoder import get_encoder
    from siteclass.models.taxonomy.build import ENCODER, MAX_TOKENS, code_vectors
    from siteclass.models.taxonomy.naics import read_codes, read_entries

    index = naics_index()
    assert len(index.codes) == len(set(index.codes)) == index.vectors.shape[0] == 1012
    assert index.meta["encoder"] == ENCODER and index.meta["max_tokens"] == str(MAX_TOKENS)
    titles, entries = read_codes(), read_entries()
    sample = ["111110", "484121", "621210", "722511", index.codes[-1]]
    fresh = code_vectors(sample, titles, entries, get_encoder(ENCODER, MAX_TOKENS))
    shipped = index.vectors[[index.codes.index(c) for c in sample]]
    np.testing.assert_allclose(fresh, shipped, atol=2e-3)
    assert index.title_of("621210") == "Offices of Dentists" and "Dentists' offices (e.g., centers, clinics)" in entries["621210"]
    total = sum(p.stat().st_size for p in (CODES_FILE, INDEX_FILE, VECTORS_FILE))
    assert total < 8 * 1024 * 1024  # what the package ships for the hierarchy


def test_the_bundled_sectors_cover_every_code() -> None:
    sectors = {lab.code for lab in load_labels(None)}
    assert {sector_of(c) for c in naics_index().codes} == sectors


def test_serve_answers_the_code_and_the_model_s_minimum(naics: ZeroShotClassifier) -> None:
    import asyncio

    import httpx

    from siteclass.serve.app import create_app
    from siteclass.serve.schemas import PredictResponse

    async def go() -> None:
        app = create_app(naics, ServeSettings())
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as c:
                for _ in range(500):
                    if (await c.get("/readyz")).status_code == 200:
                        break
                    await asyncio.sleep(0.02)
                pages = {"url": "brightsmile.com", "pages": [{"title": "Family dentist", "text": DENTIST["text"]}]}
                body = (await c.post("/v1/predict/pages", json=pages)).json()
                assert PredictResponse.model_validate(body).model_dump() == body
                assert body["label"] == "Health Care and Social Assistance" and body["naics_code"] == "621210"
                assert body["naics_title"] == "Offices of Dentists" and body["note"] is None
                vague = (await c.post("/v1/predict/pages", json={"url": "x.com", "pages": [{"text": "Welcome!"}]}))
                assert vague.json()["label"] == UNKNOWN and "below min_confidence" in vague.json()["note"]
                info = (await c.get("/v1/model")).json()
                assert info["min_confidence"] == naics.default_min_confidence

    asyncio.run(go())
