"""Follow-up questions resolved against the previous turn of a chat."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from .._types import Citation
from .._words import phrase_tokens

__all__ = ["FollowUp", "PreviousTurn", "follow_up", "refers_back", "resolve_followup"]


class PreviousTurn(BaseModel):
    """What a follow-up is resolved against: the previous turn's question, the
    query it was retrieved with, and the excerpts its answer cited."""

    model_config = ConfigDict(extra="forbid")

    question: str
    query: str | None = Field(
        default=None, description="What the turn was retrieved with; None: its question."
    )
    citations: list[Citation] = Field(
        default_factory=list, description="The excerpts its answer cited, best first."
    )


_POSSESSIVE = re.compile(r"['’]s?$")


_DETERMINERS = frozenset([
    "the", "a", "an", "this", "that", "these", "those", "some", "any", "each", "every",
    "no", "all", "both",
])  # fmt: skip


_PRONOUNS = frozenset([
    "i", "you", "we", "he", "she", "it", "they", "me", "us", "him", "her", "them", "my",
    "our", "your", "his", "its", "their", "one",
])  # fmt: skip


_AUXILIARIES = frozenset([
    "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "done",
    "has", "have", "had", "having", "will", "would", "shall", "should", "can", "could",
    "may", "might", "must",
])  # fmt: skip


_PREPOSITIONS = frozenset([
    "of", "in", "on", "for", "from", "at", "with", "between", "over", "against", "under",
    "by", "about", "during", "near", "across", "around", "after", "before", "since", "into",
    "onto", "toward", "towards", "through", "among", "within", "without", "until", "till",
    "to", "than", "as", "like", "via", "per", "upon",
])  # fmt: skip


_CONJUNCTIONS = frozenset([
    "and", "but", "or", "nor", "so", "yet", "also", "then", "plus", "because", "if", "while",
])  # fmt: skip


_WH_WORDS = frozenset(["what", "which", "who", "whom", "whose", "when", "where", "why", "how"])


_FUNCTION_WORDS = (
    _DETERMINERS | _PRONOUNS | _AUXILIARIES | _PREPOSITIONS | _CONJUNCTIONS | _WH_WORDS
    | frozenset([
        "not", "there", "here", "now", "just", "only", "still", "ever", "really",
        "actually", "exactly", "else",
    ])
)  # fmt: skip


# A turn that opens like this continues the previous one.
_OPENERS = frozenset(["and", "but", "also", "so", "then", "plus", "or"])


_OPENING_PHRASES = (("what", "about"), ("how", "about"), ("what", "else"))


# A turn that ends like this asks what followed something it does not name ("what
# did China do in response?"); "in response to the drills" names it.
_CLOSING_PHRASES = (
    ("afterwards",), ("afterward",), ("in", "response"), ("in", "return"), ("in", "reply"),
    ("as", "a", "result"),
)  # fmt: skip


# "next" and "later" at the end point back only after one of these ("what did
# Japan do next?"), not after a noun ("who chairs the Quad next?").
_FOLLOWING_VERBS = frozenset([
    "do", "does", "did", "done", "happen", "happens", "happened", "come", "comes", "came",
    "follow", "follows", "followed",
])  # fmt: skip


# Subject and object pronouns: in a one-clause question they cannot mean its own
# subject ("when did the Senate approve it?"), so they point back.
_PERSONAL = frozenset(["it", "they", "them", "he", "him", "she"])


# Possessives point back unless a name before them in the turn can own them.
_POSSESSIVES = frozenset(["its", "their", "theirs", "his", "her", "hers"])


# Pronouns that stand for people: their referent is often whom the previous answer
# named ("Who is the spokesperson?" ... "what did he call it?"), one person or a group.
_ONE_PERSON = frozenset(["he", "him", "his", "she", "her", "hers"])


_GROUP = frozenset(["they", "them", "their", "theirs"])


# After these words "that" opens a clause ("said that ...") rather than pointing.
_CLAUSE_VERBS = frozenset([
    "say", "says", "said", "claim", "claims", "claimed", "argue", "argues", "argued",
    "believe", "believes", "believed", "think", "thinks", "thought", "warn", "warns",
    "warned", "note", "notes", "noted", "announce", "announces", "announced", "report",
    "reports", "reported", "insist", "insists", "insisted", "state", "states", "stated",
    "agree", "agrees", "agreed", "confirm", "confirms", "confirmed", "deny", "denies",
    "denied", "suggest", "suggests", "suggested", "show", "shows", "showed", "mean",
    "means", "meant", "fear", "fears", "feared", "hope", "hopes", "hoped", "expect",
    "expects", "expected", "know", "knows", "knew", "so", "such", "now", "given",
])  # fmt: skip


# "this year" is the present and "those who" a class: neither points back.
_NOT_DEICTIC_AFTER = frozenset(
    ["year", "month", "week", "morning", "afternoon", "evening", "days", "who", "which"]
)


# "it" with no referent: "how long did it take", "is it true that".
_EXPLETIVE_AFTER = frozenset(["take", "takes", "took"])


_EXPLETIVE_PREDICATES = frozenset(["true", "possible", "likely", "necessary"])


# A reaction verb with nothing after it ("how did Tokyo respond?") reacts to what
# the previous turn was about. Only forms that cannot be nouns ("public comments",
# "a reply").
_REACTION_VERBS = frozenset([
    "respond", "responded", "react", "reacted", "retaliate", "retaliated", "replied",
    "answered", "commented",
])  # fmt: skip


# Words that ask for more of what was just said, when the turn names nothing itself.
_MORE_OF = frozenset([
    "exactly", "else", "more", "further", "instead", "too", "again", "specifically",
    "precisely", "detail", "details", "compare", "compared", "comparison",
])  # fmt: skip


# A definite noun phrase followed by one of these is pinned down by its modifier
# ("the alert in November", "the law that ...").
_RESTRICTORS = (_PREPOSITIONS - {"to", "than", "as", "like"}) | frozenset(
    ["that", "which", "who", "whose", "where", "when"]
)


# An elliptical turn is at most this many words ("when?", "and South Korea?").
_ELLIPTICAL_WORDS = 4


def _is_word(token: str) -> bool:
    return token[0].isalnum()


def _bare(token: str) -> str:
    """Lower-cased, without a possessive ending ("China's" -> "china")."""
    return _POSSESSIVE.sub("", token.lower().rstrip("."))


def _is_name(tokens: Sequence[str], i: int) -> bool:
    """Whether `tokens[i]` names something itself: a capitalized word (the first
    word of the turn only when it is not a function word) or a number."""
    token = tokens[i]
    if any(c.isdigit() for c in token):
        return True
    if not token[0].isupper() or token == "I":
        return False
    return i > 0 or _bare(token) not in _FUNCTION_WORDS


def _points_back(tokens: Sequence[str], i: int) -> bool:
    """Whether the word at `i` refers to something outside the turn."""
    word = _bare(tokens[i])
    before = _bare(tokens[i - 1]) if i > 0 else ""
    after = _bare(tokens[i + 1]) if i + 1 < len(tokens) and _is_word(tokens[i + 1]) else ""
    if word in _PERSONAL:
        if word == "it" and (
            after in _EXPLETIVE_AFTER or (before in _AUXILIARIES and after in _EXPLETIVE_PREDICATES)
        ):
            return False
        # Only a name in an earlier clause of the turn can be its antecedent
        # ("After Japan signed the pact, when did it ...").
        return not _named_in_earlier_clause(tokens, i)
    if word in _POSSESSIVES:
        return not any(_is_name(tokens, j) for j in range(i))
    if word == "that":
        if before in _CLAUSE_VERBS or (i + 1 < len(tokens) and _is_name(tokens, i + 1)):
            return False
        if after in ("one", "ones") and (i + 2 >= len(tokens) or not _is_word(tokens[i + 2])):
            return True  # "the record before that one?", not "that one ship stayed"
        return after not in _DETERMINERS | _PRONOUNS | _AUXILIARIES
    if word in ("this", "these", "those"):
        return after not in _NOT_DEICTIC_AFTER
    if word == "there":  # not "is there", "there were"
        return before not in _AUXILIARIES and after not in _AUXILIARIES
    if word == "then":  # "back then", "by then"
        return True
    if word == "the":
        return _bare_definite(tokens, i)
    return False


def _named_in_earlier_clause(tokens: Sequence[str], i: int) -> bool:
    """Whether a clause before the one holding `tokens[i]` names something."""
    clause = max((j for j in range(i) if tokens[j] in (",", ";", ":")), default=-1)
    return any(_is_name(tokens, j) for j in range(clause))


def _bare_definite(tokens: Sequence[str], i: int) -> bool:
    """Whether "the" at `i` opens a noun phrase with nothing of its own to pick
    out its referent ("approve the pact?", "why was the date significant?"), as
    opposed to "the Fukushima release" or "the alert in November 2022"."""
    j = i + 1
    while (
        j < len(tokens)
        and _is_word(tokens[j])
        and tokens[j][0].islower()
        and not any(c.isdigit() for c in tokens[j])
        and _bare(tokens[j]) not in _FUNCTION_WORDS
    ):
        j += 1
    if j == i + 1:
        return False  # "the U.S.", "the 2+2": a name
    if j == len(tokens) or not _is_word(tokens[j]):
        return True
    return not (_is_name(tokens, j) or _bare(tokens[j]) in _RESTRICTORS)


def _ends_on_what_came_before(tokens: Sequence[str], words: Sequence[str]) -> bool:
    """Whether the turn ends asking what followed something it does not name: a
    reaction verb ("how did Tokyo respond?"), "do next", "in response" ... A name in
    an earlier clause of the turn is what it follows ("..., and how did China
    respond?")."""
    if _named_in_earlier_clause(tokens, len(tokens)):
        return False
    last, before = words[-1], words[-2] if len(words) > 1 else ""
    if last in _REACTION_VERBS:
        return bool(before) and before not in _DETERMINERS | _POSSESSIVES | _PREPOSITIONS
    if last in ("next", "later"):
        return before in _FOLLOWING_VERBS
    return any(tuple(words[-len(phrase) :]) == phrase for phrase in _CLOSING_PHRASES)


def refers_back(question: str) -> bool:
    """Whether `question` leans on an earlier turn.

    It does when it opens with a conjunction ("and when ...?", "what about ...?");
    when a pronoun, demonstrative or definite description has nothing in the turn
    to resolve it ("when did the Senate approve it?", "that report", "back then",
    "approve the pact?"); when a reaction verb or "next", "in response" ... ends
    it with nothing to follow from ("how did Tokyo respond?", "what did China do
    in response?"); or when it names nothing itself and is elliptical
    ("when?", "what else?"). A question that names its own subject and holds no
    such word stands alone, whatever its first word ("Why did China ban ...?").
    """
    tokens = phrase_tokens(question)
    words = [_bare(t) for t in tokens if _is_word(t)]
    if not words:
        return False
    if words[0] in _OPENERS or tuple(words[:2]) in _OPENING_PHRASES:
        return True
    if _ends_on_what_came_before(tokens, words):
        return True
    if any(_is_word(t) and _points_back(tokens, i) for i, t in enumerate(tokens)):
        return True
    if any(_is_word(t) and _is_name(tokens, i) for i, t in enumerate(tokens)):
        return False
    return len(words) <= _ELLIPTICAL_WORDS or any(w in _MORE_OF for w in words)


_NAME = r"(?:[A-Z][\w'’.+-]*|\d[\w'’.,:+-]*)"


_NAME_RUN = re.compile(rf"{_NAME}(?:\s+(?:(?:of|the|for)\s+)?{_NAME})*")


# A person's name as a briefing writes it: "Jay Tarriela", "Matsuno Hirokazu", or
# whatever follows a title ("Defense Secretary Austin").
_PERSON = re.compile(r"[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+")


# A group of people as a briefing names it: "Chinese officials", "U.S. and Japanese
# diplomats" (who a "they" stands for).
_PEOPLE_GROUP = re.compile(
    r"\b(?:[A-Z][\w.'’-]*\s+(?:and\s+)?)+(?:officials|leaders|ministers|diplomats|lawmakers"
    r"|legislators|analysts|critics|officers|authorities|spokespeople|spokespersons"
    r"|representatives|negotiators|envoys|delegates|commanders|troops|residents|experts)\b"
)


_TITLE = re.compile(
    r"\b(?:Minister|Secretary|President|Admiral|General|Director|Ambassador|Chairman"
    r"|Senator|Commander|Governor|Chancellor|Premier|Spokesperson|Speaker|Mayor)\s+"
)


# Separates the turn and the pieces of context in a resolved query.
_SEPARATOR = " — "


# Context segments carried from earlier turns (the previous question first), and
# a bound on their length: the query must stay a question, not a transcript.
_MAX_SEGMENTS = 3


_MAX_CONTEXT_CHARS = 600


def _names(text: str) -> list[str]:
    """Capitalized runs and numbers in `text` ("Liu Jinsong", "Joint Sword-2024B",
    "July 8"), possessive endings dropped; a single word that opens a sentence is
    left out, being capitalized for that alone ("Officials said ...")."""
    found: list[str] = []
    for match in _NAME_RUN.finditer(text):
        name = _POSSESSIVE.sub("", match.group().rstrip(",:"))
        if "." not in name[:-1]:
            name = name.rstrip(".")
        preceding = text[: match.start()].rstrip(' "“‘(')
        opens_sentence = not preceding or preceding[-1] in ".!?\n"
        if " " not in name and (opens_sentence or _bare(name) in _FUNCTION_WORDS):
            continue
        if name and name not in found:
            found.append(name)
    return found


def _person(name: str) -> str | None:
    """The person `name` names, if it looks like one: the words after its last
    title, else the whole name when it is two or more plain capitalized words."""
    titled = _TITLE.split(name)
    if len(titled) > 1 and re.fullmatch(r"[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*", titled[-1]):
        return titled[-1]
    return name if _PERSON.fullmatch(name) else None


def _carried(previous: PreviousTurn) -> list[str]:
    """The context segments the previous turn was itself resolved with, if any."""
    # Whitespace-insensitive: `ask` reports the query it searched, whitespace collapsed.
    question, query = " ".join(previous.question.split()), " ".join((previous.query or "").split())
    if query == question or not query.startswith(question + _SEPARATOR.rstrip()):
        return []
    rest = query[len(question) :].strip().removeprefix(_SEPARATOR.strip())
    return [segment.strip() for segment in rest.split(_SEPARATOR) if segment.strip()]


def _context(question: str, previous: PreviousTurn) -> list[str]:
    """What `question` most likely refers to: the previous question, what that was
    itself resolved with, and, for a pronoun standing for people, the people (or,
    for "they", also the groups of people) the previous answer's highlighted
    sentence names."""
    segments = [previous.question.strip(), *_carried(previous)][:_MAX_SEGMENTS]
    words = {_bare(t) for t in phrase_tokens(question)}
    if previous.citations and words & (_ONE_PERSON | _GROUP):
        answer = " ".join(previous.citations[0].highlight_texts())
        people = [p for p in map(_person, _names(answer)) if p]
        if words & _GROUP:
            people += [m.group() for m in _PEOPLE_GROUP.finditer(answer)]
        known = " ".join([question, *segments])
        people = list(dict.fromkeys(p for p in people if p not in known))
        if people:
            segments.append(", ".join(people))
    kept: list[str] = []
    for segment in segments:
        if sum(len(s) for s in kept) + len(segment) > _MAX_CONTEXT_CHARS:
            break
        kept.append(segment)
    return kept


class FollowUp(BaseModel):
    """One chat turn as it is searched."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(description="The turn, followed by its context when it refers back.")
    turn: str | None = Field(
        default=None,
        description="When the turn refers back: the turn alone, whose own ranking is added "
        "to the query's (`retrieval.follow_up_turn_weight`).",
    )


def follow_up(question: str, previous: PreviousTurn | str | None) -> FollowUp:
    """The turn `question` as it is searched after `previous` (see `resolve_followup`).

    Args:
        question: The turn as typed.
        previous: The previous turn, or just its question or query as text, or None.

    Returns:
        The query, and the turn alone when the query adds context to it.
    """
    query = resolve_followup(question, previous)
    return FollowUp(query=query, turn=question if query != question else None)


def resolve_followup(question: str, previous: PreviousTurn | str | None) -> str:
    """The text to retrieve with for one chat turn.

    A turn that refers back (see `refers_back`) is followed by its context: the
    previous question, the context that question was itself resolved with, and
    the people its answer named when the turn says "he", "they" ...; the turn
    comes first, so it keeps its own question word and survives truncation:
    "what did he call it? — Who is the coast guard spokesperson? — Jay Tarriela".
    Any other turn, a question that names its own subject, is returned unchanged.

    Args:
        question: The turn as typed.
        previous: The previous turn (`PreviousTurn`), or just its question or
            query as text, or None for the first turn.
    """
    if previous is None:
        return question
    if isinstance(previous, str):
        previous = PreviousTurn(question=previous)
    if not previous.question.strip() or not refers_back(question):
        return question
    context = _context(question, previous)
    if not context:
        return question
    return _SEPARATOR.join([question.strip(), *context])
