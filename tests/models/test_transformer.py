"""The transformer model: page/site layout, pooling modes, single-text, the frozen and fine-tuned encoder.

CPU-only and small: frozen bundled encoder, max_tokens 64, a dozen records. One short fine-tuning run checks the
unfrozen path end to end. The classifier contract (fit/predict/proba, multi-label, save/load, calibration,
determinism, tags) is checked for every model in test_contract.py.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from siteclass.config import TrainSettings
from siteclass.models.base import load_model
from siteclass.models.transformer import (
    EXTENSIONS,
    TransformerClassifier,
    ext_onehot,
    head_logits_np,
    layout_np,
    record_ext,
    slot_texts,
)

DENTAL = [
    ("Bright Smile Dental", "brightsmile.com", "Family dentistry", "Teeth cleaning, fillings, dental implants and whitening."),
    ("Tooth Care Clinic", "toothcare.org", "Our dentists", "Orthodontics, braces and dental checkups for children."),
    ("Gentle Dentist", "gentle-dentist.co", "Dental services", "Root canals, crowns and emergency dental care."),
    ("Smile Studio", "smilestudio.net", "Cosmetic dentistry", "Veneers, teeth whitening and invisible aligners."),
]
PLUMBING = [
    ("Acme Plumbing", "acme-plumbing.com", "Plumbers", "We fix leaking pipes and install water heaters."),
    ("Pipe Pros", "pipepros.net", "Plumbing repair", "Drain cleaning, pipe repair and emergency plumber service."),
    ("Flow Masters", "flowmasters.us", "Our plumbing services", "Sewer line repair, toilets, faucets and leak detection."),
    ("Drain Doctors", "draindoctors.biz", "Drain cleaning", "Clogged drains, water heaters and bathroom plumbing."),
]
PIZZA = [
    ("Luigi Pizzeria", "luigipizza.com", "Menu", "Wood fired pizza, pasta and salads. Dine in or take out."),
    ("Slice House", "slicehouse.info", "Order online", "Pizza by the slice, calzones and pizza delivery every night."),
    ("Napoli Pies", "napolipies.site", "Our pizza", "Neapolitan pizza, fresh mozzarella, tomato sauce and basil."),
    ("Crust & Co", "crustco.com", "Restaurant", "Family pizza restaurant with pizza specials and craft beer."),
]


def _records(rows: list[tuple[str, str, str, str]], extra_page: bool = False) -> list[dict]:
    out = []
    for name, domain, title, text in rows:
        pages = [{"url": f"https://{domain}/", "title": title, "text": text}]
        if extra_page:
            pages.append({"url": f"https://{domain}/about", "title": "About us", "text": f"About {name}."})
        out.append({"name": name, "domain": domain, "pages": pages})
    return out


@pytest.fixture(scope="module")
def toy() -> tuple[list[dict], list[str]]:
    records = _records(DENTAL) + _records(PLUMBING, extra_page=True) + _records(PIZZA)
    labels = ["dental"] * 4 + ["plumbing"] * 4 + ["pizza"] * 4
    return records, labels


def _small(**kw: object) -> TransformerClassifier:
    params = {"freeze_encoder": True, "max_tokens": 64, "pages": 2, "epochs": 15, "head_lr": 1e-2, "batch_size": 4}
    params.update(kw)
    return TransformerClassifier(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted(toy: tuple[list[dict], list[str]]) -> TransformerClassifier:
    records, labels = toy
    return _small().fit(records, labels, progress=False)  # type: ignore[return-value]


def test_inputs_slots_and_extension() -> None:
    rec = {"name": "Acme", "domain": "acme-plumbing.co", "pages": [{"title": "Home", "text": "Pipes"}]}
    assert slot_texts(rec, 2, False) == ["Home", "Pipes", "", "", "acme plumbing co", "Acme"]
    assert slot_texts({"text": "just text"}, 1, False) == ["", "just text", "", ""]
    assert slot_texts({"text": "just text", "name": "X"}, 3, True) == ["just text"]
    assert record_ext(rec) == "co"
    assert record_ext({"url": "https://example.de/x"}) == "other"
    assert record_ext({"ext": ".ORG"}) == "org"
    onehot = ext_onehot([rec, {"domain": "a.gov"}, {}])
    assert onehot.shape == (3, len(EXTENSIONS) + 1)
    assert onehot.sum(axis=1).tolist() == [1, 1, 1]
    assert onehot[2, -1] == 1  # no domain → "other"


def test_site_records_and_a_saved_frozen_encoder(fitted: TransformerClassifier, toy: tuple[list[dict], list[str]],
                                                 tmp_path) -> None:
    """Site records (pages, domain, name in their slots); a frozen encoder is referenced by the saved folder (its
    tokenizer copied, not its weights); a loaded model pickles without its live encoder."""
    records, labels = toy
    proba = fitted.predict_proba(records)
    assert np.mean([p == t for p, t in zip(fitted.predict(records), labels)]) >= 0.9
    unseen = {"name": "Downtown Dental Care", "domain": "downtowndental.com",
              "pages": [{"title": "Dentist", "text": "Dental exams, teeth cleaning and fillings."}]}
    assert fitted.predict(unseen) == "dental"

    out = fitted.save(tmp_path / "m")
    assert (out / "encoder" / "tokenizer.json").is_file()
    assert not (out / "encoder" / "model.safetensors").exists()  # frozen: the encoder is referenced, not copied
    loaded = load_model(out)
    clone = pickle.loads(pickle.dumps(loaded))  # the live encoder is dropped and rebuilt on first use
    np.testing.assert_allclose(clone.predict_proba(records[:2]), proba[:2], atol=1e-6)


def test_absent_pages_do_not_change_the_score(fitted: TransformerClassifier) -> None:
    one = {"name": "Pipe Pros", "domain": "pipepros.net", "pages": [{"title": "Plumbing", "text": "Drain cleaning."}]}
    padded = {**one, "pages": [*one["pages"], {"title": "", "text": ""}]}
    np.testing.assert_allclose(fitted.decision_function(one), fitted.decision_function(padded), atol=1e-6)


def test_attention_pooling(toy: tuple[list[dict], list[str]], tmp_path) -> None:
    records, labels = toy
    model = _small(pooling="attention").fit(
        records, labels, X_val=records[::2], y_val=labels[::2], checkpoint_dir=tmp_path / "ckpt", progress=False
    )
    assert (tmp_path / "ckpt" / "last.pt").is_file()  # the shared training loop checkpoints the head
    assert model.card_["best_epoch"] >= 1 and "val_macro_f1" in model.card_["history"][-1]
    assert {"proj.weight", "score.weight", "out.weight"} <= set(model.head_)
    assert model.head_["out.weight"].shape[1] == 2 * 384 + 2 * 384 + len(EXTENSIONS) + 1
    assert np.mean([p == t for p, t in zip(model.predict(records), labels)]) >= 0.9
    loaded = load_model(model.save(tmp_path / "att"))
    np.testing.assert_allclose(loaded.predict_proba(records), model.predict_proba(records), atol=1e-6)


def test_numpy_head_matches_torch_head() -> None:
    torch = pytest.importorskip("torch")
    from siteclass.models.transformer import _layout_torch, _torch_head

    rng = np.random.default_rng(0)
    pages, d = 3, 8
    V = rng.normal(size=(5, 2 * pages + 2, d)).astype(np.float32)
    valid = rng.random((5, 2 * pages + 2)) > 0.3
    V[~valid] = 0
    ext = np.eye(len(EXTENSIONS) + 1, dtype=np.float32)[[0, 3, 10, 1, 2]]
    for pooling in ("concat", "attention"):
        torch.manual_seed(1)
        head = _torch_head(pages, 2 * d, 2 * d + len(EXTENSIONS) + 1, 4, pooling, 0.5).eval()
        with torch.no_grad():
            ref = head(*_layout_torch(torch.from_numpy(V), torch.from_numpy(valid), torch.from_numpy(ext), pages, False))
        arrays = {k: v.numpy() for k, v in head.state_dict().items()}
        got = head_logits_np(arrays, pooling, *layout_np(V, valid, ext, pages, False))
        np.testing.assert_allclose(got, ref.numpy(), atol=1e-5)


def test_single_text(tmp_path) -> None:
    texts = [r[3] for r in DENTAL + PLUMBING]
    labels = ["dental"] * 4 + ["plumbing"] * 4
    model = _small(single_text=True).fit(texts, labels, progress=False)
    pf, mask, site = model.features([{"text": t} for t in texts[:2]])
    assert pf.shape == (2, 1, 384) and site.shape == (2, 0) and mask.all()
    assert model.head_["out.weight"].shape == (2, 384)
    assert model.predict("Dental implants and teeth whitening for the whole family.") == "dental"
    loaded = load_model(model.save(tmp_path / "single"))
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)



def test_fine_tuning_updates_and_saves_the_encoder(toy: tuple[list[dict], list[str]], tmp_path) -> None:
    records, labels = toy
    # One optimizer step on 6 records: the encoder's 22M weights make each CPU step cost seconds.
    model = TransformerClassifier(freeze_encoder=False, max_tokens=16, pages=1, epochs=1, batch_size=6, lr=1e-4)
    model.fit(records[:3] + records[8:11], labels[:3] + labels[8:11], progress=False)
    from siteclass.models.bert import load_bert
    from siteclass.models.encoder import resolve_encoder

    base = load_bert(resolve_encoder("all-MiniLM-L6-v2")).state_dict()
    tuned = model._module.state_dict()
    assert any(not np.allclose(base[k].numpy(), tuned[k].numpy()) for k in base)
    out = model.save(tmp_path / "ft")
    assert (out / "encoder" / "model.safetensors").is_file()
    loaded = load_model(out)
    np.testing.assert_allclose(loaded.predict_proba(records), model.predict_proba(records), atol=1e-5)


def test_from_settings() -> None:
    settings = TrainSettings.model_validate({"seed": 7, "transformer": {"pages": 3, "pooling": "attention"}})
    model = TransformerClassifier.from_settings(settings)
    assert model.pages == 3 and model.pooling == "attention" and model.seed == 7
    assert model.lr == settings.transformer.lr and model.batch_size == 16 and model.epochs == 3
