"""Hostile folders, damaged indexes and bad settings: nothing outside the sources
folder is read, nothing the builder did not create is deleted, every failure is
one line (issue: hardening)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant import ForeignIndexFolderError, IndexCorruptError, build_index, context_of, retrieve
from assistant._files import is_safe_relative, read_inside
from assistant._settings import Settings
from assistant.cli import main, printable
from assistant.indexing.generations import (
    GENERATIONS,
    POINTER,
    current_generation,
    new_generation_id,
    read_generation,
)
from assistant.ingest.sources import list_sources, load_documents

from .conftest import BRIEF, brief_sources

SECRET = "root:x:0:0:the secret outside the sources folder"


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, brief_index: Path) -> tuple[Path, Path]:
    """Sources (the brief) and their index (the session's `brief_index`: the
    repository's sources/ holds just the brief); tests work on copies."""
    return brief_sources(tmp_path_factory.mktemp("template")), brief_index


def _copy_index(index: Path, destination: Path) -> Path:
    """A private copy; the 90 MB encoder files are hard-linked (tests only delete them)."""

    def link_or_copy(source: str, target: str) -> None:
        if Path(source).name.startswith("query-encoder"):
            os.link(source, target)
        else:
            shutil.copy2(source, target)

    shutil.copytree(index, destination, copy_function=link_or_copy)
    return destination


@pytest.fixture
def copies(template: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    sources, index = template
    shutil.copytree(sources, tmp_path / "sources")
    return tmp_path / "sources", _copy_index(index, tmp_path / "index")


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status: int, err: str, *words: str) -> None:
    assert status == 2, err
    lines = [line for line in err.splitlines() if line and not line.startswith("warning:")]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]


# 1. Nothing outside the sources folder is read ------------------------------------


def test_symlinks_are_skipped_by_name_and_never_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET + "\n")
    sources = brief_sources(tmp_path)
    (sources / "passwd.txt").symlink_to(outside / "secret.txt")
    (sources / "linked-folder").symlink_to(outside, target_is_directory=True)
    (sources / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    (sources / "loop.txt").symlink_to(sources / "loop.txt")
    os.mkfifo(sources / "pipe.txt")  # opening it would block the build forever

    documents, skipped = load_documents(sources)

    assert [d.source for d in documents] == [BRIEF]
    reasons = {s.source: s.reason for s in skipped}
    assert set(reasons) == {"dangling.txt", "linked-folder", "loop.txt", "passwd.txt", "pipe.txt"}
    assert reasons["passwd.txt"].startswith("symbolic link, not followed")
    assert reasons["dangling.txt"].startswith("dangling symbolic link")
    assert reasons["pipe.txt"] == "not a regular file (device, FIFO or socket)"
    assert all(SECRET not in d.text for d in documents)


def test_a_symlink_swapped_in_after_listing_is_refused_at_open(tmp_path: Path) -> None:
    sources = brief_sources(tmp_path)
    (tmp_path / "secret.txt").write_text(SECRET)
    (sources / "sub").mkdir()
    (sources / "sub" / "note.txt").write_text("A note about the alliance.\n")
    listed, _ = list_sources(sources)
    # Swap the file for a link, and a folder on the path for a link to another folder.
    (sources / BRIEF).unlink()
    (sources / BRIEF).symlink_to(tmp_path / "secret.txt")
    shutil.rmtree(sources / "sub")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "note.txt").write_text(SECRET)
    (sources / "sub").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    with pytest.raises(ValueError, match="symbolic link"):
        read_inside(sources, BRIEF, max_bytes=10**6, expected=listed[BRIEF])
    with pytest.raises(ValueError, match="symbolic link"):
        read_inside(sources, "sub/note.txt", max_bytes=10**6, expected=listed["sub/note.txt"])


