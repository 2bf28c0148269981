"""The passage tokenizer: the embedding model's own word pieces, counted offline."""

import pytest

from assistant._settings import DEFAULT_MODEL
from assistant.ingest.tokenizer import load_tokenizer

TOKENIZER = load_tokenizer(DEFAULT_MODEL)


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 2),  # [CLS] [SEP]
        ("x", 3),
        ("Who is Japan's defense minister?", 10),
        ("U.S. Forces Japan (USFJ)", 13),
        ("尖閣諸島 Senkaku/Diaoyu", 13),
    ],
)
def test_count_is_the_models_word_pieces_with_cls_and_sep(text: str, tokens: int) -> None:
    assert TOKENIZER.count(text) == tokens
