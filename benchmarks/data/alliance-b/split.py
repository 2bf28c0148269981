#!/usr/bin/env python3
"""Draw the dev/heldout split of alliance-b ONCE, deterministically.

Questions are stratified by kind (kind names in sorted order). Within each kind the ids are
shuffled with random.Random(2027) and the first ceil(0.45 * n) become `heldout`, the rest `dev`.
The dialogue ids are then shuffled with the same generator and ceil(0.45 * n) become `heldout`.
The `split` fields of questions.jsonl and dialogues.jsonl are rewritten in place.
"""

import json
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2027
FRACTION = 0.45


def load(path):
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def save(path, items):
    path.write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items), encoding="utf-8"
    )


def main():
    rng = random.Random(SEED)
    qpath, dpath = HERE / "questions.jsonl", HERE / "dialogues.jsonl"
    questions, dialogues = load(qpath), load(dpath)

    heldout = set()
    for kind in sorted({q["kind"] for q in questions}):
        ids = sorted(q["id"] for q in questions if q["kind"] == kind)
        rng.shuffle(ids)
        heldout.update(ids[: math.ceil(FRACTION * len(ids))])
    for q in questions:
        q["split"] = "heldout" if q["id"] in heldout else "dev"

    dids = sorted(d["id"] for d in dialogues)
    rng.shuffle(dids)
    dheld = set(dids[: math.ceil(FRACTION * len(dids))])
    for d in dialogues:
        d["split"] = "heldout" if d["id"] in dheld else "dev"

    save(qpath, questions)
    save(dpath, dialogues)
    print(
        f"questions: {len(heldout)} heldout / {len(questions)}; "
        f"dialogues: {len(dheld)} heldout / {len(dialogues)}"
    )


if __name__ == "__main__":
    main()
