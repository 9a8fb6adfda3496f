"""Length-aware batching of the shared text encoder (``siteclass.models.encoder.length_batches``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from siteclass.models.encoder import PAD_SLACK, RUN_TOKENS, length_batches


@given(st.lists(st.integers(1, 256), max_size=300), st.integers(1, 64))
def test_batches_cover_every_text_once_in_order(lengths: list[int], batch_size: int) -> None:
    lengths = sorted(lengths)
    batches = length_batches(lengths, batch_size)
    assert [i for a, b in batches for i in range(a, b)] == list(range(len(lengths)))
    assert all(0 < b - a <= batch_size for a, b in batches)
    for a, b in batches:  # within a batch, padding stays within the slack (the first text of a batch always fits)
        real = sum(lengths[a:b])
        assert (b - a) * lengths[b - 1] <= PAD_SLACK * real + RUN_TOKENS or b - a == 1


def test_short_texts_are_not_padded_to_a_long_page() -> None:
    # names and titles of three sites, then their pages: two calls instead of one padded to 128 tokens
    assert length_batches([5, 5, 5, 5, 5, 5, 15, 15, 15, 100, 120, 128], 32) == [(0, 9), (9, 12)]
    assert length_batches([10] * 70, 32) == [(0, 32), (32, 64), (64, 70)]
    assert length_batches([], 32) == []