def test_a_file_replaced_after_listing_is_refused(tmp_path: Path) -> None:
    sources = brief_sources(tmp_path)
    listed, _ = list_sources(sources)
    (sources / BRIEF).rename(tmp_path / "old.txt")
    (sources / BRIEF).write_text("A different file now.\n")
    with pytest.raises(ValueError, match="replaced while the folder was being read"):
        read_inside(sources, BRIEF, max_bytes=10**6, expected=listed[BRIEF])


def test_surrounding_text_does_not_follow_a_symlink_planted_after_the_build(
    copies: tuple[Path, Path], tmp_path: Path
) -> None:
    sources, index = copies
    citation = retrieve("Who is Japan's defense minister?", k=1, index_dir=index)[0]
    assert context_of(citation, sources) is not None
    (tmp_path / "secret.txt").write_text(SECRET)
    (sources / BRIEF).unlink()
    (sources / BRIEF).symlink_to(tmp_path / "secret.txt")
    assert context_of(citation, sources) is None


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("a.txt", True),
        ("sub/a.txt", True),
        ("/etc/passwd", False),
        ("../outside.txt", False),
        ("sub/../../x", False),
        ("a\x00b", False),
        ("sub\\..\\x", False),
        ("./a.txt", False),
        ("sub//a.txt", False),
        ("", False),
    ],
)
def test_recorded_source_paths_must_stay_inside(name: str, safe: bool) -> None:
    assert is_safe_relative(name) is safe


def _rewrite_generation_file(index: Path, name: str, edit) -> None:  # type: ignore[no-untyped-def]
    """Edit one file of the live generation and re-sign it in the manifest, as an
    attacker with write access to the index would."""
    import hashlib

    folder = index / GENERATIONS / str(current_generation(index))
    path = folder / name
    data = edit(path.read_bytes())
    path.unlink()  # never write through a hard link
    path.write_bytes(data)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    if name != "manifest.json":
        manifest["files"][name] = hashlib.sha256(data).hexdigest()
        manifest_path.write_text(json.dumps(manifest))


def test_a_chunk_source_leading_outside_is_corrupt_and_never_opened(
    copies: tuple[Path, Path],
) -> None:
    _, index = copies
    lines: list[bytes] = []

    def forge(data: bytes) -> bytes:
        lines.extend(data.replace(BRIEF.encode(), b"../../../../etc/passwd").splitlines(True))
        return b"".join(lines)

    def forge_rows(data: bytes) -> bytes:  # the line offsets, consistent with the forgery
        rows = np.load(io.BytesIO(data))
        rows[1:, 0] = np.cumsum([len(line) for line in lines])
        buffer = io.BytesIO()
        np.save(buffer, rows)
        return buffer.getvalue()

    _rewrite_generation_file(index, "chunks.jsonl", forge)
    _rewrite_generation_file(index, "chunks.rows.npy", forge_rows)
    # Passages are parsed when a query reads them, and refused there.
    with pytest.raises(IndexCorruptError, match="not a relative path inside"):
        retrieve("Who is Japan's defense minister?", index_dir=index)


@pytest.mark.parametrize("field", ["file", "weights", "tokenizer"])
def test_an_encoder_path_leading_outside_is_corrupt(copies: tuple[Path, Path], field: str) -> None:
    _, index = copies

    def edit(data: bytes) -> bytes:
        manifest = json.loads(data)
        manifest["query_encoder"][field] = "/etc/passwd"
        return json.dumps(manifest).encode()

    _rewrite_generation_file(index, "manifest.json", edit)
    with pytest.raises(IndexCorruptError, match="is not a plain file name"):
        read_generation(index)


@pytest.mark.parametrize("name", ["a\x00b", "../generations", "x" * 300, "/tmp", "a/b"])
def test_a_pointer_naming_a_path_is_corrupt_and_one_line(
    copies: tuple[Path, Path], capsys: pytest.CaptureFixture[str], name: str
) -> None:
    _, index = copies
    (index / POINTER).write_text(json.dumps({"generation": name}))
    with pytest.raises(IndexCorruptError, match="is not a valid pointer"):
        current_generation(index)
    status, _, err = cli(capsys, "ask", "Who is Japan's defense minister?", "--index", str(index))
    assert_one_line_error(status, err, "CURRENT.json", "build --force")


