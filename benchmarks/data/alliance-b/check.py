#!/usr/bin/env python3
"""Validate the alliance-b evaluation set (sources, questions, dialogues).

Run from anywhere:  python benchmarks/data/alliance-b/check.py
Exits with status 1 and lists the problems if any check fails.
"""

import collections
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources"

EXPECTED_KINDS = {
    "factoid": 26,
    "why_how": 18,
    "paraphrase": 18,
    "which_report": 14,
    "off_topic": 10,
    "near_topic": 10,
}
N_DOCS = 18
N_DIALOGUES = 20
MIN_FOLLOWUPS = 30

STOP = set(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "don't",
        "down",
        "during",
        "each",
        "either",
        "else",
        "ever",
        "every",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "however",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "me",
        "more",
        "most",
        "much",
        "must",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "per",
        "same",
        "shall",
        "she",
        "should",
        "so",
        "some",
        "still",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "upon",
        "us",
        "very",
        "via",
        "was",
        "we",
        "were",
        "what",
        "whatever",
        "when",
        "where",
        "whether",
        "which",
        "while",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "within",
        "would",
        "yet",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "one",
        "ones",
        "get",
        "got",
        "make",
        "made",
        "many",
        "may",
        "might",
        "another",
        "exactly",
        "really",
        "actually",
    ]
)


def norm(text):
    return " ".join(text.split())


def stem(word):
    for suf in ("ing", "ion", "ed", "es", "ly", "s"):
        if word.endswith(suf) and len(word) - len(suf) >= 3:
            word = word[: -len(suf)]
            break
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    return word


def content_words(text):
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"'s\b", "", text)
    toks = re.findall(r"[a-z0-9]+", text)
    return {stem(t) for t in toks if t not in STOP and len(t) >= 2}


_BOUNDARY = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"\u201d]))\s+(?=[A-Z0-9\"\u201c])")


def sentences_of_line(line):
    parts, start = [], 0
    for m in _BOUNDARY.finditer(line):
        chunk = line[start : m.start()]
        # do not split after abbreviations such as "U.S." or single initials
        if re.search(r"(\b[A-Z]\.){1,3}$", chunk):
            continue
        parts.append((start, m.start()))
        start = m.end()
    parts.append((start, len(line)))
    return parts


def evidence_sentence(doc_raw, ev):
    """Return the text of the sentence(s) of doc_raw that contain evidence ev."""
    ev = norm(ev)
    for line in doc_raw.splitlines():
        line = norm(line)
        pos = line.find(ev)
        if pos < 0:
            continue
        end = pos + len(ev)
        spans = [s for s in sentences_of_line(line) if s[0] < end and s[1] > pos]
        return line[spans[0][0] : spans[-1][1]]
    return None


def load_docs():
    docs = {}
    for p in sorted(SOURCES.iterdir()):
        if p.suffix in (".txt", ".md"):
            docs[p.name] = p.read_text(encoding="utf-8")
    return docs


def check_doc_format(name, raw, errors):
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}-[a-z0-9-]+\.(txt|md)", name):
        errors.append(f"{name}: bad file name")
    lines = raw.split("\n")
    title, date = lines[0], lines[1] if len(lines) > 1 else ""
    if name.endswith(".md") and not title.startswith("# "):
        errors.append(f"{name}: markdown title must start with '# '")
    if name.endswith(".txt") and (title.startswith("#") or title.endswith(".")):
        errors.append(f"{name}: bad txt title line")
    if not re.fullmatch(
        r"(January|February|March|April|May|June|July|August|September|October|November"
        r"|December) \d{1,2}, 20\d\d",
        date,
    ):
        errors.append(f"{name}: bad date line {date!r}")
    if len(lines) < 3 or lines[2].strip():
        errors.append(f"{name}: line 3 must be blank")
    n = len(raw.split())
    if not 350 <= n <= 650:
        errors.append(f"{name}: {n} words (want 350-650)")


