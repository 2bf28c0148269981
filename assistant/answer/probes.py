"""Whether the live generation still refuses questions far from any briefing.

The abstention rule was fitted on a corpus about the alliance. A maintainer who
drops general material into `sources/` (textbooks, encyclopaedia pages, science
abstracts) makes general questions look answered, and nothing else would say so.
After each build, `assistant build` asks these off-domain probe questions and
names any that the new generation answers. The probes are general questions of
everyday topics, written for this check; no evaluation set was drawn from them
and no weight or threshold was chosen with them.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from .._settings import Settings
from ..search.pipeline import resolve_settings
from .compose import ask

__all__ = ["OFF_DOMAIN_PROBES", "ProbeCheck", "check_abstention"]

OFF_DOMAIN_PROBES: tuple[str, ...] = (
    "How long should bread dough be kneaded?",
    "Which river flows through Vienna?",
    "Who composed the Moonlight Sonata?",
    "How many players are on a rugby union team?",
    "At what temperature does water boil on a high mountain?",
    "How do I reset a forgotten email password?",
    "How much vitamin C should an adult take each day?",
    "How far is the Moon from the Earth?",
    "How do you fix a flat bicycle tyre?",
    "Who painted The Night Watch?",
    "How is a mortgage paid off over time?",
    "How do plants turn sunlight into sugar?",
    "When should tomato plants be pruned?",
    "What happens in the last act of Hamlet?",
    "How fast can a cheetah run?",
    "Which language are Android apps usually written in?",
    "How long do elephants live?",
    "What is the best way to keep fresh basil?",
    "How does a refrigerator keep food cold?",
    "What is the chemical formula of table salt?",
    "How do I write a good cover letter?",
    "How deep is the Mariana Trench?",
    "Why do cats purr?",
    "How do bees make honey?",
)


class ProbeCheck(BaseModel):
    """The off-domain probes a generation answers instead of refusing."""

    model_config = ConfigDict(extra="forbid")

    generation: str
    abstain_below: float = Field(description="The threshold the generation abstains below.")
    probes: int = Field(description="Probe questions asked.")
    answered: list[tuple[str, float]] = Field(
        default_factory=list, description="(probe, its relevance) for each probe answered."
    )

    def summary(self) -> str | None:
        """A warning line when a probe was answered; None when all were refused."""
        if not self.answered:
            return None
        worst = max(self.answered, key=lambda item: item[1])
        return (
            f"warning: generation {self.generation} answers {len(self.answered)} of "
            f"{self.probes} off-domain probe questions (e.g. {worst[0]!r}, relevance "
            f"{worst[1]:.2f} ≥ {self.abstain_below:.2f}): the sources hold general "
            "material, so general questions will get answers; raise "
            "ASSISTANT_ANSWER__ABSTAIN_BELOW and build again if they should not"
        )


def check_abstention(
    index_dir: str | os.PathLike[str] | None = None, *, settings: Settings | None = None
) -> ProbeCheck:
    """Ask every off-domain probe of the live generation, as `ask()` would.

    Args:
        index_dir: Index folder (default `./index` or `ASSISTANT_INDEX`).
        settings: Settings to ask with (default `Settings.from_env()`).

    Returns:
        The probes the generation answers.

    Raises:
        IndexMissingError, IndexMismatchError, IndexCorruptError: As `ask`.
    """
    settings = resolve_settings(settings, index_dir)
    answered: list[tuple[str, float]] = []
    generation, threshold = "", settings.answer.abstain_below
    for probe in OFF_DOMAIN_PROBES:
        answer = ask(probe, 3, settings=settings)
        if answer.citations:
            generation = answer.citations[0].generation
        threshold = answer.abstain_below if answer.abstain_below is not None else threshold
        if not answer.abstained:
            answered.append((probe, round(answer.relevance, 3)))
    return ProbeCheck(
        generation=generation,
        abstain_below=threshold,
        probes=len(OFF_DOMAIN_PROBES),
        answered=answered,
    )
