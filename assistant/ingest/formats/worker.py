"""The isolated extraction worker: a long-lived process (a "zygote") that forks one
memory- and CPU-capped child per job, killed past `max_seconds`; the framing of
its pipes, and the calling process's handle on it (`run_isolated`).

Nothing on the pipes is pickled: the child parses untrusted files, and unpickling
its answer would let a parser exploit run code in the caller. A job is a JSON
header and the file's bytes; an answer is a status and either the result's JSON
(validated by its pydantic model in the caller) or a reason.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import math
import os
import select
import struct
import subprocess
import sys
import threading
import time
from typing import Any

from .extracted import Kind
from .jobs import perform, warm_up
from .limits import MB, ExtractLimits, memory_budget_mb, timeout_reason

__all__ = ["run_isolated"]

# The isolation: one long-lived worker process (a "zygote") per calling process,
# started on first use from this package alone, with the parsers imported. For
# each file it forks a child that caps its own memory and CPU, extracts, writes
# the result down a pipe and exits; the zygote kills a child that runs past
# max_seconds. A fork of a small single-threaded process costs a few ms, the
# child starts with every parser loaded, and nothing of one file (memory, PDFium
# state) reaches the next. multiprocessing's own start methods fit less well:
# "fork" copies the caller's threads and locks (torch, tokenizers), "spawn"
# imports the parsers again per file (~0.5 s), and "forkserver" re-imports the
# caller's __main__ in every child.
#
# The boot loads this package by its path under a name of its own, so that the
# worker never imports `assistant` (its __init__ loads the search stack); every
# import inside the package is relative, which keeps that possible.
_WORKER_BOOT = (
    "import importlib, importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location(\n"
    "    'assistant_formats_worker', sys.argv[1], submodule_search_locations=[]\n"
    ")\n"
    "package = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = package\n"
    "spec.loader.exec_module(package)\n"
    "importlib.import_module(spec.name + '.worker')._zygote_main()\n"
)
_PACKAGE_INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__init__.py")
_WORKER_START_SECONDS = 120.0
_GRACE_SECONDS = 10.0  # the zygote's own answer after a kill; past it, the zygote goes too
_HEADER = struct.Struct("<Q")
_READY, _OK, _ERROR = b"ready", b"ok", b"error"


def _limit_child_resources(limits: ExtractLimits) -> None:
    """Cap this process's address space and CPU time (Linux and macOS)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/statm", encoding="ascii") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        budget = current + int(memory_budget_mb(limits) * MB)
        resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    with contextlib.suppress(OSError, ValueError):
        cpu = math.ceil(limits.max_seconds) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _write_frames(fd: int, *bodies: bytes) -> None:
    """Send each of `bodies` as one length-prefixed frame."""
    view = memoryview(b"".join(_HEADER.pack(len(body)) + body for body in bodies))
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    """`size` bytes from `fd`; None at end of file or when `deadline` passes."""
    chunks: list[bytes] = []
    while size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return None
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_frames(fd: int, count: int, deadline: float | None) -> list[bytes] | None:
    """The bodies of the next `count` frames; None at end of file or past the deadline."""
    bodies: list[bytes] = []
    for _ in range(count):
        header = _read_exactly(fd, _HEADER.size, deadline)
        body = None if header is None else _read_exactly(fd, _HEADER.unpack(header)[0], deadline)
        if body is None:
            return None
        bodies.append(body)
    return bodies


