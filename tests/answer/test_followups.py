"""Follow-up questions: which turns refer back, what they are resolved with, and
that the chat and the dialogue evaluation resolve them with the previous answer's
citations."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import Answer, Citation, Settings, Span, ask, build_index, resolve_followup
from assistant.answer.followups import PreviousTurn, refers_back
from assistant.embedding.transformer import Embedder
from assistant.evaluation import Dialogue, DialogueTurn, evaluate_dialogues
from ui.app import ChatHandlers

from ..conftest import SOURCES

SEPARATOR = " — "

REFERS_BACK = [
    "and when did it open?",  # leading conjunction
    "But why?",
    "what about South Korea?",
    "and South Korea?",  # elliptical, names its new subject only
    "when was it signed?",  # subject pronoun
    "Who announced them?",  # object pronoun
    "What were its main provisions?",  # possessive with no owner in the turn
    "what did he say next?",
    "How did Tokyo react to that?",  # demonstrative pronoun
    "was that decision unanimous?",  # demonstrative determiner
    "How does this compare with the 2015 guidelines?",
    "what happened back then?",  # temporal anaphor
    "Why did Seoul reject the proposal?",  # definite description of nothing named
    "the second one?",
    "when?",
    "why?",
    "what else?",
    "what did they say exactly?",
    "How did Manila respond?",  # a reaction verb without its object
    "How did Beijing react",
    "What did China do in response?",  # what followed, with nothing named to follow
    "What did Japan do next?",
    "what changed as a result",
    "what was the record before that one",  # "that one" at the end
]

STANDALONE = [
    "Why did Japan buy Tomahawk missiles from the United States?",
    "How will U.S. Forces Japan change under the 2024 agreement?",
    "Why is China angry about the US-Japan agreement?",
    "How did Japan say that China was wrong?",  # "that" opens a clause
    "Why did Japan raise its defense budget?",  # "its" belongs to Japan
    "After Japan and Australia signed their access agreement, when did it take effect?",
    "Is there a J-Alert system in Japan?",  # existential "there"
    "How long did it take Japan to build the Joint Operations Command?",  # no referent
    "What is the role of the Joint Operations Command?",  # "the role of ...": pinned down
    "Which ministers attended the 2+2 meeting in Tokyo in July 2024?",
    "How did Canberra respond to Beijing's warning?",  # the reaction names its object
    "When is the next Quad summit?",  # "next" before its noun
    "Who chairs the Quad next?",  # "next" after a noun, not "do next"
    "What happened in 2015 and later?",
    "What did Japan say in response to China's protest?",
    # what China responds to is named in an earlier clause
    "When did Japan and Australia sign the RAA, and how did China respond?",
    "Which reports mention public comments?",  # a noun, not the verb
    "Is it true that one Chinese ship stayed 80 hours near the Senkakus?",  # "that one ship"
    "What does the fact that one ship stayed 80 hours mean?",
]


def _citation(text: str, highlight: str, rank: int = 1) -> Citation:
    start = text.index(highlight)
    return Citation(
        rank=rank, score=1.0, source="a.txt", title="A brief", text=text, start=0,
        end=len(text), highlights=[Span(start=start, end=start + len(highlight))],
        chunk_id=rank, generation="g",
    )  # fmt: skip


@pytest.mark.parametrize("question", REFERS_BACK)
def test_turns_that_lean_on_the_previous_one_refer_back(question: str) -> None:
    assert refers_back(question)


@pytest.mark.parametrize("question", STANDALONE)
def test_questions_that_name_their_own_subject_stand_alone(question: str) -> None:
    assert not refers_back(question)
    assert resolve_followup(question, "What will U.S. Forces Japan become?") == question


def test_a_pronoun_follow_up_carries_the_previous_subject() -> None:
    previous = "What did Japan and the Philippines agree in Manila?"
    query = resolve_followup("when was it signed?", previous)
    # the turn first (its own question word leads), then what "it" refers to
    assert query == f"when was it signed?{SEPARATOR}{previous}"
    assert resolve_followup("and South Korea?", previous).endswith(
        "the Philippines agree in Manila?"
    )


def test_the_first_turn_and_an_empty_previous_turn_change_nothing() -> None:
    assert resolve_followup("when was it signed?", None) == "when was it signed?"
    assert resolve_followup("when was it signed?", PreviousTurn(question="  ")) == (
        "when was it signed?"
    )


def test_a_chain_of_follow_ups_keeps_its_subject_and_stays_bounded() -> None:
    first = "Who commands Japan's Joint Operations Command?"
    second = resolve_followup("when did it open?", first)
    third = resolve_followup(
        "where is it based?", PreviousTurn(question="when did it open?", query=second)
    )
    assert third == SEPARATOR.join(["where is it based?", "when did it open?", first])
    # ten more "and then?" turns: the oldest context falls off, the query stays short
    previous = PreviousTurn(question="where is it based?", query=third)
    for _ in range(10):
        query = resolve_followup("and then?", previous)
        previous = PreviousTurn(question="and then?", query=query)
    assert len(query.split(SEPARATOR)) <= 4
    # context is bounded in characters too, whatever the previous turn holds
    assert resolve_followup("and then?", "x " * 5000) == "and then?"


def test_a_previous_query_that_does_not_extend_its_question_is_not_carried() -> None:
    previous = PreviousTurn(question="Who leads it?", query="something else entirely")
    assert resolve_followup("and when?", previous) == f"and when?{SEPARATOR}Who leads it?"


def test_people_named_in_the_previous_answer_resolve_he_she_and_they() -> None:
    text = (
        "Coast Guard Spokesperson Maria Santos said the ships collided. "
        "Filipino officials protested."
    )
    previous = PreviousTurn(
        question="Who spoke for the coast guard after the collision?",
        citations=[_citation(text, text)],
    )
    assert resolve_followup("what did she call the collision?", previous).endswith(
        f"{SEPARATOR}Maria Santos"
    )
    assert resolve_followup("what did they do next?", previous).endswith(
        f"{SEPARATOR}Maria Santos, Filipino officials"
    )
    # "it" stands for a thing: the previous question is context enough
    assert "Santos" not in resolve_followup("when did it happen?", previous)


# --- on a real index ------------------------------------------------------------------


def test_what_did_they_say_exactly_finds_the_quote(brief_index: Path) -> None:
    opener = "Why is China angry about the US-Japan agreement?"
    first = ask(opener, 5, index_dir=brief_index)
    query = resolve_followup(
        "what did they say exactly?",
        PreviousTurn(question=opener, query=opener, citations=first.citations),
    )
    assert query.startswith(f"what did they say exactly?{SEPARATOR}{opener}")
    assert "Chinese officials" in query  # whom "they" stands for, from the answer
    follow = ask(query, 5, index_dir=brief_index)
    assert any("Liu Jinsong" in c.text for c in follow.citations[:3])
    assert "Liu Jinsong" in follow.text


def test_the_chat_resolves_with_the_previous_answers_citations(brief_index: Path) -> None:
    handlers = ChatHandlers(brief_index, SOURCES)
    opener = "What did the U.S. defense secretary call the change?"
    _, history, turns = handlers.respond(opener, [], 5, [])
    assert "Austin" in history[-1]["content"]
    _, history, turns = handlers.respond("what else did he say?", history, 5, turns)
    # "Austin" is only in the first answer's highlighted sentence, not in its question
    assert turns[-1]["query"] == SEPARATOR.join(["what else did he say?", opener, "Austin"])
    assert len(history) == 4
    # a standalone question is asked as typed
    standalone = "Which missiles will Japan and the U.S. co-produce?"
    _, history, turns = handlers.respond(standalone, history, 5, turns)
    assert turns[-1]["query"] == standalone


def test_the_chat_trusts_nothing_in_a_saved_turn(brief_index: Path) -> None:
    handlers = ChatHandlers(brief_index, SOURCES)
    opener = "What did the U.S. defense secretary call the change?"
    tampered = [{"question": opener, "query": 42, "answer": {"text": "<b>forged</b>"}}]
    _, _, turns = handlers.respond("what else did he say?", [], 5, tampered)
    # the unreadable answer and query are left out; the question still resolves
    assert turns[-1]["query"] == f"what else did he say?{SEPARATOR}{opener}"
    _, _, turns = handlers.respond("and why?", [], 5, [{"question": ["not", "text"]}])
    assert turns[-1]["query"] == "and why?"


# --- the dialogue evaluation resolves like the chat -----------------------------------


def test_dialogue_evaluation_passes_the_previous_citations() -> None:
    text = "Spokesperson Maria Santos described the collision as deliberate."
    opener = "Who spoke for the coast guard after the collision?"
    asked: list[str] = []

    def answerer(question: str, k: int, previous: PreviousTurn | None) -> Answer:
        question = resolve_followup(question, previous)
        asked.append(question)
        return Answer(
            question=question, text=f"{text} [1]", citations=[_citation(text, text)],
            abstained=False, relevance=0.9,
        )  # fmt: skip

    dialogue = Dialogue(
        id="d1",
        split="dev",
        turns=[
            DialogueTurn(question=opener, evidence=["Maria Santos"]),
            DialogueTurn(
                question="what did she call it?", evidence=["deliberate"], refers_back=True
            ),
            DialogueTurn(
                question="Why did Japan buy Tomahawk missiles?", evidence=["x"], refers_back=False
            ),
        ],
    )
    report = evaluate_dialogues([dialogue], answerer=answerer)
    assert asked == [
        opener,
        SEPARATOR.join(["what did she call it?", opener, "Maria Santos"]),
        "Why did Japan buy Tomahawk missiles?",
    ]
    assert [t.merged for t in report.turns] == [False, True, False]
    assert (report.follow_ups_merged, report.standalone_merged) == (1, 0)


# --- a follow-up is ranked on its own words too ---------------------------------------

FIGHTER_NOTE = Path(__file__).resolve().parent.parent / "data" / "followups"


@pytest.mark.parametrize("follow_up", ["when will it fly?", "and when is its first flight?"])
def test_a_follow_up_finds_its_own_answer_not_the_previous_one(
    follow_up: str, tmp_path: Path, embedder: Embedder
) -> None:
    """With the previous question as its only context, the follow-up's query finds
    the passage that answered that question again; its own ranking added, the
    passage about the first flight comes first (`follow_up_turn_weight`)."""
    settings = Settings(sources_dir=FIGHTER_NOTE, index_dir=tmp_path / "index")
    build_index(settings=settings, embedder=embedder)
    opener = "Where will the agency created by the December treaty have its headquarters?"
    first = ask(opener, 3, settings=settings)
    assert "headquarters in the United Kingdom" in first.citations[0].text
    previous = PreviousTurn(question=opener, query=first.question, citations=first.citations)
    context_only = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={"follow_up_turn_weight": 0})}
    )
    before = ask(follow_up, 3, settings=context_only, previous=previous)
    after = ask(follow_up, 3, settings=settings, previous=previous)
    assert before.question == after.question == SEPARATOR.join([follow_up, opener])
    assert "headquarters in the United Kingdom" in before.citations[0].text
    assert "maiden flight in 2027" in after.citations[0].text
