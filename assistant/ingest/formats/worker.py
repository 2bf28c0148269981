"""The isolated extraction worker: a long-lived process (a "zygote") that forks one
memory- and CPU-capped child per job, killed past `max_seconds`; the framing of
its pipes, and the calling process's handle on it (`run_isolated`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import math
import os
import pickle
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


def _write_frame(fd: int, payload: object) -> None:
    """Send `payload` as one length-prefixed frame. Pickled: both ends of the pipe
    are this package, and nothing pickled is ever stored or read from a file."""
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(body)) + body)
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


def _read_frame(fd: int, deadline: float | None) -> tuple[bool, Any]:
    """(True, payload), or (False, None) at end of file or past the deadline."""
    header = _read_exactly(fd, _HEADER.size, deadline)
    if header is None:
        return False, None
    body = _read_exactly(fd, _HEADER.unpack(header)[0], deadline)
    if body is None:
        return False, None
    return True, pickle.loads(body)


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
    _write_frame(answers, "ready")
    while True:
        received, job = _read_frame(jobs, None)
        if not received:
            return
        kind, data, raw_limits, render = job
        limits = ExtractLimits.model_validate(raw_limits)
        _write_frame(answers, _zygote_job(kind, data, limits, (jobs, answers), render))


def _zygote_job(
    kind: Kind,
    data: bytes,
    limits: ExtractLimits,
    zygote_fds: tuple[int, ...] = (),
    render: dict[str, Any] | None = None,
) -> tuple[str, Any]:
    """Extract one file (or, given `render`, draw one PDF page) in a forked child,
    killed past `limits.max_seconds`."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        status = 0
        try:
            for fd in (read_end, *zygote_fds):
                os.close(fd)
            _limit_child_resources(limits)
            try:
                answer: tuple[str, Any] = ("ok", perform(kind, data, limits, render))
            except ValueError as exc:
                answer = ("error", str(exc))
            _write_frame(write_end, answer)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        received, answer = _read_frame(read_end, time.monotonic() + limits.max_seconds)
    finally:
        os.close(read_end)
    if not received:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    if received:
        return (str(answer[0]), answer[1])
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9:
        return ("error", timeout_reason(limits.max_seconds))
    return ("error", _crash_reason(kind, status))


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
        received, hello = _read_frame(
            process.stdout.fileno(), time.monotonic() + _WORKER_START_SECONDS
        )
        if not received or hello != "ready":
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
    ) -> tuple[str, Any]:
        """One job in the worker, restarting a dead one once; (status, payload)."""
        with self.lock:
            for attempt in (1, 2):
                if self.process is None or self.process.poll() is not None:
                    self.process = self._start()
                process = self.process
                assert process.stdin is not None
                assert process.stdout is not None
                try:
                    _write_frame(process.stdin.fileno(), (kind, data, limits.model_dump(), render))
                except (BrokenPipeError, OSError):
                    self._stop(process)
                    self.process = None
                    if attempt == 2:
                        raise ValueError("the extraction worker is not answering") from None
                    continue
                deadline = time.monotonic() + limits.max_seconds + _GRACE_SECONDS
                received, answer = _read_frame(process.stdout.fileno(), deadline)
                if received:
                    return answer  # type: ignore[no-any-return]
                self._stop(process)
                self.process = None
                return ("error", timeout_reason(limits.max_seconds))
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
) -> dict[str, Any]:
    """Run one job in the worker (in-process where there is no fork); its payload."""
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: no fork, soft deadline only
        return perform(kind, data, limits, render)
    status, payload = _ZYGOTE.run(kind, data, limits, render)
    if status == "ok":
        return payload  # type: ignore[no-any-return]
    raise ValueError(str(payload))
