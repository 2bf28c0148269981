"""The Gradio chat app: ask, read the answer, see every excerpt it rests on, and
open any of them in its document (the source viewer).

Only this package imports gradio; it calls `assistant.ask()` and
`assistant.view_source()` and never touches FAISS, PDFium or the model directly.
"""

from __future__ import annotations

import atexit
import ipaddress
import math
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager, nullcontext
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, Self

import gradio as gr
from gradio.components.chatbot import ChatbotDataMessages
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from assistant import (
    Answer,
    AssistantError,
    Citation,
    QuestionError,
    ask,
    context_of,
    index_status,
    view_source,
)
from assistant.answer.followups import PreviousTurn

from .format import (
    EMPTY_QUESTION_REPLY,
    VIEWER_PLACEHOLDER,
    render_answer,
    render_error,
    render_status,
    render_user,
    render_viewer,
    render_viewer_message,
)

__all__ = ["EXAMPLES", "RequestGuard", "check_exposure", "create_app", "serve", "served_origins"]

EXAMPLES = [
    "Who attended the 2+2 meeting in Tokyo?",
    "What changes for U.S. Forces Japan?",
    "Which missiles will be co-produced?",
    "How did Beijing respond to the agreement?",
]
MAX_QUESTION_CHARS = 1000
DEFAULT_K = 5
MAX_K = 10
# A conversation keeps its last 50 exchanges: older ones leave the chat (and the
# browser's saved turns), so no request carries or renders an unbounded history.
MAX_TURNS = 50
MAX_HISTORY_MESSAGES = 2 * MAX_TURNS
# A full 50-exchange request at k=10 is ~1.5 MB (history HTML plus saved turns).
MAX_REQUEST_BYTES = 8 * 1024 * 1024
# The app has no file input; this bounds Gradio's own multipart parsing anyway.
MAX_FILE_SIZE = "1kb"
# Gradio routes that write request bodies to its temp folder.
UPLOAD_ROUTES = ("/gradio_api/upload", "/gradio_api/process_recording")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
Message = dict[str, Any]
Turn = dict[str, Any]

# "View source" under an excerpt: the chat's HTML is sanitized (no handlers, no
# scripts, no data- attributes), so one listener on the page reads the excerpt's
# offsets and source from the link (ui.format.view_link) into a hidden textbox,
# whose change event asks the server for the viewer (`ChatHandlers.view`).
APP_JS = """
() => {
  document.addEventListener("click", (event) => {
    const link = event.target.closest ? event.target.closest("#chat a.view-source") : null;
    if (!link) return;
    event.preventDefault();
    const parts = (link.getAttribute("href") || "").split("/");
    const box = document.querySelector("#viewer-request textarea");
    if (parts.length !== 4 || parts[0] !== "#view" || !box) return;
    box.value = JSON.stringify({
      source: decodeURIComponent(parts[3]),
      start: Number(parts[1]),
      end: Number(parts[2]),
      nonce: Date.now(),
    });
    box.dispatchEvent(new Event("input", { bubbles: true }));
  });
}
"""
# After the viewer updates: bring the excerpt into view, on the page image (its
# first box, from the image's data-boxes) or in the text (its <mark>).
SCROLL_TO_EXCERPT_JS = """
() => {
  const image = document.querySelector("#viewer figure img");
  const mark = document.querySelector("#viewer .viewer-text mark");
  if (image) {
    const boxes = JSON.parse(image.dataset.boxes || "[]");
    const scale = image.clientWidth / Number(image.getAttribute("width") || 1);
    const offset = boxes.length ? boxes[0][1] * scale : 0;
    const top = image.getBoundingClientRect().top + window.scrollY + offset;
    window.scrollTo({ top: Math.max(0, top - window.innerHeight / 3), behavior: "smooth" });
  } else if (mark) {
    const text = mark.closest(".viewer-text");
    text.scrollTop = mark.offsetTop - text.offsetTop - text.clientHeight / 3;
    text.scrollIntoView({ behavior: "smooth", block: "center" });
  }
}
"""
APP_CSS = """
#viewer .viewer-text { max-height: 420px; overflow-y: auto; white-space: pre-wrap;
  font-family: Georgia, serif; line-height: 1.5; padding: 0.5em; border: 1px solid #ddd; }
#viewer figure { margin: 0 0 1em 0; }
#viewer img { max-width: 100%; height: auto; border: 1px solid #ccc; }
#viewer mark { background: #ffe08a; }
"""


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, auth: tuple[str, str] | None, no_auth: bool) -> None:
    """Refuse to serve beyond this machine without a password (or an explicit opt-out).

    Raises:
        AssistantError: `host` is not loopback and neither `auth` nor `no_auth` is set.
    """
    if not _is_loopback(host) and auth is None and not no_auth:
        raise AssistantError(
            f"serving on {host} exposes the sources to the network: pass --auth USER:PASSWORD "
            "(or --no-auth if that is really intended)"
        )


