"""Pure functions of the dataset stage: cleaning, labels, split hash, near-duplicate index, balancing plan."""

from __future__ import annotations

import numpy as np
from dataset_helpers import words

from siteclass.data.balance import Meta, make_plan
from siteclass.data.dedup import MAX_WORDS, NearDupIndex, hash_words, signatures, word_hashes
from siteclass.data.rows import clean_text, fasttext_line, parse_label
from siteclass.data.split import split_of


def test_clean_text_and_labels() -> None:
    assert clean_text(" a\x00b\u200b  c\n\td Cafe\u0301 ") == "a b c d Café"
    assert clean_text(None) == "" and clean_text(12) == "12"
    assert parse_label("Food; Drink ;Food", True) == ["Food", "Drink"]
    assert parse_label("Food; Drink", False) == ["Food; Drink"]
    assert parse_label(np.array(["b", "a", ""]), False) == ["b", "a"]
    assert parse_label("  ", False) == [] and parse_label(None, True) == []
    assert fasttext_line(["Real Estate", "Law"], "a\nb  c") == "__label__Real_Estate __label__Law a b c"


def test_split_hash_is_stable_and_proportional() -> None:
    sides = [split_of(f"d{i}.com", (0.6, 0.2, 0.2), 42) for i in range(6000)]
    assert sides == [split_of(f"d{i}.com", (3, 1, 1), 42) for i in range(6000)]  # fractions are normalised
    share = np.bincount(sides, minlength=3) / len(sides)
    assert np.allclose(share, [0.6, 0.2, 0.2], atol=0.03)
    assert sides != [split_of(f"d{i}.com", (0.6, 0.2, 0.2), 7) for i in range(6000)]  # the seed matters
    assert {split_of(f"d{i}.com", (0, 0, 1), 42) for i in range(100)} == {2}


# The word hash is a specification, not whatever a library computes today: these values must never change
# (they are the 8-byte BLAKE2b digests of the UTF-8 words, little-endian).
PINNED = {"the": 0x2E3A97906CABDA5E, "plumbing": 0x7C2D52D168EA75CF, "café": 0xE3D79231BDA27757,
          "42": 0x7A686626F03CB457, "東京": 0xF02B68D1CA5511EE, "straße": 0x8956C0E9EBD75B62}


def test_word_hash_values_are_pinned() -> None:
    assert hash_words([w.encode() for w in PINNED]).tolist() == list(PINNED.values())
    h, counts = word_hashes(["The PLUMBING café, 42!", None, "", "— ... —", "東京 · STRASSE Straße"])
    assert counts.tolist() == [4, 0, 0, 0, 3]
    assert h.dtype == np.uint64 and h[:4].tolist() == [PINNED[w] for w in ("the", "plumbing", "café", "42")]
    assert h[4] == PINNED["東京"] and h[6] == PINNED["straße"]


def test_words_split_on_the_listed_separators_only() -> None:
    def words(text: str) -> list[int]:
        return word_hashes([text])[0].tolist()

    def hashes(*ws: str) -> list[int]:
        return hash_words([w.encode() for w in ws]).tolist()

    assert words("café_au-lait") == hashes("café_au", "lait")  # _ joins, - separates
    assert words("l’été «chaud»\u00a0x² ½") == hashes("l", "été", "chaud", "x²", "½")
    assert words("naïve 😀 smile") == hashes("naïve", "smile")
    assert words("Cafe\u0301") == hashes("cafe\u0301")  # a combining mark stays in its word
    # the texts of a batch never run into each other, and a text's words are capped
    h, counts = word_hashes(["abc", "def", "x " * (MAX_WORDS + 5) + "tail", "ghi"])
    assert counts.tolist() == [1, 1, MAX_WORDS, 1]
    assert h.tolist() == hashes("abc", "def") + hashes("x") * MAX_WORDS + hashes("ghi")


def test_near_duplicates_independent_of_batching() -> None:
    texts = [words(i, 60) for i in range(300)]
    texts += [t + " plus one" for t in texts[:50]]  # near-duplicates of earlier rows
    texts += [words(10_000 + i, 60) for i in range(100)]
    groups = np.arange(len(texts))
    sig, ok = signatures(texts)
    whole = NearDupIndex(0.8).add(sig, groups, ok)
    idx = NearDupIndex(0.8)
    parts = [idx.add(sig[a:a + 37], groups[a:a + 37], ok[a:a + 37]) for a in range(0, len(texts), 37)]
    assert (np.concatenate(parts) == whole).all()
    assert whole[300:350].all() and not whole[:300].any() and not whole[350:].any()
    assert set(whole[300:350].tolist()) == {2}  # another group's document


def test_plan_downsample_upsample_and_min_per_class() -> None:
    vocab = ["a", "b", "c"]
    labels = [0] * 40 + [1] * 10 + [2] * 2
    n = len(labels)
    meta = Meta(np.arange(n, dtype=np.uint64) * np.uint64(2654435761), np.zeros(n, dtype=np.int8),
                np.arange(n + 1), np.asarray(labels), vocab)
    down = make_plan(meta, 5, "downsample", 1.5)
    assert down.dropped_classes == {"c": 2} and down.class_too_small == 2 and down.labels == ["a", "b"]
    kept = np.bincount(np.asarray(labels)[down.copies > 0], minlength=3)
    assert kept.tolist() == [15, 10, 0] and down.downsampled == 25
    up = make_plan(meta, 0, "upsample", 1.0)
    total = np.bincount(np.asarray(labels), weights=up.copies, minlength=3)
    assert total.tolist() == [40, 40, 40] and up.upsampled_added == 120 - n
