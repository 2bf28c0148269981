"""The embedding model's tokenizer: counts tokens and maps them to character offsets.

Only the light `tokenizers` library is used here, so chunking and query checks
never pay for importing torch.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from tokenizers import Tokenizer

from .._errors import ModelError
from .._model_folder import resolve_model_dir

__all__ = ["ModelTokenizer", "load_tokenizer"]


class ModelTokenizer:
    """Counts model tokens and maps them to character offsets."""

    def __init__(self, folder: Path) -> None:
        try:
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as exc:  # the tokenizers library raises bare Exceptions
            raise ModelError(f"cannot read the tokenizer in {folder}: {exc}") from None
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self.max_tokens = _max_seq_length(folder)
        #: [CLS] and [SEP] (or their kin) wrap every input.
        self.special_tokens = self._tokenizer.num_special_tokens_to_add(is_pair=False)

    def count(self, text: str) -> int:
        """Tokens of `text` as the model sees it, special tokens included."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids) + (
            self.special_tokens
        )

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token of `text` (special tokens excluded)."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).offsets)


def _max_seq_length(folder: Path) -> int:
    try:
        config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
        return int(config["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


@functools.lru_cache(maxsize=4)
def load_tokenizer(model: str) -> ModelTokenizer:
    """The (cached) tokenizer of `model`; see `resolve_model_dir` for the names."""
    return ModelTokenizer(resolve_model_dir(model))