def served_origins(host: str, port: int) -> frozenset[str] | None:
    """The origins whose pages may send the app state-changing requests.

    On loopback that is the served address under each loopback name (a page at
    http://localhost:PORT is this server too); on one named address, that address.

    Args:
        host: The address the server binds.
        port: Its port.

    Returns:
        The allowed origins, or None when bound to every interface: the page must
        then come from the address the request itself was sent to (its Host).
    """
    if host in WILDCARD_HOSTS:
        return None
    names = LOOPBACK_NAMES if _is_loopback(host) else (f"[{host}]" if ":" in host else host,)
    origins = {f"http://{name}:{port}" for name in names}
    if port == 80:  # browsers leave the default port out of Origin
        origins |= {f"http://{name}" for name in names}
    return frozenset(origins)


def _origin_allowed(origin: str, host: str | None, allowed: frozenset[str] | None) -> bool:
    if allowed is not None:
        return origin.lower() in allowed
    return host is not None and origin.lower().partition("://")[2] == host.lower()


def _refusal(scope: Scope, allowed: frozenset[str] | None) -> tuple[int, str] | None:
    """Why this request must not reach Gradio, as (status, reason); None if it may."""
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    unsafe = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
    # Browsers send Origin with every POST; another site's page must not ask
    # questions or post forms here (Gradio only withholds CORS headers, which
    # hides the reply but still runs the request).
    if unsafe and origin is not None and not _origin_allowed(origin, headers.get("host"), allowed):
        return 403, "Cross-origin request refused."
    if scope["path"].rstrip("/").endswith(UPLOAD_ROUTES):
        return 404, "This app takes no files."
    if headers.get("content-type", "").lower().startswith("multipart/"):
        return 415, "This app takes no files."
    return None


class RequestGuard:
    """ASGI middleware in front of every Gradio route: no uploads, no cross-origin writes.

    Gradio 6 has no option to drop its upload routes (`max_file_size` only caps
    each file, and `/gradio_api/upload` took 20 MB `.html` files from any origin
    into its shared temp folder), so they are refused here before any byte is read.
    """

    def __init__(self, app: ASGIApp, allowed_origins: frozenset[str] | None) -> None:
        self.app = app
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = None
        if scope["type"] in ("http", "websocket"):
            refusal = _refusal(scope, self.allowed_origins)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await WebSocketClose(code=1008, reason=refusal[1])(scope, receive, send)
        else:
            await PlainTextResponse(refusal[1], status_code=refusal[0])(scope, receive, send)


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


