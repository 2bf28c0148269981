"""Export a sentence-transformers model as a torch-free ONNX query encoder.

The graph maps token ids to the mean-pooled, normalized vector (and the token
vectors, for sentence pooling); its weights go to an external file, memory-mapped
at load so unused embedding rows never become resident; the model's tokenizer is
copied beside it.

torch, transformers and onnx are imported inside the functions: a query process
reads this module's names (files, inputs) and must never pay for them.
sentence_transformers itself is not imported here (`transformer` stays the only
module that does): the caller hands in the loaded module stack and its version.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ModelError

if TYPE_CHECKING:
    import torch

__all__ = [
    "GRAPH",
    "INPUTS",
    "TOKENIZER",
    "WEIGHTS",
    "OnnxExport",
    "check_exportable",
    "export_onnx",
]

GRAPH = "query-encoder.onnx"
WEIGHTS = "query-encoder.onnx.data"
TOKENIZER = "tokenizer.json"
_TRACED = "traced.onnx"
#: The graph's possible inputs; token_type_ids only for models whose tokenizer
#: makes them (BERT, not MPNet).
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_OUTPUTS = ["embedding", "token_embeddings"]
_OPSET = 17
# Two texts of different lengths, so the traced graph handles padding.
_SAMPLE = ["a short text", "a somewhat longer text to pad the first one"]


# A frozen dataclass, not a pydantic model like the build steps' values: the test
# suite's reusable export derives copies of it with `dataclasses.replace`.
@dataclass(frozen=True)
class OnnxExport:
    """What `export_onnx` wrote."""

    graph: Path
    weights: Path
    tokenizer: Path
    max_length: int
    exported_with: dict[str, str]


def check_exportable(stack: Any, name: str, model_folder: Path) -> Path:
    """Refuse a model this exporter would get wrong.

    Args:
        stack: The sentence-transformers module stack (loosely typed upstream).
        name: The model's name, for messages.
        model_folder: The model's local folder.

    Returns:
        The model's `tokenizer.json`.

    Raises:
        ModelError: Not a plain transformer + mean pooling (+ normalize) stack, or
            no `tokenizer.json`.
    """
    modules = [type(m).__name__ for m in stack]
    pooling = stack[1].get_config_dict().get("pooling_mode") if len(modules) > 1 else None
    if modules[:2] != ["Transformer", "Pooling"] or modules[2:] not in ([], ["Normalize"]):
        raise ModelError(f"cannot export {name}: modules {modules} are not supported")
    if pooling != "mean":
        raise ModelError(f"cannot export {name}: {pooling} pooling is not supported")
    tokenizer_file = model_folder / TOKENIZER
    if not tokenizer_file.is_file():
        raise ModelError(f"cannot export {name}: no tokenizer.json in {model_folder}")
    return tokenizer_file


def export_onnx(
    stack: Any,
    *,
    name: str,
    model_folder: Path,
    folder: Path,
    sentence_transformers_version: str,
) -> OnnxExport:
    """Write the model's ONNX graph, its external weights and its tokenizer into `folder`.

    Args:
        stack: The loaded sentence-transformers module stack (transformer, pooling,
            normalize); its tokenizer traces the sample.
        name: The model's name, for messages.
        model_folder: The model's local folder (its `tokenizer.json` is copied).
        folder: Where to write; the three files are named `GRAPH`, `WEIGHTS`, `TOKENIZER`.
        sentence_transformers_version: Recorded with the other libraries' versions.

    Returns:
        The written files, the token limit and the library versions.

    Raises:
        ModelError: The model is not supported (see `check_exportable`) or the
            export fails.
    """
    tokenizer_file = check_exportable(stack, name, model_folder)
    graph, weights, traced = folder / GRAPH, folder / WEIGHTS, folder / _TRACED
    sample = stack.tokenizer(_SAMPLE, padding=True, return_tensors="pt")
    try:
        _trace(_mean_pooled_normalized(stack[0].auto_model), sample, traced)
        _externalize_weights(traced, graph, weights)
    except Exception as exc:
        raise ModelError(f"cannot export {name} to ONNX: {exc}") from None
    tokenizer = folder / TOKENIZER
    tokenizer.write_bytes(tokenizer_file.read_bytes())
    return OnnxExport(
        graph=graph,
        weights=weights,
        tokenizer=tokenizer,
        max_length=int(stack.max_seq_length),
        exported_with=_library_versions(sentence_transformers_version),
    )


def _mean_pooled_normalized(transformer: Any) -> torch.nn.Module:
    """`transformer` followed by attention-masked mean pooling and L2 normalization,
    in eval mode: what sentence-transformers computes, as one traceable module."""
    import torch

    class MeanPooledNormalized(torch.nn.Module):
        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer: Any = transformer

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor | None = None,
        ) -> tuple[torch.Tensor, torch.Tensor]:
            types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, **types
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1), hidden

    return MeanPooledNormalized(transformer).eval()


def _trace(module: torch.nn.Module, sample: Any, target: Path) -> None:
    """Trace `module` on the tokenized `sample` into `target`, batch and token
    axes dynamic."""
    import torch

    inputs = [name for name in INPUTS if name in sample]
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes on constant shapes
        torch.onnx.export(
            module,
            tuple(sample[name] for name in inputs),
            str(target),
            input_names=inputs,
            output_names=_OUTPUTS,
            dynamic_axes={
                **{name: axes for name in inputs},
                "embedding": {0: "batch"},
                "token_embeddings": axes,
            },
            opset_version=_OPSET,
            dynamo=False,
        )


def _externalize_weights(traced: Path, graph: Path, weights: Path) -> None:
    """Save the traced graph as `graph` with its tensors in the one file `weights`,
    readable like the graph, and remove `traced`."""
    import onnx

    onnx.save_model(
        onnx.load(str(traced)),
        str(graph),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=weights.name,
        size_threshold=1024,
    )
    traced.unlink()
    # onnx writes external data owner-only; the index's other files are readable
    # by whoever serves it, so this one must be too.
    weights.chmod(graph.stat().st_mode & 0o777)


def _library_versions(sentence_transformers_version: str) -> dict[str, str]:
    """The versions that shaped the export: an upgrade of any may change what the
    model computes, so the builder exports afresh when one differs."""
    import onnx
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence-transformers": sentence_transformers_version,
        "onnx": onnx.__version__,
    }
