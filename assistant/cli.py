"""`assistant build | ask | eval | serve`: the command line.

User errors print one line on stderr and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import sys
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from ._errors import AssistantError
from ._settings import Settings
from ._types import BuildReport, Citation

if TYPE_CHECKING:
    from .indexing.watch import WatchEvent

__all__ = ["main"]

USAGE_ERROR = 2


def _add_folders(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sources", metavar="DIR", help="documents folder (default ./sources, $ASSISTANT_SOURCES)"
    )
    parser.add_argument(
        "--index", metavar="DIR", help="index folder (default ./index, $ASSISTANT_INDEX)"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant", description="Cited answers from a folder of briefing documents."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_command in (_add_build, _add_ask, _add_serve, _add_watch, _add_eval):
        add_command(commands)
    return parser


# argparse has no public name for what add_subparsers returns.
_Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _add_ray(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help=f"{what} (default ASSISTANT_RAY_ADDRESS); needs pip install -e '.[cluster]'",
    )


def _add_build(commands: _Commands) -> None:
    build = commands.add_parser("build", help="build or update the index from the sources")
    _add_folders(build)
    build.add_argument("--force", action="store_true", help="re-embed every document")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_ray(build, "chunk and embed on this Ray cluster (`auto`, or the head's HOST:PORT)")


def _add_ask(commands: _Commands) -> None:
    ask = commands.add_parser("ask", help="answer a question with cited excerpts")
    _add_folders(ask)
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("-k", type=int, default=5, metavar="N", help="excerpts to return (default 5)")
    ask.add_argument("--json", action="store_true", help="print the answer and citations as JSON")


def _add_serve(commands: _Commands) -> None:
    serve = commands.add_parser("serve", help="build the index if needed, then start the chat UI")
    _add_folders(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    serve.add_argument("--auth", metavar="USER:PASSWORD", help="require this login")
    serve.add_argument(
        "--no-auth", action="store_true", help="allow a non-loopback host without a login"
    )
    serve.add_argument(
        "--watch", action="store_true", help="rebuild while serving when the sources change"
    )
    _add_ray(serve, "build on this Ray cluster and search through its shard actors")


def _add_watch(commands: _Commands) -> None:
    watch = commands.add_parser(
        "watch", help="rebuild the index whenever the sources change (Ctrl+C to stop)"
    )
    _add_folders(watch)
    watch.add_argument(
        "--quiet-ms",
        type=int,
        default=500,
        metavar="MS",
        help="rebuild once the folder has been quiet this long (default 500)",
    )


def _add_eval(commands: _Commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="measure retrieval and abstention on JSONL questions and/or dialogues"
    )
    _add_folders(evaluate)
    evaluate.add_argument(
        "file", nargs="?", help="JSONL lines with id, question, source, evidence, kind, split"
    )
    evaluate.add_argument(
        "--dialogues", metavar="FILE", help="JSONL dialogues, asked turn by turn as in the chat"
    )
    evaluate.add_argument(
        "--split",
        choices=("dev", "heldout", "all"),
        default="all",
        help="only the questions and dialogues of this split (default all)",
    )
    evaluate.add_argument("-k", type=int, default=5, metavar="N", help="excerpts per question")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")


# C0 and C1 controls but newline and tab: from a source file or a file name they
# could clear the screen or retitle the window of whoever reads the output.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with terminal control characters shown as `\\xNN` escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class _PrintableFormatter(logging.Formatter):
    """Warnings name files: escape what a hostile file name could do to a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def page_label(citation: Citation) -> str:
    """ "p. 3", "pp. 3–4" for an excerpt over a page break, "" without pages."""
    if citation.page is None:
        return ""
    if citation.page_end is None:
        return f"p. {citation.page}"
    return f"pp. {citation.page}–{citation.page_end}"


def format_citation(citation: Citation, width: int = 100) -> str:
    """A numbered excerpt with its title, date, file, page and offsets, for a terminal."""
    date = citation.date.isoformat() if citation.date else "undated"
    where = " ".join(part for part in (printable(citation.source), page_label(citation)) if part)
    section = f"  § {printable(citation.section)}" if citation.section else ""
    header = (
        f"[{citation.rank}] {printable(citation.title)} ({date})\n"
        f"    {where} [{citation.start}:{citation.end}]  "
        f"score {citation.score:.3f}{section}"
    )
    if citation.also_in:
        copies = ", ".join(
            " ".join(
                part for part in (printable(c.source), f"p. {c.page}" if c.page else "") if part
            )
            + f" [{c.start}:{c.end}]"
            for c in citation.also_in
        )
        header += f"\n    also in {copies}"
    body = textwrap.fill(
        printable(citation.text), width=width, initial_indent="    ", subsequent_indent="    "
    )
    return f"{header}\n{body}"