class RecentMessages(ChatbotDataMessages):
    """The chat history as Gradio checks it before `respond` runs, bounded.

    Only the last MAX_HISTORY_MESSAGES are checked and kept, and a malformed history
    fails as one short error: Gradio prints the whole pydantic error of a rejected
    input, one entry per bad message, so a 5,000-message history logged ~1 MB.
    """

    @model_validator(mode="wrap")
    @classmethod
    def _recent(cls, value: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        if isinstance(value, list):
            value = value[-MAX_HISTORY_MESSAGES:]
        try:
            return handler(value)
        except ValidationError as exc:
            problems = exc.error_count()
        # Raised outside the `except`, so the long error is not chained into the log.
        raise ValueError(f"malformed chat history ({problems} problems)")


def _recent_turns(turns: object) -> list[Turn]:
    """The last MAX_TURNS saved turns that are dicts (an API client can send anything)."""
    if not isinstance(turns, list):
        return []
    return [turn for turn in turns[-MAX_TURNS:] if isinstance(turn, dict)]


def _previous_turn(turns: list[Turn]) -> PreviousTurn | None:
    """The last saved turn as `ask(previous=)` takes it: its question, the query
    it was retrieved with and its answer's citations, each checked (a field that
    does not validate is left out rather than trusted)."""
    if not turns:
        return None
    turn = turns[-1]
    question, query = turn.get("question"), turn.get("query")
    if not isinstance(question, str):
        return None
    try:
        citations = Answer.model_validate(turn.get("answer")).citations
    except ValidationError:
        citations = []
    return PreviousTurn(
        question=question, query=query if isinstance(query, str) else None, citations=citations
    )


class ViewRequest(BaseModel):
    """What "View source" sends: which excerpt (the browser's click handler, or any
    API client: trusted no further than these checks)."""

    model_config = ConfigDict(extra="ignore")

    source: str = Field(max_length=1000)
    start: int = Field(ge=0)
    end: int = Field(ge=0)


def _cited(turns: list[Turn], request: ViewRequest) -> Citation | None:
    """The citation of the conversation the request names, latest first: only an
    excerpt that was actually cited is opened, with the text it was cited with."""
    for turn in reversed(turns):
        try:
            citations = Answer.model_validate(turn.get("answer")).citations
        except ValidationError:
            continue
        for citation in citations:
            if (citation.source, citation.start, citation.end) == (
                request.source,
                request.start,
                request.end,
            ):
                return citation
    return None


class ChatHandlers:
    """The event handlers, bound to one index and sources folder."""

    def __init__(self, index_dir: Path, sources_dir: Path) -> None:
        self.index_dir = index_dir
        self.sources_dir = sources_dir

    def render(self, answer: Answer) -> str:
        contexts = [
            context_of(c, self.sources_dir, index_dir=self.index_dir) for c in answer.citations
        ]
        return render_answer(answer, contexts)

    def view(self, request: str | None, turns: list[Turn] | None) -> str:
        """The source viewer for one cited excerpt; every failure becomes a message
        in the viewer."""
        try:
            wanted = ViewRequest.model_validate_json(request or "")
        except ValidationError:
            return render_viewer_message("That is not an excerpt of this conversation.")
        citation = _cited(_recent_turns(turns), wanted)
        if citation is None:
            return render_viewer_message("That is not an excerpt of this conversation.")
        try:
            view = view_source(citation, index_dir=self.index_dir, sources_dir=self.sources_dir)
        except AssistantError as exc:
            return render_viewer_message(f"The source cannot be shown: {exc}")
        return render_viewer(view)

    def respond(
        self,
        question: str | None,
        history: list[Message] | None,
        k: float,
        turns: list[Turn] | None,
    ) -> tuple[str, list[Message], list[Turn]]:
        """Answer one chat message; every failure becomes a message in the chat."""
        history = list(history or [])[-MAX_HISTORY_MESSAGES:]
        # Turns come back from the browser (or any API client): trust nothing in them.
        turns = _recent_turns(turns)
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
        history.append({"role": "user", "content": render_user(question)})
        try:
            answer = ask(
                question.strip(),
                _excerpt_count(k),
                index_dir=self.index_dir,
                previous=_previous_turn(turns),
            )
        except QuestionError as exc:
            history.append({"role": "assistant", "content": render_error(str(exc))})
            return "", history, turns
        except AssistantError as exc:
            reply = f"The index cannot be used right now: {exc}"
            history.append({"role": "assistant", "content": render_error(reply)})
            return "", history, turns
        history.append({"role": "assistant", "content": self.render(answer)})
        turns.append(
            {
                "question": question,
                "query": answer.question,
                "answer": answer.model_dump(mode="json"),
            }
        )
        return "", history, turns

    def restore(self, turns: list[Turn] | None) -> list[Message]:
        """Rebuild the conversation from the turns kept in the browser (after a refresh)."""
        history: list[Message] = []
        for turn in _recent_turns(turns):
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


def _conversation() -> tuple[gr.Chatbot, gr.Textbox]:
    """The chat, the question box and the examples (placed where it is called)."""
    chatbot = gr.Chatbot(
        label="Conversation",
        height=560,
        sanitize_html=True,
        allow_tags=False,
        latex_delimiters=[],
        feedback_options=None,
        elem_id="chat",
    )
    # Gradio validates inputs with the component's data model: bound it.
    chatbot.data_model = RecentMessages
    question = gr.Textbox(
        label="Question",
        placeholder="Ask about the U.S.–Japan alliance…",
        max_length=MAX_QUESTION_CHARS,
        submit_btn="Ask",
        elem_id="question",
    )
    gr.Examples(EXAMPLES, inputs=question, label="Examples")
    return chatbot, question


def create_app(index_dir: Path, sources_dir: Path) -> gr.Blocks:
    """The chat app for one index.

    Args:
        index_dir: Index folder; a rebuild there is picked up without a restart.
        sources_dir: Sources folder, read for the text around each excerpt.

    Returns:
        The Blocks app (not yet launched).
    """
    handlers = ChatHandlers(index_dir, sources_dir)
    # A local assistant: no launch telemetry to huggingface.co (Gradio's default).
    with gr.Blocks(title="U.S.–Japan Alliance Assistant", analytics_enabled=False) as app:
        gr.Markdown(
            "## U.S.–Japan Alliance Assistant\n"
            "Answers come from the source briefs only; every answer shows the excerpts "
            "it rests on, with the best-matching sentence highlighted."
        )
        with gr.Row():
            with gr.Column(scale=3):
                chatbot, question = _conversation()
            with gr.Column(scale=1):
                k = gr.Slider(1, MAX_K, value=DEFAULT_K, step=1, label="Excerpts per answer")
                new_chat = gr.Button("New conversation")
                status = gr.Markdown(elem_id="index-status")
        gr.Markdown("### Source viewer")
        viewer = gr.HTML(render_viewer_message(VIEWER_PLACEHOLDER), elem_id="viewer")
        # Written by APP_JS when "View source" is clicked; in the page, never shown.
        view_request = gr.Textbox(visible="hidden", elem_id="viewer-request", max_length=2000)
        turns = gr.BrowserState([], storage_key="alliance-assistant-turns")

        question.submit(
            handlers.respond,
            [question, chatbot, k, turns],
            [question, chatbot, turns],
            api_name="ask",
        )
        view_request.change(
            handlers.view, [view_request, turns], viewer, api_name="view_source"
        ).then(None, None, None, js=SCROLL_TO_EXCERPT_JS, api_visibility="private")
        new_chat.click(
            lambda: ([], [], render_viewer_message(VIEWER_PLACEHOLDER)),
            None,
            [chatbot, turns, viewer],
            api_visibility="private",
        )
        app.load(handlers.restore, turns, chatbot, api_visibility="private").then(
            handlers.status, None, status, api_visibility="private"
        )
        # A rebuild by `assistant build` elsewhere shows up in the panel, and in
        # answers from the next question on (the pointer is checked per query).
        gr.Timer(15).tick(handlers.status, None, status, api_visibility="private")
    app_blocks: gr.Blocks = app
    return app_blocks


def _own_temp_dir() -> Callable[[], None]:
    """A new temp folder for one server, made Gradio's (GRADIO_TEMP_DIR, read when the
    app and its components are built and when inputs are checked).

    Gradio's default, tempfile.gettempdir()/gradio, is shared by every Gradio app on
    the machine and never emptied; this one is removed when the server stops.

    Returns:
        An idempotent function that removes the folder (and restores the variable
        unless a later server has taken it over).
    """
    folder = Path(tempfile.mkdtemp(prefix="assistant-ui-"))
    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(folder)

    def remove() -> None:
        if os.environ.get("GRADIO_TEMP_DIR") == str(folder):
            if previous is None:
                del os.environ["GRADIO_TEMP_DIR"]
            else:
                os.environ["GRADIO_TEMP_DIR"] = previous
        shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)  # for a process that exits without closing the app
    return remove


