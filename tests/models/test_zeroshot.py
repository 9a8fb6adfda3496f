"""The zeroshot model: the bundled NAICS taxonomy predicts before any fit; labels files; classes from labels.

The classifier contract (fit/predict/proba, multi-label, save/load, calibration, determinism, tags) is checked
for every model in test_contract.py.
"""

from __future__ import annotations

import csv
import pickle
import re

import numpy as np
import pytest

from siteclass.errors import InputError
from siteclass.models.taxonomy import NAICS_2022, load_labels, naics_sectors
from siteclass.models.zeroshot import ZeroShotClassifier, default_zeroshot_model

OBVIOUS = [
    ({"name": "Bright Smile Dental", "domain": "brightsmiledental.com",
      "pages": [{"title": "Family dentist", "text": "Teeth cleaning, fillings, dental implants and orthodontics."}]},
     "Health Care and Social Assistance"),
    ("Joe's Pizzeria: wood fired pizza and pasta, dine in or take out, open every day.", "Accommodation and Food Services"),
    ("First National Bank: checking accounts, mortgages, business loans and credit cards.", "Finance and Insurance"),
    ("Springfield Community College offers associate degrees, online courses and continuing education.",
     "Educational Services"),
    ({"name": "City of Springfield", "domain": "springfield.gov",
      "text": "Official city website: city council, building permits, police department and public works."},
     "Public Administration"),
]


@pytest.fixture(scope="module")
def naics() -> ZeroShotClassifier:
    return ZeroShotClassifier(max_tokens=128)


def test_taxonomy_has_the_20_sectors() -> None:
    labels = naics_sectors()
    assert len(labels) == 20
    codes = [lab.code for lab in labels]
    assert codes[0] == "11" and "31-33" in codes and "62" in codes and codes[-1] == "92"
    assert len(set(codes)) == 20 and len({lab.label for lab in labels}) == 20
    for lab in labels:
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", lab.description) if s]
        assert 1 <= len(sentences) <= 3 and len(lab.description) > 40, lab
        assert lab.prompt.startswith(f"{lab.label}: ")
    with NAICS_2022.open(encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["code", "title", "description"]


def test_predicts_naics_sectors_without_training(naics: ZeroShotClassifier) -> None:
    assert len(naics.classes_) == 20  # ready before any fit or predict
    records = [r for r, _ in OBVIOUS]
    assert naics.predict(records) == [label for _, label in OBVIOUS]
    proba = naics.predict_proba(records)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    top = naics.predict_top_k([records[0]], k=3)[0]
    assert top[0][0] == "Health Care and Social Assistance" and top[0][1] > top[1][1] > top[2][1]


def test_default_model_is_ready_and_pickles() -> None:
    model = default_zeroshot_model()
    text = "Licensed plumbers and roofing contractors building homes."
    assert model.predict(text) == "Construction"
    clone = pickle.loads(pickle.dumps(model))  # e.g. shipped to Spark executors in a task closure
    np.testing.assert_allclose(clone.predict_proba(text), model.predict_proba(text), atol=1e-9)


def test_labels_file_replaces_the_taxonomy(tmp_path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(
        "label,description\n"
        "pets,Veterinary clinics and pet shops: dogs and cats\n"
        "cars,Car dealers and auto repair garages\n"
        "law,Attorneys and law firms\n",
        encoding="utf-8",
    )
    model = ZeroShotClassifier(labels_file=str(path), max_tokens=64)
    assert model.classes_ == ["pets", "cars", "law"]
    assert model.predict(["Our vets care for your dog.", "Brake repair and oil change.", "Divorce attorney"]) == [
        "pets", "cars", "law",
    ]
    fitted = ZeroShotClassifier(labels_file=str(path), max_tokens=64).fit(["x"], ["ignored"])
    assert fitted.classes_ == ["pets", "cars", "law"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("name,description\na,b\nc,d\n", "no 'label' column"), ("label\npets\npets\n", "appears twice"),
     ("label\npets\n", "at least 2"), ("label,description\n", "no rows")],
)
def test_bad_labels_files(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_labels(path)
    with pytest.raises(InputError, match="does not exist"):
        load_labels(tmp_path / "missing.csv")


def test_fit_takes_classes_from_labels() -> None:
    X = ["We bake bread and cakes", "We repair cars"]
    model = ZeroShotClassifier(max_tokens=64).fit(X, [["Bakery"], ["Auto repair", "Bakery"]])
    assert model.classes_ == ["Auto repair", "Bakery"] and model.multi_label_
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)  # a softmax even for multi-label data
    assert model.predict("Fresh croissants and sourdough every morning") == ["Bakery"]
    model.calibrate(X, [["Bakery"], ["Auto repair"]])  # multi-label: one softmax term per true label
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0, atol=1e-9)