def check_item(tag, item, docs, ndocs, errors, kind=None):
    src, evs = item.get("source"), item.get("evidence")
    if kind in ("off_topic", "near_topic"):
        if src is not None or evs:
            errors.append(f"{tag}: {kind} must have source null and no evidence")
        return
    if src not in docs:
        errors.append(f"{tag}: unknown source {src!r}")
        return
    if not isinstance(evs, list) or not 1 <= len(evs) <= 2:
        errors.append(f"{tag}: needs 1-2 evidence strings")
        return
    for ev in evs:
        e = norm(ev)
        n = len(e.split())
        if not 3 <= n <= 20:
            errors.append(f"{tag}: evidence has {n} words: {ev!r}")
        if e not in ndocs[src]:
            errors.append(f"{tag}: evidence not in source: {ev!r}")
        others = [d for d in ndocs if d != src and e in ndocs[d]]
        if others:
            errors.append(f"{tag}: evidence also in {others}: {ev!r}")
    if kind == "paraphrase":
        qw = content_words(item["question"])
        for ev in evs:
            sent = evidence_sentence(docs[src], ev)
            if sent is None:
                continue
            shared = qw & content_words(sent)
            if shared:
                errors.append(f"{tag}: paraphrase shares {sorted(shared)} with: {sent!r}")


def main():
    errors = []
    docs = load_docs()
    ndocs = {k: norm(v) for k, v in docs.items()}
    if len(docs) != N_DOCS:
        errors.append(f"expected {N_DOCS} documents, found {len(docs)}")
    for name, raw in docs.items():
        check_doc_format(name, raw, errors)

    questions = [
        json.loads(line)
        for line in (HERE / "questions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    ids = [q["id"] for q in questions]
    if len(ids) != len(set(ids)):
        errors.append("duplicate question ids")
    table = collections.defaultdict(collections.Counter)
    for q in questions:
        if set(q) != {"id", "question", "source", "evidence", "kind", "split"}:
            errors.append(f"{q['id']}: unexpected fields {sorted(q)}")
        if q["kind"] not in EXPECTED_KINDS:
            errors.append(f"{q['id']}: unknown kind {q['kind']}")
        if q["split"] not in ("dev", "heldout"):
            errors.append(f"{q['id']}: bad split {q['split']}")
        table[q["kind"]][q["split"]] += 1
        check_item(q["id"], q, docs, ndocs, errors, kind=q["kind"])
    for kind, n in EXPECTED_KINDS.items():
        got = sum(table[kind].values())
        if got != n:
            errors.append(f"kind {kind}: {got} questions, expected {n}")

    dialogues = [
        json.loads(line)
        for line in (HERE / "dialogues.jsonl").read_text().splitlines()
        if line.strip()
    ]
    if len(dialogues) != N_DIALOGUES:
        errors.append(f"expected {N_DIALOGUES} dialogues, found {len(dialogues)}")
    if len({d["id"] for d in dialogues}) != len(dialogues):
        errors.append("duplicate dialogue ids")
    dsplit = collections.Counter()
    rb = collections.Counter()
    cross = 0
    for d in dialogues:
        dsplit[d["split"]] += 1
        if d["split"] not in ("dev", "heldout"):
            errors.append(f"{d['id']}: bad split")
        turns = d["turns"]
        if not 2 <= len(turns) <= 3:
            errors.append(f"{d['id']}: {len(turns)} turns")
        for i, t in enumerate(turns):
            tag = f"{d['id']}.{i + 1}"
            check_item(tag, t, docs, ndocs, errors)
            if i == 0:
                if "refers_back" in t:
                    errors.append(f"{tag}: first turn must not have refers_back")
            else:
                if not isinstance(t.get("refers_back"), bool):
                    errors.append(f"{tag}: refers_back must be true/false")
                rb[t.get("refers_back")] += 1
                if t["source"] != turns[i - 1]["source"]:
                    cross += 1
    followups = rb[True] + rb[False]
    if followups < MIN_FOLLOWUPS:
        errors.append(f"only {followups} follow-up turns")

    print(f"{'kind':<14}{'dev':>5}{'heldout':>9}{'total':>7}")
    for kind in sorted(EXPECTED_KINDS):
        c = table[kind]
        print(f"{kind:<14}{c['dev']:>5}{c['heldout']:>9}{sum(c.values()):>7}")
    tot = collections.Counter()
    for c in table.values():
        tot.update(c)
    print(f"{'questions':<14}{tot['dev']:>5}{tot['heldout']:>9}{sum(tot.values()):>7}")
    print(f"{'dialogues':<14}{dsplit['dev']:>5}{dsplit['heldout']:>9}{len(dialogues):>7}")
    print(
        f"documents: {len(docs)}; follow-up turns: {followups} "
        f"(refers_back true {rb[True]}, false {rb[False]}; answered in another document: {cross})"
    )

    if errors:
        print(f"\nFAILED: {len(errors)} problem(s)")
        for e in errors:
            print(" -", e)
        sys.exit(1)
    print("\nOK: all checks passed")


if __name__ == "__main__":
    main()
