"""The command line, run as a user would: a subprocess per command."""

import json
import os
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from .conftest import BRIEF, BRIEF_QUESTIONS, DATA
from .ui.test_app import _free_port

pytestmark = pytest.mark.slow


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def test_build_ask_json_and_eval(sources_copy: Path, tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    built = run("build", "--sources", str(sources_copy), "--index", index, "--quiet")
    assert built.returncode == 0, built.stderr
    assert "documents: 3 added, 0 changed, 0 removed, 0 unchanged, 0 skipped" in built.stdout
    assert "off-domain probe" not in built.stderr  # every probe question is refused

    again = run("build", "--sources", str(sources_copy), "--index", index)
    assert again.stdout.splitlines()[:2] == [
        f"index {index}: up to date",
        "documents: 0 added, 0 changed, 0 removed, 3 unchanged, 0 skipped",
    ]
    assert again.stdout.splitlines()[2].startswith("chunks: 27 in index, 0 embedded in ")

    asked = run("ask", "Who is Japan's defense minister?", "-k", "2", "--index", index)
    assert asked.returncode == 0, asked.stderr
    answer, first = asked.stdout.split("\n\n")[:2]
    assert "Defense Minister Kihara Minoru" in answer
    assert answer.rstrip().endswith(("[1]", "[2]"))
    assert first.startswith(
        "[1] U.S. and Japan Announce Plans to Accelerate Alliance Modernization (2024-08-16)"
    )
    assert f"    {BRIEF} [" in first
    assert "Kihara Minoru" in first

    as_json = run(
        "ask", "Which missiles will be co-produced?", "--json", env={"ASSISTANT_INDEX": index}
    )
    answer_json = json.loads(as_json.stdout)
    assert answer_json["abstained"] is False
    citations = answer_json["citations"]
    assert len(citations) == 5
    top = citations[0]
    text = (sources_copy / top["source"]).read_text(encoding="utf-8")
    assert text[top["start"] : top["end"]] == top["text"]
    assert set(top) >= {"source", "title", "date", "text", "start", "end", "score", "rank"}

    off_topic = run("ask", "Who wrote Hamlet?", "--index", index)
    assert off_topic.stdout.startswith("The sources do not cover this question.")
    assert "Related, but not an answer:" in off_topic.stdout

    evaluated = run("eval", str(BRIEF_QUESTIONS), "--index", index)
    assert evaluated.returncode == 0, evaluated.stderr
    lines = evaluated.stdout.splitlines()
    assert lines[0] == "questions: 20 (16 answerable, 4 off-topic, 0 near-topic), k=5"
    figures = dict(line.split(": ", 1) for line in lines[1:11])
    assert figures["hit@1"] == "0.875"  # 14 of 16 (b03 and b04 come second)
    assert figures["hit@3"] == figures["hit@5"] == "1.000"
    assert figures["MRR"] == "0.938"
    assert figures["right document first"] == "1.000"
    assert figures["off-topic abstained"] == "4/4"
    assert figures["false abstentions"] == "0/16"

    # General material makes general questions answerable: the build says so.
    (sources_copy / "kitchen-notes.txt").write_text(
        "Kitchen Notes\n\nBread dough should be kneaded for about ten minutes by hand, "
        "until it is smooth and springs back when pressed.\n",
        encoding="utf-8",
    )
    general = run("build", "--sources", str(sources_copy), "--index", index, "--quiet")
    assert general.returncode == 0, general.stderr
    assert "off-domain probe questions (e.g. 'How long should bread dough be kneaded?'" in (
        general.stderr
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "   "], "error: the question is empty: type a question about the sources\n"),
        (
            ["build", "--sources", "/nonexistent/src"],
            "error: sources folder /nonexistent/src does not exist",
        ),
        (
            ["ask", "Who?", "--index", "/nonexistent/idx"],
            "error: no index in /nonexistent/idx: run `assistant build` first\n",
        ),
        (
            ["ask", "Who?", "-k", "0", "--index", "/nonexistent/idx"],
            "error: k must be at least 1, got 0\n",
        ),
        (
            ["eval", "/nonexistent/qa.jsonl"],
            "error: cannot read evaluation file /nonexistent/qa.jsonl",
        ),
    ],
)
def test_user_errors_print_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_serve_watch_picks_up_a_new_document(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "typhoon-relief.txt").write_text(
        (DATA / "typhoon-relief.txt").read_text(encoding="utf-8"), encoding="utf-8"
    )
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "assistant", "serve", "--watch", "--port", str(port),
         "--sources", str(sources), "--index", str(tmp_path / "index")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "serving the chat UI" in line:
                break
        assert any("[startup]" in line for line in lines), lines
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        client = Client(url, verbose=False)
        (sources / "port-call.txt").write_text(
            "Port Call\n\nThe destroyer Kongo made a port call in Sasebo on 2 June.\n",
            encoding="utf-8",
        )
        deadline = time.monotonic() + 120
        reply = ""
        while time.monotonic() < deadline and "Sasebo" not in reply:
            time.sleep(1)
            _, history, _ = client.predict(
                "Where did the destroyer Kongo make a port call?", [], 3, [], api_name="/ask"
            )
            reply = unescape(history[-1]["content"][0]["text"])
        assert "made a port call in Sasebo" in reply
    finally:
        server.terminate()
        server.wait(timeout=30)
