"""The chat app for real: handlers on a real index, a live server on loopback,
16 concurrent clients, and headless Chromium driving the page."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client

from assistant import AssistantError, build_index
from ui.app import ChatHandlers, check_exposure, serve

from ..conftest import BRIEF, ROOT, brief_sources

ARTIFACTS = ROOT / "test-artifacts"
HOSTILE = (
    "Hostile Markup Test\n"
    "This note on Okinawa basing quotes raw markup: <script>window.__xss = 1</script> then "
    '<img src=x onerror="window.__xss = 2"> then <style>body { display: none }</style> '
    "which must all stay text.\n"
)
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, embedder) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ui")
    sources = brief_sources(root)
    (sources / "hostile-markup.txt").write_text(HOSTILE, encoding="utf-8")
    build_index(sources, root / "index", embedder=embedder)
    return sources, root / "index"


@pytest.fixture(scope="module")
def server(folders: tuple[Path, Path]) -> Iterator[str]:
    sources, index = folders
    app, url = serve(index, sources, port=_free_port(), block=False)
    yield url
    app.close()


def test_handlers_answer_and_resolve_a_followup(folders: tuple[Path, Path]) -> None:
    sources, index = folders
    handlers = ChatHandlers(index, sources)
    _, history, turns = handlers.respond("What will U.S. Forces Japan become?", [], 5, [])
    assert "Joint Force Headquarters" in history[-1]["content"]
    _, history, turns = handlers.respond("and what did China say about it?", history, 5, turns)
    assert (
        turns[-1]["query"]
        == "and what did China say about it? — What will U.S. Forces Japan become?"
    )
    assert "direct condemnation by Chinese officials" in history[-1]["content"]
    assert len(history) == 4
    # the stored turns rebuild the same conversation after a refresh
    assert handlers.restore(turns) == history


def test_empty_input_gets_a_friendly_message(folders: tuple[Path, Path]) -> None:
    handlers = ChatHandlers(folders[1], folders[0])
    _, history, turns = handlers.respond("   ", [], 5, [])
    assert "Please type a question about the sources" in history[-1]["content"]
    assert turns == []


def test_off_topic_reply_says_so(folders: tuple[Path, Path]) -> None:
    handlers = ChatHandlers(folders[1], folders[0])
    _, history, _ = handlers.respond("Who wrote Hamlet?", [], 5, [])
    assert "The sources do not cover this question" in history[-1]["content"]


def test_missing_index_is_a_chat_message(tmp_path: Path) -> None:
    handlers = ChatHandlers(tmp_path / "none", tmp_path)
    _, history, _ = handlers.respond("Who is Japan's defense minister?", [], 5, [])
    assert "The index cannot be used right now: no index in" in unescape(history[-1]["content"])
    assert "unavailable" in handlers.status()


def test_exposure_rules() -> None:
    check_exposure("127.0.0.1", None, False)
    check_exposure("localhost", None, False)
    check_exposure("0.0.0.0", ("analyst", "secret"), False)
    check_exposure("0.0.0.0", None, True)
    with pytest.raises(AssistantError, match="--auth USER:PASSWORD"):
        check_exposure("0.0.0.0", None, False)


def test_index_files_are_not_served(server: str, folders: tuple[Path, Path]) -> None:
    sources, index = folders
    for path in [*index.rglob("*.jsonl"), *index.rglob("*.faiss"), sources / BRIEF]:
        response = httpx.get(f"{server}gradio_api/file={path.resolve()}", timeout=10)
        assert response.status_code in (403, 404), path
        assert "Defense Minister" not in response.text


def test_sixteen_concurrent_questions(server: str) -> None:
    cases = [
        ("Who is Japan's defense minister?", "Kihara Minoru"),
        ("Which missiles will be co-produced?", "PAC-3"),
        ("How many U.S. servicemembers does Japan host?", "almost 60,000"),
        ("What did Liu Jinsong say?", "objective and rational understanding"),
    ] * 4

    def ask(case: tuple[str, str]) -> bool:
        client = Client(server, verbose=False)
        _, history, _ = client.predict(case[0], [], 5, [], api_name="/ask")
        reply = unescape(history[-1]["content"][0]["text"])
        return case[1] in reply

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(ask, cases, timeout=240))
    assert results == [True] * 16


def _wait_for_chat_text(page: Any, text: str, timeout_ms: int) -> None:
    """Until the chat shows `text` (a bound, not a timing assertion)."""
    page.wait_for_function(
        "text => (document.querySelector('#chat')?.innerText ?? '').includes(text)",
        arg=text,
        timeout=timeout_ms,
    )


@pytest.mark.browser
def test_browser_chat_citations_xss_and_refresh(server: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(server)
        box = page.locator("#question textarea")
        box.fill("Who is Japan's defense minister?")
        box.press("Enter")
        # the citations list can render a moment before the chat text: wait for the text
        _wait_for_chat_text(page, "Defense Minister Kihara Minoru", 90_000)
        page.wait_for_selector("li.citation", timeout=90_000)
        chat = page.locator("#chat").inner_text()
        assert "U.S. and Japan Announce Plans to Accelerate Alliance Modernization" in chat
        assert (
            "The announcement was made following a 28 July meeting between Japanese Foreign "
            "Minister Kamikawa Yoko and Defense Minister Kihara Minoru"
        ) in chat
        assert page.locator("#chat mark").count() >= 1
        page.locator("#chat p.answer").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

        box.fill("What raw markup does the Okinawa basing note quote?")
        box.press("Enter")
        _wait_for_chat_text(page, "window.__xss = 2", 90_000)
        chat = page.locator("#chat").inner_text()
        assert "<script>window.__xss = 1</script>" in chat
        assert '<img src=x onerror="window.__xss = 2">' in chat
        assert "<style>body { display: none }</style>" in chat
        assert page.evaluate("window.__xss") is None
        assert page.evaluate("getComputedStyle(document.body).display") != "none"
        assert page.locator("#chat img[src='x']").count() == 0
        page.screenshot(path=str(ARTIFACTS / "xss.png"), full_page=True)

        page.reload()
        _wait_for_chat_text(page, "Defense Minister Kihara Minoru", 60_000)
        page.wait_for_selector("li.citation", timeout=60_000)
        assert "Defense Minister Kihara Minoru" in page.locator("#chat").inner_text()
        browser.close()
