"""The Gradio chat app: ask, read the answer, see every excerpt it rests on.

Only this package imports gradio; it calls `assistant.ask()` and never touches
FAISS or the model directly.
"""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path
from typing import Any

import gradio as gr

from assistant import (
    Answer,
    AssistantError,
    QuestionError,
    ask,
    context_of,
    index_status,
    resolve_followup,
)

from .format import (
    EMPTY_QUESTION_REPLY,
    render_answer,
    render_error,
    render_status,
    render_user,
)

__all__ = ["EXAMPLES", "check_exposure", "create_app", "serve"]

EXAMPLES = [
    "Who attended the 2+2 meeting in Tokyo?",
    "What changes for U.S. Forces Japan?",
    "Which missiles will be co-produced?",
    "How did Beijing respond to the agreement?",
]
MAX_QUESTION_CHARS = 1000
DEFAULT_K = 5
MAX_K = 10
Message = dict[str, Any]
Turn = dict[str, Any]


def check_exposure(host: str, auth: tuple[str, str] | None, no_auth: bool) -> None:
    """Refuse to serve beyond this machine without a password (or an explicit opt-out).

    Raises:
        AssistantError: `host` is not loopback and neither `auth` nor `no_auth` is set.
    """
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and auth is None and not no_auth:
        raise AssistantError(
            f"serving on {host} exposes the sources to the network: pass --auth USER:PASSWORD "
            "(or --no-auth if that is really intended)"
        )


def _excerpt_count(k: object) -> int:
    """The slider's value as a whole number within its range (API clients can send
    anything: 0, -3, 1e9, NaN, text)."""
    try:
        value = float(k)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return DEFAULT_K
    if not math.isfinite(value):
        return DEFAULT_K
    return min(max(round(value), 1), MAX_K)


class ChatHandlers:
    """The event handlers, bound to one index and sources folder."""

    def __init__(self, index_dir: Path, sources_dir: Path) -> None:
        self.index_dir = index_dir
        self.sources_dir = sources_dir

    def render(self, answer: Answer) -> str:
        contexts = [context_of(c, self.sources_dir) for c in answer.citations]
        return render_answer(answer, contexts)

    def respond(
        self,
        question: str | None,
        history: list[Message] | None,
        k: float,
        turns: list[Turn] | None,
    ) -> tuple[str, list[Message], list[Turn]]:
        """Answer one chat message; every failure becomes a message in the chat."""
        history = list(history or [])
        # Turns come back from the browser (or any API client): trust nothing in them.
        turns = [t for t in turns or [] if isinstance(t, dict)]
        question = question if isinstance(question, str) else ""
        # Lone surrogates cannot be encoded as JSON for the reply: show them as "?".
        question = question.encode("utf-8", "replace").decode("utf-8")
        if not question.strip():
            history.append({"role": "assistant", "content": render_error(EMPTY_QUESTION_REPLY)})
            return "", history, turns
        if len(question) > MAX_QUESTION_CHARS:
            reply = (
                f"That question is {len(question):,} characters long; the limit is "
                f"{MAX_QUESTION_CHARS:,}. Please shorten it to the point you want answered."
            )
            history.append({"role": "assistant", "content": render_error(reply)})
            return "", history, turns
        previous = turns[-1].get("query") if turns else None
        query = resolve_followup(question.strip(), previous if isinstance(previous, str) else None)
        history.append({"role": "user", "content": render_user(question)})
        try:
            answer = ask(query, _excerpt_count(k), index_dir=self.index_dir)
        except QuestionError as exc:
            history.append({"role": "assistant", "content": render_error(str(exc))})
            return "", history, turns
        except AssistantError as exc:
            reply = f"The index cannot be used right now: {exc}"
            history.append({"role": "assistant", "content": render_error(reply)})
            return "", history, turns
        history.append({"role": "assistant", "content": self.render(answer)})
        turns.append(
            {"question": question, "query": query, "answer": answer.model_dump(mode="json")}
        )
        return "", history, turns

    def restore(self, turns: list[Turn] | None) -> list[Message]:
        """Rebuild the conversation from the turns kept in the browser (after a refresh)."""
        history: list[Message] = []
        for turn in turns or []:
            try:
                answer = Answer.model_validate(turn["answer"])
            except (KeyError, TypeError, ValueError):
                continue  # a turn saved by another version: skip rather than fail the page
            history.append({"role": "user", "content": render_user(str(turn.get("question", "")))})
            history.append({"role": "assistant", "content": self.render(answer)})
        return history

    def status(self) -> str:
        try:
            return render_status(index_status(self.index_dir))
        except AssistantError as exc:
            return render_status(None, str(exc))


def create_app(index_dir: Path, sources_dir: Path) -> gr.Blocks:
    """The chat app for one index.

    Args:
        index_dir: Index folder; a rebuild there is picked up without a restart.
        sources_dir: Sources folder, read for the text around each excerpt.

    Returns:
        The Blocks app (not yet launched).
    """
    handlers = ChatHandlers(index_dir, sources_dir)
    with gr.Blocks(title="U.S.–Japan Alliance Assistant") as app:
        gr.Markdown(
            "## U.S.–Japan Alliance Assistant\n"
            "Answers come from the source briefs only; every answer shows the excerpts "
            "it rests on, with the best-matching sentence highlighted."
        )
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    height=560,
                    sanitize_html=True,
                    allow_tags=False,
                    latex_delimiters=[],
                    feedback_options=None,
                    elem_id="chat",
                )
                question = gr.Textbox(
                    label="Question",
                    placeholder="Ask about the U.S.–Japan alliance…",
                    max_length=MAX_QUESTION_CHARS,
                    submit_btn="Ask",
                    elem_id="question",
                )
                gr.Examples(EXAMPLES, inputs=question, label="Examples")
            with gr.Column(scale=1):
                k = gr.Slider(1, MAX_K, value=DEFAULT_K, step=1, label="Excerpts per answer")
                new_chat = gr.Button("New conversation")
                status = gr.Markdown(elem_id="index-status")
        turns = gr.BrowserState([], storage_key="alliance-assistant-turns")

        question.submit(
            handlers.respond,
            [question, chatbot, k, turns],
            [question, chatbot, turns],
            api_name="ask",
        )
        new_chat.click(lambda: ([], []), None, [chatbot, turns], api_visibility="private")
        app.load(handlers.restore, turns, chatbot, api_visibility="private").then(
            handlers.status, None, status, api_visibility="private"
        )
        # A rebuild by `assistant build` elsewhere shows up in the panel, and in
        # answers from the next question on (the pointer is checked per query).
        gr.Timer(15).tick(handlers.status, None, status, api_visibility="private")
    app_blocks: gr.Blocks = app
    return app_blocks


def serve(
    index_dir: Path,
    sources_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: tuple[str, str] | None = None,
    no_auth: bool = False,
    block: bool = True,
) -> tuple[gr.Blocks, str]:
    """Launch the app with safe defaults: loopback, no share link, nothing of the
    index or sources served as files, a bounded queue.

    Returns:
        The running app and its local URL.

    Raises:
        AssistantError: A non-loopback host without `auth` or `no_auth`.
    """
    check_exposure(host, auth, no_auth)
    app = create_app(index_dir, sources_dir)
    app.queue(max_size=64, default_concurrency_limit=4)
    _, url, _ = app.launch(
        server_name=host,
        server_port=port,
        share=False,
        auth=auth,
        blocked_paths=[str(index_dir.resolve()), str(sources_dir.resolve())],
        prevent_thread_lock=not block,
        quiet=not block,
        footer_links=[],
    )
    return app, str(url)