def _run(args: argparse.Namespace) -> int:
    # Imported here so `assistant --help` and argument errors stay instant.
    from .answer.compose import ask
    from .evaluation import run_eval

    if args.command == "build":
        report = _build(args)
        print(printable(report.summary()))
        if not report.up_to_date:
            _check_abstention(args.index)
        return 0
    settings = Settings.from_env(args.sources, args.index)
    index_dir = settings.index_dir
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "watch":
        from .indexing.watch import watch_sources

        print(f"watching {settings.sources_dir} (Ctrl+C to stop)", flush=True)
        watch_sources(
            settings.sources_dir,
            index_dir,
            quiet_ms=max(args.quiet_ms, 50),
            on_event=lambda event: print(printable(event.summary()), flush=True),
        )
        return 0
    if args.command == "ask":
        answer = ask(args.question, args.k, index_dir=index_dir)
        if args.json:
            print(answer.model_dump_json(indent=2))
            return 0
        print(textwrap.fill(printable(answer.text), width=100))
        if answer.citations:
            print("\nRelated, but not an answer:\n" if answer.abstained else "")
            print("\n\n".join(format_citation(c) for c in answer.citations))
        return 0
    print(
        run_eval(
            args.file,
            dialogues=args.dialogues,
            split=args.split,
            k=args.k,
            as_json=args.json,
            settings=settings,
        )
    )
    return 0


def _check_abstention(index_dir: str | None) -> None:
    """Warn when the new generation answers off-domain probe questions."""
    from .answer.probes import check_abstention

    try:
        warning = check_abstention(index_dir).summary()
    except AssistantError as exc:  # the build succeeded: say why the check did not run
        warning = f"warning: the off-domain probe check did not run ({exc})"
    if warning is not None:
        print(printable(warning), file=sys.stderr)


def _build(args: argparse.Namespace) -> BuildReport:
    """`assistant build`, on this machine or, with --ray, on a Ray cluster."""
    from .cluster.connect import cluster_address
    from .indexing.build import build_index

    address = cluster_address(args.ray)
    if address is None:
        return build_index(args.sources, args.index, force=args.force, progress=not args.quiet)
    from .cluster.build import build_on_ray  # imports ray: the optional extra

    return build_on_ray(
        address, args.sources, args.index, force=args.force, progress=not args.quiet
    )


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from .cluster.connect import ADDRESS_VARIABLE, cluster_address
    from .indexing.build import build_index

    auth: tuple[str, str] | None = None
    if args.auth:
        user, _, password = args.auth.partition(":")
        if not user or not password:
            raise AssistantError("--auth needs USER:PASSWORD, both non-empty")
        auth = (user, password)
    from ui.app import check_exposure, serve

    check_exposure(args.host, auth, args.no_auth)
    _check_port(args.host, args.port)
    address = cluster_address(args.ray)
    if address is not None:
        # The UI reads its settings from the environment on every query.
        os.environ[ADDRESS_VARIABLE] = address
    if args.watch:
        # The watcher's first build happens before the UI starts taking questions.
        import threading

        from .indexing.watch import watch_sources

        first_build = threading.Event()

        def report(event: WatchEvent) -> None:
            print(printable(event.summary()), flush=True)
            first_build.set()

        threading.Thread(
            target=watch_sources,
            args=(settings.sources_dir, settings.index_dir),
            kwargs={"on_event": report},
            name="watch-sources",
            daemon=True,
        ).start()
        first_build.wait()
    elif address is not None:
        from .cluster.build import build_on_ray  # imports ray: the optional extra

        built = build_on_ray(address, settings.sources_dir, settings.index_dir, progress=True)
        print(printable(built.summary()))
    else:
        built = build_index(settings.sources_dir, settings.index_dir, progress=True)
        print(printable(built.summary()))
    print(f"serving the chat UI on http://{args.host}:{args.port} (Ctrl+C to stop)", flush=True)
    serve(
        settings.index_dir,
        settings.sources_dir,
        host=args.host,
        port=args.port,
        auth=auth,
        no_auth=args.no_auth,
    )
    return 0


def _check_port(host: str, port: int) -> None:
    """Refuse a port out of range or in use before building and printing a URL
    (Gradio would fail only after both, with a traceback)."""
    if not 1 <= port <= 65535:
        raise AssistantError(f"--port {port} is out of range: pick one from 1 to 65535")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
    except OSError as exc:
        raise AssistantError(
            f"cannot serve on {host}:{port} ({exc.strerror or exc}): "
            "pass another --port or stop the program using it"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("warning: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        return _run(args)
    except AssistantError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # `assistant ask … | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except OSError as exc:  # a file or folder the system refused: still one line
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {printable(exc.strerror or str(exc))}{where}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
