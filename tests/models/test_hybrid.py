"""Tests of the ``hybrid`` model (ensemble TF-IDF scorer + LR on frozen int8 MiniLM embeddings, blended).

The real MiniLM encoder (int8 ONNX graph built at fit) runs on CPU with 32 tokens: marked ``slow``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from synthetic import synth

from siteclass.errors import InputError
from siteclass.models.base import load_model
from siteclass.models.ensemble import SparseEnsembleClassifier
from siteclass.models.hybrid import INT8_FILE, HybridClassifier
from siteclass.models.registry import model_class
from siteclass.records import record_text

pytestmark = pytest.mark.slow


def small(**kw) -> HybridClassifier:
    return HybridClassifier(max_features=5000, min_df=1, n_jobs=1, max_tokens=32, **kw)


@pytest.fixture(scope="module")
def data() -> tuple[list, list, list, list]:
    X, y = synth(120, 0)
    Xv, yv = synth(40, 5)
    return X, y, Xv, yv


def test_registered() -> None:
    assert model_class("hybrid") is HybridClassifier


def test_logits_are_tfidf_part_plus_embedding_part(data) -> None:
    """The blend is stored as two linear blocks: logits = TF-IDF @ coef + embedding @ emb_coef + intercept."""
    X, y, Xv, yv = data
    model = small().fit(X, y, X_val=Xv, y_val=yv)
    texts = [record_text(r, model.max_pages) for r in Xv]
    tfidf = np.asarray(model._transform(texts) @ model.coef_.T)
    emb = model._encoder().encode(texts).astype(np.float64) @ model.emb_coef_.T
    np.testing.assert_allclose(model.decision_function(Xv), tfidf + emb + model.intercept_, atol=1e-8)
    assert model.emb_coef_.shape == (len(model.classes_), 384)


def test_weight_zero_is_the_ensemble(data) -> None:
    """emb_weight = 0: the embedding block is zero and the answers are the ensemble's (same TF-IDF scorer)."""
    X, y, Xv, yv = data
    hybrid = small(emb_weight=0.0).fit(X, y, X_val=Xv, y_val=yv)
    ensemble = SparseEnsembleClassifier(max_features=5000, min_df=1, n_jobs=1).fit(X, y, X_val=Xv, y_val=yv)
    assert not hybrid.emb_coef_.any()
    np.testing.assert_array_equal(hybrid.decision_function(Xv).argmax(1), ensemble.decision_function(Xv).argmax(1))


def test_bad_weight_is_refused(data) -> None:
    X, y, _, _ = data
    with pytest.raises(InputError, match="emb_weight"):
        small(emb_weight=1.5).fit(X, y)


def test_saved_folder_predicts_without_torch(data, tmp_path) -> None:
    """The saved folder holds the int8 encoder graph and its tokenizer: a process that cannot import torch loads
    it and gives the same probabilities."""
    X, y, Xv, yv = data
    model = small().fit(X, y, X_val=Xv, y_val=yv)
    folder = model.save(tmp_path / "m")
    assert (folder / "encoder" / INT8_FILE).is_file() and (folder / "encoder" / "tokenizer.json").is_file()
    np.testing.assert_allclose(load_model(folder).predict_proba(Xv), model.predict_proba(Xv), atol=1e-9)
    (tmp_path / "records.json").write_text(json.dumps(Xv), encoding="utf-8")
    code = (
        "import importlib.abc, json, sys\n"
        "class NoTorch(importlib.abc.MetaPathFinder):  # `import torch` raises ImportError, as without torch\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is not installed here')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from siteclass.models.base import load_model\n"
        f"m = load_model({str(folder)!r})\n"
        f"recs = json.load(open({str(tmp_path / 'records.json')!r}))\n"
        "print(json.dumps(m.predict_proba(recs).tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    np.testing.assert_allclose(np.array(json.loads(out.stdout)), model.predict_proba(Xv), atol=1e-6)
