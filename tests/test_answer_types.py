import pytest

from assistant._answer_types import AnswerType, Expectation, expected_answer, holds_answer
from assistant._lexical import word_pairs


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("When did the summit take place?", Expectation(AnswerType.DATE)),
        ("In what year did tensions begin?", Expectation(AnswerType.DATE)),
        ("How many troops are based there?", Expectation(AnswerType.NUMBER)),
        ("how much did it cost", Expectation(AnswerType.NUMBER)),
        ("Who leads the ministry?", Expectation(AnswerType.PERSON)),
        ("Why did talks stall?", Expectation(AnswerType.CAUSE)),
        ("Where was the summit held?", Expectation(AnswerType.PLACE)),
        ("Which missiles will they build?", Expectation(AnswerType.NAMED, "missil")),
        ("What kind of ships were sent?", Expectation(AnswerType.NAMED, "ship")),
        ("What did the minister say?", None),
        ("What is the opposition about?", None),
        ("Is Kishida running again?", None),
    ],
)
def test_expected_answer(question: str, expected: Expectation | None) -> None:
    assert expected_answer(question) == expected


def test_holds_answer_per_type() -> None:
    date = Expectation(AnswerType.DATE)
    assert holds_answer(date, "following a 28 July meeting between ministers")
    assert holds_answer(date, "It began in 2010, when a vessel collided.")
    # a relative time is not a date: it would match passages on anything
    assert not holds_answer(date, "with U.S. officials in Tokyo last month")
    assert holds_answer(Expectation(AnswerType.NUMBER), "almost 60,000 servicemembers")
    assert holds_answer(Expectation(AnswerType.NUMBER), "five ballistic missiles")
    assert not holds_answer(Expectation(AnswerType.NUMBER), "several missiles")
    assert holds_answer(Expectation(AnswerType.PERSON), "Defense Minister Kihara Minoru")
    assert not holds_answer(Expectation(AnswerType.PERSON), "the minister spoke")
    assert holds_answer(Expectation(AnswerType.CAUSE), "largely in response to concerns")
    assert holds_answer(Expectation(AnswerType.PLACE), "held at Camp David")


def test_named_answer_needs_the_focus_inside_a_proper_name() -> None:
    which = Expectation(AnswerType.NAMED, "missil")
    assert holds_answer(which, "Advanced Medium-Range Air-to-Air Missiles (AMRAAM) were named")
    assert not holds_answer(which, "backlogs in orders for Patriot missile components")
    # a capital at the start of a sentence is not a name
    assert not holds_answer(which, "Missiles were fired. More missiles followed.")


def test_word_pairs_keep_phrasing() -> None:
    question = word_pairs("Why are meetings between U.S. and Japanese officials increasing?")
    ours = word_pairs("meetings between U.S. and Japanese officials have surged")
    theirs = word_pairs("the number of meetings between Japanese and Korean diplomats")
    assert len(question & ours) > len(question & theirs)
    assert ("2+2", "dialogu") in word_pairs("the so-called 2+2 dialogue")