def _zygote_main() -> None:
    """The worker's loop: read a job from stdin, fork a child for it, answer on stdout."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The protocol gets private copies of stdin and stdout; whatever a library
    # prints goes to /dev/null instead of into the answers.
    jobs, answers = os.dup(0), os.dup(1)
    nowhere = os.open(os.devnull, os.O_RDWR)
    os.dup2(nowhere, 0)
    os.dup2(nowhere, 1)
    os.close(nowhere)
    warm_up()
    gc.freeze()  # children's collections then leave the zygote's objects (and pages) alone
    _write_frames(answers, _READY)
    while True:
        job = _read_frames(jobs, 2, None)
        if job is None:
            return
        header, data = json.loads(job[0]), job[1]
        limits = ExtractLimits.model_validate(header["limits"])
        status, body = _zygote_job(header["kind"], data, limits, (jobs, answers), header["render"])
        _write_frames(answers, status, body)


def _zygote_job(
    kind: Kind,
    data: bytes,
    limits: ExtractLimits,
    zygote_fds: tuple[int, ...] = (),
    render: dict[str, Any] | None = None,
) -> tuple[bytes, bytes]:
    """Extract one file (or, given `render`, draw one PDF page) in a forked child,
    killed past `limits.max_seconds`: (`_OK`, the result's JSON) or (`_ERROR`, the
    reason). The child's frames are passed on unread."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 0
        try:
            for fd in (read_end, *zygote_fds):
                os.close(fd)
            _limit_child_resources(limits)
            try:
                result = (_OK, perform(kind, data, limits, render))
            except ValueError as exc:
                result = (_ERROR, str(exc).encode())
            _write_frames(write_end, *result)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        answer = _read_frames(read_end, 2, time.monotonic() + limits.max_seconds)
    finally:
        os.close(read_end)
    if answer is None:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    if answer is not None:
        return answer[0], answer[1]
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9:
        return _ERROR, timeout_reason(limits.max_seconds).encode()
    return _ERROR, _crash_reason(kind, status).encode()


def _crash_reason(kind: Kind, status: int) -> str:
    """The skip reason of a child that died without answering."""
    import signal

    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if name == "SIGXCPU":
            return f"{kind.upper()} needed more CPU time than max_seconds allows; stopped"
        return f"the {kind.upper()} extractor crashed ({name})"
    code = os.WEXITSTATUS(status)
    return f"the {kind.upper()} extractor stopped unexpectedly (exit status {code})"


class _Zygote:
    """The calling process's handle on its worker; one job at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process: subprocess.Popen[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        """Start the worker and wait for its 'ready'."""
        process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_BOOT, _PACKAGE_INIT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C at the terminal is the caller's to handle
        )
        assert process.stdout is not None
        hello = _read_frames(process.stdout.fileno(), 1, time.monotonic() + _WORKER_START_SECONDS)
        if hello != [_READY]:
            self._stop(process)
            raise ValueError("the extraction worker did not start")
        return process

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        """Kill a worker and close its pipes."""
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(Exception):
            process.wait(5)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self) -> None:
        """Stop the worker, if one runs."""
        with self.lock:
            if self.process is not None:
                self._stop(self.process)
                self.process = None

    def run(
        self, kind: Kind, data: bytes, limits: ExtractLimits, render: dict[str, Any] | None
    ) -> tuple[bytes, bytes]:
        """One job in the worker, restarting a dead one once; (status, body) as
        `_zygote_job` gives them."""
        bounds = limits.model_dump(mode="json")
        header = json.dumps({"kind": kind, "limits": bounds, "render": render}).encode()
        with self.lock:
            for attempt in (1, 2):
                if self.process is None or self.process.poll() is not None:
                    self.process = self._start()
                process = self.process
                assert process.stdin is not None
                assert process.stdout is not None
                try:
                    _write_frames(process.stdin.fileno(), header, data)
                except (BrokenPipeError, OSError):
                    self._stop(process)
                    self.process = None
                    if attempt == 2:
                        raise ValueError("the extraction worker is not answering") from None
                    continue
                deadline = time.monotonic() + limits.max_seconds + _GRACE_SECONDS
                answer = _read_frames(process.stdout.fileno(), 2, deadline)
                if answer is not None:
                    return answer[0], answer[1]
                self._stop(process)
                self.process = None
                return _ERROR, timeout_reason(limits.max_seconds).encode()
        raise AssertionError("unreachable")

    def forget(self) -> None:
        """In a child forked from the caller: the worker and its pipes are the
        parent's; start afresh (without touching them)."""
        self.lock = threading.Lock()
        self.process = None


_ZYGOTE = _Zygote()
atexit.register(_ZYGOTE.close)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ZYGOTE.forget)


def run_isolated(
    kind: Kind, data: bytes, limits: ExtractLimits, render: dict[str, Any] | None = None
) -> bytes:
    """Run one job in the worker (in-process where there is no fork); the JSON of
    its result, for the caller to validate with `Extracted` or `PageImage`.

    Raises:
        ValueError: The job failed; the message says why.
    """
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: no fork, soft deadline only
        return perform(kind, data, limits, render)
    status, body = _ZYGOTE.run(kind, data, limits, render)
    if status == _OK:
        return body
    raise ValueError(body.decode("utf-8", errors="replace"))
