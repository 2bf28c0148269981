"""The chat app's HTTP surface, over real HTTP on loopback: no uploads, no
cross-origin writes, bounded requests and logs, and a temp folder of its own that
is gone after shutdown (issue #15).

These servers have no index: every request here is refused, or fails, before a
question would reach the index, and a missing index is itself a chat message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from ui.app import (
    MAX_HISTORY_MESSAGES,
    MAX_REQUEST_BYTES,
    MAX_TURNS,
    ChatHandlers,
    RequestGuard,
    serve,
    served_origins,
)

from ..conftest import ROOT
from .test_app import _free_port

EVIL = "http://evil.example"
TWENTY_MB_HTML = b"<script>alert(1)</script>\n" * (20 * 1024 * 1024 // 26)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A live app on loopback, and the temp folder Gradio uses for it."""
    root = tmp_path_factory.mktemp("ui-security")
    app, url = serve(root / "index", root / "sources", port=_free_port(), block=False)
    yield url, Path(app.server_app.uploaded_file_dir)
    app.close()


def _files_in(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def _ask(url: str, history: Any, origin: str | None = None) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    body = {"data": ["Who is Japan's defense minister?", history, 5, []]}
    return httpx.post(f"{url}gradio_api/call/ask", json=body, headers=headers, timeout=30)


def _result(url: str, posted: httpx.Response) -> tuple[str, Any]:
    """The event name and data of a /call/ask request's result stream."""
    assert posted.status_code == 200, posted.text
    event = posted.json()["event_id"]
    stream = httpx.get(f"{url}gradio_api/call/ask/{event}", timeout=120).text
    name = stream.split("event: ")[-1].split("\n", 1)[0]
    data = stream.rsplit("data: ", 1)[-1].strip()
    return name, json.loads(data)


def test_upload_route_is_refused_and_writes_nothing(served: tuple[str, Path]) -> None:
    url, temp = served
    small = {"files": ("page.html", b"<script>alert(1)</script>", "text/html")}
    same_origin = {"Origin": url.rstrip("/")}
    for path in ("gradio_api/upload", "gradio_api/upload/", "gradio_api/process_recording"):
        response = httpx.post(f"{url}{path}", files=small, headers=same_origin, timeout=30)
        assert response.status_code == 404, (path, response.text)
    big = {"files": ("page.html", TWENTY_MB_HTML, "text/html")}
    response = httpx.post(f"{url}gradio_api/upload", files=big, timeout=60)
    assert response.status_code == 413
    response = httpx.post(
        f"{url}gradio_api/upload", files=small, headers={"Origin": EVIL}, timeout=30
    )
    assert response.status_code == 403
    # nor through the other route that parses multipart bodies
    response = httpx.post(f"{url}gradio_api/component_server", files=small, timeout=30)
    assert response.status_code == 415
    assert _files_in(temp) == []


def test_cross_origin_writes_are_refused(served: tuple[str, Path]) -> None:
    url, _ = served
    port = url.rstrip("/").rsplit(":", 1)[1]
    for origin in (EVIL, "null", f"http://evil.example:{port}", f"https://127.0.0.1:{port}"):
        response = _ask(url, [], origin)
        assert response.status_code == 403, origin
        assert "event_id" not in response.text
        join = httpx.post(
            f"{url}gradio_api/queue/join", json={}, headers={"Origin": origin}, timeout=30
        )
        assert join.status_code == 403, origin
    # the page itself (under either loopback name) and non-browser clients still work
    for allowed in (url.rstrip("/"), f"http://localhost:{port}", None):
        name, _ = _result(url, _ask(url, [], allowed))
        assert name == "complete", allowed
    assert httpx.get(url, headers={"Origin": EVIL}, timeout=30).status_code == 200


def test_oversized_request_body_is_refused(served: tuple[str, Path]) -> None:
    url, _ = served
    body = b'{"data": ["' + b"a" * MAX_REQUEST_BYTES + b'", [], 5, []]}'
    response = httpx.post(
        f"{url}gradio_api/call/ask",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413


def test_malformed_long_history_logs_one_short_error(
    served: tuple[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:
    url, _ = served
    capfd.readouterr()
    # Gradio 6 wants content as a list of parts: 5,000 malformed messages
    history = [{"role": "user", "content": "hello " * 30}] * 5000
    name, _ = _result(url, _ask(url, history))
    out, err = capfd.readouterr()
    assert name == "error"
    assert len(out) + len(err) < 10_000, f"{len(out) + len(err):,} characters logged"
    assert "malformed chat history (100 problems)" in err


def test_long_history_is_cut_to_the_recent_messages(served: tuple[str, Path]) -> None:
    url, _ = served
    message = {"role": "user", "content": [{"type": "text", "text": "an old question"}]}
    name, data = _result(url, _ask(url, [message] * 5000))
    assert name == "complete"
    history = data[1]
    # the kept history, the question, and the reply (here: no index yet)
    assert len(history) == MAX_HISTORY_MESSAGES + 2
    assert "The index cannot be used right now" in history[-1]["content"][0]["text"]


def test_handlers_keep_the_recent_turns_only(tmp_path: Path) -> None:
    handlers = ChatHandlers(tmp_path / "index", tmp_path)
    turns = [{"question": f"q{n}", "query": f"q{n}", "answer": {}} for n in range(5000)]
    _, history, kept = handlers.respond("   ", [{"role": "user", "content": "x"}] * 5000, 5, turns)
    assert kept == turns[-MAX_TURNS:]
    assert len(history) == MAX_HISTORY_MESSAGES + 1
    assert handlers.restore({"not": "a list"}) == []  # type: ignore[arg-type]


def test_temp_folder_is_the_apps_own_and_removed_on_close(tmp_path: Path) -> None:
    before = os.environ.get("GRADIO_TEMP_DIR")
    app, url = serve(tmp_path / "index", tmp_path / "sources", port=_free_port(), block=False)
    temp = Path(app.server_app.uploaded_file_dir)
    try:
        assert temp.name.startswith("assistant-ui-")
        assert temp.is_dir()
        assert httpx.get(url, timeout=30).status_code == 200
    finally:
        app.close()
    assert not temp.exists()
    assert os.environ.get("GRADIO_TEMP_DIR") == before


@pytest.mark.slow
def test_blocking_server_removes_its_temp_folder_on_sigterm(tmp_path: Path) -> None:
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    # as `assistant serve` does: an interrupt during startup exits with 130
    paths = f"Path({str(tmp_path / 'index')!r}), Path({str(tmp_path)!r})"
    script = (
        "import sys\nfrom pathlib import Path\nfrom ui.app import serve\ntry:\n"
        f"    serve({paths}, port={_free_port()})\n"
        "except KeyboardInterrupt:\n    sys.exit(130)\n"
    )
    env = {**os.environ, "TMPDIR": str(temp_root), "PYTHONUNBUFFERED": "1"}
    env.pop("GRADIO_TEMP_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        # Gradio's last line before it waits for Ctrl-C (or, now, SIGTERM); a
        # SIGTERM while it is still starting stops it too
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "To create a public link" in line:
                break
        folders = list(temp_root.glob("assistant-ui-*"))
        assert len(folders) == 1, lines
        assert folders[0].is_dir()
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
        assert server.returncode in (0, 130), output
    finally:
        server.kill()
    assert list(temp_root.glob("assistant-ui-*")) == []


def test_served_origins() -> None:
    assert served_origins("127.0.0.1", 7860) == frozenset(
        {"http://127.0.0.1:7860", "http://localhost:7860", "http://[::1]:7860"}
    )
    assert served_origins("192.168.1.5", 8080) == frozenset({"http://192.168.1.5:8080"})
    assert served_origins("fe80::1", 80) == frozenset({"http://[fe80::1]:80", "http://[fe80::1]"})
    assert served_origins("0.0.0.0", 7860) is None


def test_guard_on_every_interface_wants_the_requests_own_host() -> None:
    """Bound to 0.0.0.0 no origin is known in advance: the page must come from the
    address the request went to. WebSockets get the same origin check."""

    async def ok(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("ok")
        await websocket.close()

    app = Starlette(routes=[Route("/", ok, methods=["POST"]), WebSocketRoute("/ws", echo)])
    client = TestClient(RequestGuard(app, served_origins("0.0.0.0", 7860)))
    own = "http://testserver"  # the test client's Host
    assert client.post("/", headers={"Origin": own}).status_code == 200
    assert client.post("/", headers={"Origin": EVIL}).status_code == 403
    assert client.post("/").status_code == 200
    with client.websocket_connect("/ws", headers={"Origin": own}) as ws:
        assert ws.receive_text() == "ok"
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws", headers={"Origin": EVIL}),
    ):
        pass
    assert refused.value.code == 1008