# 2. Nothing the builder did not create is deleted ---------------------------------


def test_an_index_folder_with_foreign_folders_is_refused_before_any_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = brief_sources(tmp_path)
    index = tmp_path / "d"
    (index / GENERATIONS / "photos").mkdir(parents=True)
    (index / GENERATIONS / "thesis").mkdir()
    (index / GENERATIONS / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")

    with pytest.raises(ForeignIndexFolderError, match="did not create"):
        build_index(sources, index)
    status, _, err = cli(capsys, "build", "--sources", str(sources), "--index", str(index))

    assert_one_line_error(status, err, "generations/photos", "generations/thesis")
    assert (index / GENERATIONS / "photos" / "cat.jpg").read_bytes() == b"\xff\xd8"
    assert sorted(p.name for p in index.iterdir()) == [GENERATIONS]  # no lock, no pointer


def test_a_home_folder_given_as_index_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = brief_sources(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.docx").write_bytes(b"mine")
    status, _, err = cli(capsys, "build", "--sources", str(sources), "--index", str(home))
    assert_one_line_error(status, err, "thesis.docx", "did not create")
    assert sorted(p.name for p in home.iterdir()) == ["thesis.docx"]


def test_stale_removal_spares_lookalikes_without_a_manifest(
    copies: tuple[Path, Path], embedder
) -> None:
    sources, index = copies
    lookalike = index / GENERATIONS / "20000101T000000000000Z-abcdef"
    lookalike.mkdir()
    (lookalike / "notes.txt").write_text("not an index generation")
    for round_ in range(3):  # three more generations: the oldest real ones go
        (sources / f"note-{round_}.txt").write_text(f"Note {round_} on the alliance.\n")
        build_index(sources, index, embedder=embedder)
    assert (lookalike / "notes.txt").exists()
    own = [p for p in (index / GENERATIONS).iterdir() if (p / "manifest.json").exists()]
    assert len(own) == 2


def test_an_index_path_that_is_a_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = brief_sources(tmp_path)
    (tmp_path / "file").write_text("x")
    for command in (["build", "--sources", str(sources)], ["ask", "Who?"]):
        status, _, err = cli(capsys, *command, "--index", str(tmp_path / "file"))
        assert_one_line_error(status, err)


# 4. Every index file readable by other accounts -----------------------------------


@pytest.mark.slow
def test_every_index_file_has_the_same_permissions(tmp_path: Path, embedder) -> None:
    sources = brief_sources(tmp_path)
    index = tmp_path / "index"
    old = os.umask(0o022)
    try:
        build_index(sources, index, embedder=embedder)
    finally:
        os.umask(old)
    files = [p for p in index.rglob("*") if p.is_file() and p.name != ".build.lock"]
    modes = {p.relative_to(index).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in files}
    assert modes[POINTER] == 0o644
    assert set(modes.values()) == {0o644}, modes


# 5. Disk full ---------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 150 MB tmpfs (root only, as in CI)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root; CI runs as root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=150m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """A file that takes every free byte of the file system."""
    filler = folder / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 12, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return filler


@pytest.mark.slow
def test_disk_full_is_one_line_keeps_serving_and_leaves_nothing(
    template: tuple[Path, Path], small_disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = brief_sources(small_disk)
    index = small_disk / "index"
    shutil.copytree(template[1], index)
    before = current_generation(index)
    (sources / "new.txt").write_text("A new note on the alliance.\n" * 2000)
    filler = _fill(small_disk)

    status, _, err = cli(
        capsys, "build", "--quiet", "--sources", str(sources), "--index", str(index)
    )

    assert_one_line_error(status, err, "no space left on device", "previous index keeps serving")
    assert current_generation(index) == before
    assert not [p for p in (index / GENERATIONS).iterdir() if p.name.startswith(".tmp-")]
    assert retrieve("Who is Japan's defense minister?", k=1, index_dir=index)[0].source == BRIEF
    filler.unlink()
    status, out, err = cli(
        capsys, "build", "--quiet", "--sources", str(sources), "--index", str(index)
    )
    assert status == 0, err
    assert "1 added" in out
    assert current_generation(index) != before


def test_leftovers_of_a_failed_build_are_removed_before_writing(
    copies: tuple[Path, Path], embedder
) -> None:
    sources, index = copies
    leftover = index / GENERATIONS / f".tmp-{new_generation_id()}"
    leftover.mkdir()
    (leftover / "vectors.npy").write_bytes(b"\0" * 1000)
    report = build_index(sources, index, embedder=embedder)
    assert report.up_to_date
    assert not leftover.exists()


# 7. A damaged encoder is re-exported ---------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_damaged_onnx_encoder_is_exported_afresh(
    copies: tuple[Path, Path], exporting_embedder, damage: str
) -> None:
    sources, index = copies
    weights = index / GENERATIONS / str(current_generation(index)) / "query-encoder.onnx.data"
    if damage == "delete":
        weights.unlink()
    else:
        data = weights.read_bytes()
        weights.unlink()  # break the hard link to the template first
        weights.write_bytes(data[: len(data) // 2])

    report = build_index(sources, index, embedder=exporting_embedder)

    assert not report.up_to_date
    assert report.full_rebuild_reason is not None
    assert "query encoder damaged" in report.full_rebuild_reason
    assert report.query_encoder == "onnx"
    generation = read_generation(index)
    assert generation.manifest.query_encoder is not None
    assert build_index(sources, index, embedder=exporting_embedder).up_to_date


# One line, never a traceback --------------------------------------------------------


@pytest.mark.slow
def test_pointer_that_is_a_folder_is_one_line_and_force_recovers(
    copies: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sources, index = copies
    (index / POINTER).unlink()
    (index / POINTER).mkdir()
    status, _, err = cli(capsys, "ask", "Who is Japan's defense minister?", "--index", str(index))
    assert_one_line_error(status, err, "build --force")
    status, out, err = cli(
        capsys, "build", "--force", "--quiet", "--sources", str(sources), "--index", str(index)
    )
    assert status == 0, err
    assert (index / POINTER).is_file()
    status, out, _ = cli(capsys, "ask", "Who is Japan's defense minister?", "--index", str(index))
    assert status == 0
    assert "Kihara Minoru" in out


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["deleted", "file"])
def test_generations_folder_gone_is_one_line_and_build_recovers(
    copies: tuple[Path, Path], capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    sources, index = copies
    shutil.rmtree(index / GENERATIONS)
    if damage == "file":
        (index / GENERATIONS).write_text("oops")
    status, _, err = cli(capsys, "ask", "Who is Japan's defense minister?", "--index", str(index))
    assert_one_line_error(status, err, "build --force")
    status, _, err = cli(
        capsys, "build", "--force", "--quiet", "--sources", str(sources), "--index", str(index)
    )
    assert status == 0, err
    assert retrieve("Who is Japan's defense minister?", k=1, index_dir=index)[0].source == BRIEF


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ASSISTANT_CHUNK_TOKENS", "abc"),
        ("ASSISTANT_CHUNK_TOKENS", "5"),
        ("ASSISTANT_FUSION", "bogus"),
        ("ASSISTANT_MAX_FILE_MB", "-1"),
    ],
)
def test_bad_environment_values_are_one_line(
    copies: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    sources, index = copies
    monkeypatch.setenv(variable, value)
    for command in (["build", "--sources", str(sources)], ["ask", "Who?"]):
        status, _, err = cli(capsys, *command, "--index", str(index))
        assert_one_line_error(status, err, f"{variable}={value!r}")


@pytest.mark.parametrize("port", ["99999", "0"])
def test_serve_on_a_port_out_of_range_is_one_line(
    copies: tuple[Path, Path], capsys: pytest.CaptureFixture[str], port: str
) -> None:
    sources, index = copies
    status, out, err = cli(
        capsys, "serve", "--port", port, "--sources", str(sources), "--index", str(index)
    )
    assert_one_line_error(status, err, f"--port {port}")
    assert "serving" not in out


def test_serve_on_a_port_in_use_is_one_line(
    copies: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sources, index = copies
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        status, out, err = cli(
            capsys, "serve", "--port", port, "--sources", str(sources), "--index", str(index)
        )
    assert_one_line_error(status, err, f"127.0.0.1:{port}", "another --port")
    assert "serving" not in out


def test_read_only_index_for_another_account_is_one_line(copies: tuple[Path, Path]) -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to another account needs root; CI runs as root")
    # pytest's own temp root is owner-only: use a folder every account can enter.
    shared = Path(tempfile.mkdtemp(prefix="assistant-readonly-"))
    shared.chmod(0o755)
    try:
        _build_as_nobody(
            shutil.copytree(copies[0], shared / "s"), _copy_index(copies[1], shared / "i")
        )
    finally:
        shutil.rmtree(shared)


def _as_nobody(task: Callable[[], str]) -> str:
    """Run `task` in a forked child that has become `nobody` and return what it
    returned. The code is already loaded, so this does not depend on the virtual
    environment being readable by that account."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write, task().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        result = pipe.read()
    os.waitpid(pid, 0)
    return result


def _build_as_nobody(sources: Path, index: Path) -> None:
    for path in [index, *index.rglob("*"), sources, *sources.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)

    def build() -> str:
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            status = main(["build", "--quiet", "--sources", str(sources), "--index", str(index)])
        return f"{status}\n{errors.getvalue()}"

    status, _, err = _as_nobody(build).partition("\n")
    assert_one_line_error(int(status), err, "cannot write to index folder", "Permission denied")
    assert retrieve("Who is Japan's defense minister?", k=1, index_dir=index)[0].source == BRIEF


def test_a_folder_vanishing_while_listed_is_not_an_error(tmp_path: Path) -> None:
    sources = brief_sources(tmp_path)
    (sources / "gone").mkdir()
    listed_before, _ = list_sources(sources)
    assert list(listed_before) == [BRIEF]
    # The listing meets the folder in its parent, then it is gone when opened.
    original_scandir = os.scandir
    calls: list[str] = []

    def vanishing(path):  # type: ignore[no-untyped-def]
        calls.append(str(path))
        if str(path).endswith("gone") and (sources / "gone").exists():
            (sources / "gone").rmdir()
        return original_scandir(path)

    os.scandir = vanishing  # type: ignore[assignment]
    try:
        listed, skipped = list_sources(sources)
    finally:
        os.scandir = original_scandir  # type: ignore[assignment]
    assert list(listed) == [BRIEF]
    assert skipped == []
    assert any(call.endswith("gone") for call in calls)


# Smaller --------------------------------------------------------------------------


def test_unreadable_subfolder_is_named() -> None:
    # pytest's temp root is owner-only: a folder every account can enter.
    root = Path(tempfile.mkdtemp(prefix="assistant-unreadable-"))
    root.chmod(0o755)
    try:
        sources = brief_sources(root)
        (sources / BRIEF).chmod(0o644)
        sources.chmod(0o755)
        (sources / "locked").mkdir()
        (sources / "locked" / "note.txt").write_text("Hidden from other accounts.\n")
        (sources / "locked").chmod(0)

        def listing() -> str:
            documents, skipped = load_documents(sources)
            return json.dumps([[d.source for d in documents], [s.model_dump() for s in skipped]])

        # root reads every folder: the listing must run as another account to see one
        # it cannot read (CI runs as root; as another user it runs directly).
        raw = _as_nobody(listing) if os.geteuid() == 0 else listing()
    finally:
        (root / "sources" / "locked").chmod(0o755)
        shutil.rmtree(root)
    documents, skipped = json.loads(raw)
    assert documents == [BRIEF]
    assert skipped == [{"source": "locked", "reason": "folder not readable (Permission denied)"}]


@pytest.mark.slow
def test_control_characters_never_reach_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], embedder
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "evil\x1b]0;pwned\x07.txt").write_text(
        "Title\x1b[2J of the note\n\nThe alliance \x1b[2Jheadquarters moved to Tokyo in 2025.\n"
    )
    (sources / "bad\x1b[2J.bin").write_bytes(b"\x00")
    index = tmp_path / "index"
    build_index(sources, index, embedder=embedder)
    status, out, err = cli(capsys, "ask", "Where did the headquarters move?", "--index", str(index))
    assert status == 0, err
    assert "headquarters" in out
    assert "\x1b" not in out + err
    assert "\\x1b[2J" in out
    status, out, err = cli(capsys, "build", "--sources", str(sources), "--index", str(index))
    assert "\x1b" not in out + err
    assert "bad\\x1b[2J.bin" in out


def test_printable_keeps_newlines_and_tabs() -> None:
    assert printable("a\tb\nc\x1b[31md\x9be\x00") == "a\tb\nc\\x1b[31md\\x9be\\x00"


def test_a_byte_order_mark_stays_in_the_text_but_not_in_the_title(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "bom.txt").write_bytes("\ufeffAlliance Note\n\nThe text.\n".encode())
    documents, _ = load_documents(sources)
    assert documents[0].title == "Alliance Note"
    assert documents[0].text.startswith("\ufeff")


def test_k_may_be_any_integral_number(copies: tuple[Path, Path]) -> None:
    _, index = copies
    hits = retrieve("Who is Japan's defense minister?", k=np.int64(2), index_dir=index)
    assert len(hits) == 2


# 6. Size bounds ---------------------------------------------------------------------


def test_files_past_the_size_bounds_are_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = brief_sources(tmp_path)
    (sources / "big.txt").write_text("The alliance. " * 100_000)  # 1.4 MB on one line
    monkeypatch.setenv("ASSISTANT_MAX_FILE_MB", "1")
    documents, skipped = load_documents(sources, limits=Settings.from_env().ingest)
    assert [d.source for d in documents] == [BRIEF]
    assert skipped[0].source == "big.txt"
    assert "exceeds the 1.0 MB limit (ASSISTANT_MAX_FILE_MB)" in skipped[0].reason
    monkeypatch.setenv("ASSISTANT_MAX_FILE_MB", "5")
    monkeypatch.setenv("ASSISTANT_MAX_PARAGRAPH_CHARS", "100000")
    documents, skipped = load_documents(sources, limits=Settings.from_env().ingest)
    assert [d.source for d in documents] == [BRIEF]
    assert "100,000-character paragraph limit" in skipped[0].reason


@pytest.mark.slow
def test_a_file_that_takes_too_long_to_chunk_is_skipped_and_the_rest_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder
) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    # One paragraph is always cut (the deadline is checked between paragraphs).
    (sources / "short.txt").write_text("The alliance met in Tokyo.\n")
    (sources / "long.txt").write_text("The alliance met again today.\n\n" * 20_000)
    monkeypatch.setenv("ASSISTANT_MAX_SECONDS_PER_FILE", "0.001")
    report = build_index(sources, tmp_path / "index", embedder=embedder)
    assert report.added == ["short.txt"]
    assert [s.source for s in report.skipped] == ["long.txt"]
    assert "(ASSISTANT_MAX_SECONDS_PER_FILE)" in report.skipped[0].reason
