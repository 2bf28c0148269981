"""`ask()`: an extractive answer of verbatim source sentences with `[n]` markers,
or an honest abstention when the sources do not cover the question.

Writing the answer is pluggable (`Generator`), checking it is not: a sentence that
cannot be found verbatim in the excerpt its marker cites is dropped.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Protocol

from .._settings import AnswerSettings, Settings
from .._types import Answer, Citation
from ..indexing.lexical import content_terms
from ..search.fusion import is_near_duplicate, word_set
from ..search.pipeline import Signals, resolve_settings, search

__all__ = ["ABSTAIN_MESSAGE", "ExtractiveGenerator", "Generator", "ask", "relevance", "verify"]

ABSTAIN_MESSAGE = "The sources do not cover this question."
_MARKED = re.compile(r"\s*(.+?)\s*\[(\d+)\](?:\s*\(also reported in ((?:\[\d+\](?:,\s*)?)+)\))?")
_NUMBER = re.compile(r"\[(\d+)\]")
# Share of a sentence's content terms another document's excerpt must hold for it
# to count as reporting the same fact ("also reported in [n]"), and the fewest
# terms that make a fact (a four-word sentence matches too much by chance).
_SAME_REPORT = 0.7
_FACT_TERMS = 5


class Generator(Protocol):
    """Writes the answer text from the cited excerpts (an LLM could plug in here).

    Every sentence must be followed by `[n]`, the 1-based number of the excerpt it
    comes from; sentences not found verbatim in that excerpt are dropped by `verify`.
    """

    def generate(self, question: str, citations: Sequence[Citation]) -> str: ...


def highlighted_sentences(citation: Citation) -> list[str]:
    """The excerpt's highlighted sentence(s), verbatim."""
    offset = citation.start
    return [citation.text[h.start - offset : h.end - offset] for h in citation.highlights]


class ExtractiveGenerator:
    """The built-in generator: the highlighted sentence of the top excerpt, joined by
    those of excerpts scoring close to it, without repeating the same fact."""

    def __init__(self, settings: AnswerSettings | None = None) -> None:
        self._settings = settings or AnswerSettings()

    def generate(self, question: str, citations: Sequence[Citation]) -> str:
        if not citations:
            return ""
        top = citations[0].score
        parts: list[str] = []
        seen: list[frozenset[str]] = []
        for citation in citations:
            if citation.rank > 1 and citation.score < self._settings.companion_ratio * top:
                break
            for sentence in highlighted_sentences(citation):
                words = word_set(sentence)
                if any(is_near_duplicate(words, other, 0.8) for other in seen):
                    continue
                seen.append(words)
                parts.append(f"{sentence} [{citation.rank}]{_also(sentence, citation, citations)}")
                if len(parts) == self._settings.max_sentences:
                    return " ".join(parts)
        return " ".join(parts)


def reports_same(sentence: str, source: str, other: Citation) -> bool:
    """True when `other`, an excerpt of another document, holds most of the
    sentence's content terms: the same fact as reported elsewhere."""
    terms = set(content_terms(sentence))
    if other.source == source or len(terms) < _FACT_TERMS:
        return False
    return len(terms & set(content_terms(other.text))) / len(terms) >= _SAME_REPORT


def _also(sentence: str, cited: Citation, citations: Sequence[Citation]) -> str:
    """The suffix ` (also reported in [3], [4])` naming the lower-ranked excerpts of
    other documents that report the sentence's fact: the answer cites the best-ranked
    report and groups the rest."""
    others = [
        c.rank for c in citations if c.rank > cited.rank and reports_same(sentence, cited.source, c)
    ]
    if not others:
        return ""
    return " (also reported in " + ", ".join(f"[{rank}]" for rank in others) + ")"


def verify(text: str, citations: Sequence[Citation]) -> str:
    """Keep only the `sentence [n]` parts whose sentence is verbatim in excerpt n, and
    of their "(also reported in [m])" only the excerpts that do report the fact."""
    kept = []
    for match in _MARKED.finditer(text):
        sentence, number = match.group(1), int(match.group(2))
        if not (1 <= number <= len(citations) and sentence in citations[number - 1].text):
            continue
        cited = citations[number - 1]
        also = [
            int(n)
            for n in _NUMBER.findall(match.group(3) or "")
            if 1 <= int(n) <= len(citations)
            and reports_same(sentence, cited.source, citations[int(n) - 1])
        ]
        group = f" (also reported in {', '.join(f'[{n}]' for n in also)})" if also else ""
        kept.append(f"{sentence} [{number}]{group}")
    return " ".join(kept)


def relevance(signals: Signals, settings: AnswerSettings) -> float:
    """Best passage cosine plus weighted term coverage.

    Cosine alone ranks some answerable paraphrases below off-topic questions that
    share a country name or a year; a question whose distinctive words are not in
    the passages retrieved for it (`coverage="retrieved"`), or nowhere in the corpus
    (`coverage="corpus"`), loses the coverage part.
    """
    coverage = signals.retrieved_coverage if settings.coverage == "retrieved" else signals.coverage
    return signals.dense_top + settings.coverage_weight * coverage


def ask(
    question: str,
    k: int = 5,
    *,
    index_dir: str | os.PathLike[str] | None = None,
    generator: Generator | None = None,
    settings: Settings | None = None,
) -> Answer:
    """Answer `question` from the sources, citing the excerpts it rests on.

    Args:
        question: A question in natural language.
        k: Excerpts to retrieve and cite at most.
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`); when
            given together with `settings`, it wins over `settings.index_dir`.
        generator: Writes the answer; defaults to `ExtractiveGenerator`.
        settings: Use these settings (retrieval and answer sections included)
            instead of `Settings.from_env()`; no `ASSISTANT_*` variable is read then.

    Returns:
        The answer. When the sources do not cover the question, `abstained` is True,
        the text says so, and the citations are the closest passages ("related,
        not an answer").

    Raises:
        QuestionError, IndexMissingError, IndexMismatchError, IndexCorruptError:
            As `retrieve`.
    """
    settings = resolve_settings(settings, index_dir)
    result = search(question, k, settings)
    score = relevance(result.signals, settings.answer)
    if score < settings.answer.abstain_below or not result.citations:
        return Answer(
            question=result.question,
            text=ABSTAIN_MESSAGE,
            citations=result.citations[:3],
            abstained=True,
            relevance=score,
        )
    writer = generator or ExtractiveGenerator(settings.answer)
    text = verify(writer.generate(result.question, result.citations), result.citations)
    if not text:  # nothing verifiable: fall back to the top excerpt's own highlight
        fallback = ExtractiveGenerator(settings.answer).generate(
            result.question, result.citations[:1]
        )
        text = verify(fallback, result.citations)
    return Answer(
        question=result.question,
        text=text,
        citations=result.citations,
        abstained=False,
        relevance=score,
    )