def _on_shutdown(cleanup: Callable[[], None]) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    """A lifespan that runs `cleanup` when the server stops (`app.close()`, Ctrl-C)."""

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            cleanup()

    return lifespan


def _interrupt(_signum: int, _frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


@contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """Stop a blocking server on SIGTERM (`kill`, service managers) as on Ctrl-C:
    Gradio then closes it and its temp folder is removed, which Python's default
    SIGTERM exit would skip. Signal handlers can only be set in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    index or sources served as files, a bounded queue, no uploads, no cross-origin
    writes, bounded request bodies, and its own temp folder, removed on shutdown.

    Args:
        index_dir: Index folder.
        sources_dir: Sources folder.
        host: Address to bind.
        port: Port to bind.
        auth: Login required on every page and API call, if any.
        no_auth: Serve beyond loopback without a login, knowingly.
        block: Run until interrupted; otherwise return while the server runs
            (stop it with `app.close()`).

    Returns:
        The running app and its local URL.

    Raises:
        AssistantError: A non-loopback host without `auth` or `no_auth`.
    """
    check_exposure(host, auth, no_auth)
    remove_temp_dir = _own_temp_dir()
    app_kwargs: dict[str, Any] = {
        "middleware": [Middleware(RequestGuard, allowed_origins=served_origins(host, port))],
        "lifespan": _on_shutdown(remove_temp_dir),
        "max_body_size": MAX_REQUEST_BYTES,
    }
    try:
        app = create_app(index_dir, sources_dir)
        app.queue(max_size=64, default_concurrency_limit=4)
        with _sigterm_as_ctrl_c() if block else nullcontext():
            _, url, _ = app.launch(
                server_name=host,
                server_port=port,
                share=False,
                auth=auth,
                blocked_paths=[str(index_dir.resolve()), str(sources_dir.resolve())],
                prevent_thread_lock=not block,
                quiet=not block,
                footer_links=[],
                max_file_size=MAX_FILE_SIZE,
                app_kwargs=app_kwargs,
                js=APP_JS,
                css=APP_CSS,
            )
    except BaseException:
        remove_temp_dir()
        raise
    if block:  # launch returned: the server has stopped
        remove_temp_dir()
    return app, str(url)
