"""`ask()`: an extractive answer of verbatim source sentences with `[n]` markers,
or an honest abstention when the sources do not cover the question.

Writing the answer is pluggable (`Generator`), checking it is not: a sentence that
cannot be found verbatim in the excerpt its marker cites is dropped.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

from .._settings import AnswerSettings, Settings
from .._types import Answer, Citation
from .._words import word_set
from ..search.pipeline import resolve_settings, search
from ..search.selection import is_near_duplicate
from ..search.signals import Signals
from .followups import PreviousTurn, follow_up
from .verify import also_reported, verify

__all__ = ["ABSTAIN_MESSAGE", "ExtractiveGenerator", "Generator", "ask", "relevance"]

ABSTAIN_MESSAGE = "The sources do not cover this question."
# Containment at which two answer sentences state the same thing (one is left out).
_SAME_SENTENCE = 0.8


class Generator(Protocol):
    """Writes the answer text from the cited excerpts (an LLM could plug in here).

    Every sentence must be followed by `[n]`, the 1-based number of the excerpt it
    comes from; sentences not found verbatim in that excerpt are dropped by `verify`.
    """

    def generate(self, question: str, citations: Sequence[Citation]) -> str: ...


class ExtractiveGenerator:
    """The built-in generator: the highlighted sentence of the top excerpt, joined by
    those of excerpts scoring close to it, without repeating the same fact."""

    def __init__(self, settings: AnswerSettings | None = None) -> None:
        self._settings = settings or AnswerSettings()

    def generate(self, question: str, citations: Sequence[Citation]) -> str:
        """The answer: highlighted sentences with their `[n]` markers.

        Args:
            question: The question (unused: the excerpts were ranked for it).
            citations: The excerpts, best first.

        Returns:
            Up to `max_sentences` sentences; "" without excerpts.
        """
        if not citations:
            return ""
        top = citations[0].score
        parts: list[str] = []
        seen: list[frozenset[str]] = []
        for citation in citations:
            if citation.rank > 1 and citation.score < self._settings.companion_ratio * top:
                break
            for sentence in citation.highlight_texts():
                words = word_set(sentence)
                if any(is_near_duplicate(words, other, _SAME_SENTENCE) for other in seen):
                    continue
                seen.append(words)
                also = also_reported(sentence, citation, citations)
                parts.append(f"{sentence} [{citation.rank}]{also}")
                if len(parts) == self._settings.max_sentences:
                    return " ".join(parts)
        return " ".join(parts)


def relevance(signals: Signals, settings: AnswerSettings) -> float:
    """Best passage cosine plus weighted term coverage.

    Cosine alone ranks some answerable paraphrases below off-topic questions that
    share a country name or a year; a question whose distinctive words are not in
    the passages retrieved for it (`coverage="retrieved"`), or nowhere in the corpus
    (`coverage="corpus"`), loses the coverage part.

    Args:
        signals: The search's signals.
        settings: Which coverage counts, and its weight.

    Returns:
        The relevance; `ask` abstains below `settings.abstain_below`.
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
    previous: PreviousTurn | None = None,
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
        previous: The previous turn of a chat. A question that refers back to it
            ("what did he say exactly?") is searched with its context
            (`resolve_followup`) and on its own words, both rankings added.

    Returns:
        The answer (its `question`: what was searched, with a follow-up's context).
        When the sources do not cover the question, `abstained` is True,
        the text says so, and the citations are the closest passages ("related,
        not an answer").

    Raises:
        QuestionError, IndexMissingError, IndexMismatchError, IndexCorruptError:
            As `retrieve`.
    """
    settings = resolve_settings(settings, index_dir)
    turn = follow_up(question, previous)
    result = search(turn.query, k, settings, turn=turn.turn)
    options = settings.answer.with_recorded(result.abstention)
    score = relevance(result.signals, options)
    if score < options.abstain_below or not result.citations:
        return Answer(
            question=result.question,
            text=ABSTAIN_MESSAGE,
            citations=result.citations[:3],
            abstained=True,
            relevance=score,
            abstain_below=options.abstain_below,
        )
    writer = generator or ExtractiveGenerator(options)
    text = verify(writer.generate(result.question, result.citations), result.citations)
    if not text:  # nothing verifiable: fall back to the top excerpt's own highlight
        fallback = ExtractiveGenerator(options).generate(result.question, result.citations[:1])
        text = verify(fallback, result.citations)
    return Answer(
        question=result.question,
        text=text,
        citations=result.citations,
        abstained=False,
        relevance=score,
        abstain_below=options.abstain_below,
    )
