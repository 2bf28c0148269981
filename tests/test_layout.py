"""The package layout keeps its promises (docs/architecture.md): imports run along
the data path only, and each heavy library is imported by exactly one module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "assistant"
#: The data path, in order: a step may import only from steps before it.
STEPS = ["ingest", "embedding", "indexing", "search", "answer", "viewing", "cluster"]


def _nodes(tree: ast.AST, *, in_functions: bool) -> list[ast.AST]:
    """Every node of `tree`; without the bodies of functions unless asked."""
    found: list[ast.AST] = []
    for child in ast.iter_child_nodes(tree):
        if in_functions or not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [child, *_nodes(child, in_functions=in_functions)]
    return found


def _imports(path: Path, *, in_functions: bool = True) -> list[str]:
    """Absolute names of the modules `path` imports (relative imports resolved)."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found: list[str] = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in _nodes(tree, in_functions=in_functions):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            found.append(".".join([*base, *([node.module] if node.module else [])]))
    return found


def _modules(*, in_functions: bool = True) -> dict[str, list[str]]:
    return {
        path.relative_to(PACKAGE).as_posix(): _imports(path, in_functions=in_functions)
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def test_imports_run_along_the_data_path() -> None:
    """Module-level imports only: the search pipeline picks the Ray shards as its
    candidate step inside a function, when settings name a cluster (a backend
    behind a switch, never imported on the default path)."""
    backwards = []
    for module, imported in _modules(in_functions=False).items():
        step = module.split("/")[0]
        if step not in STEPS:
            continue
        for name in imported:
            parts = [*name.split("."), ""]
            later = parts[1] in STEPS and STEPS.index(parts[1]) > STEPS.index(step)
            if parts[0] == "assistant" and later:
                backwards.append(f"{module} imports {name}")
    assert backwards == []


def test_the_cluster_backend_is_imported_lazily_outside_its_package() -> None:
    eager = [
        module
        for module, imported in _modules(in_functions=False).items()
        if not module.startswith("cluster/")
        and any(n.startswith("assistant.cluster") for n in imported)
    ]
    lazy = [
        module
        for module, imported in _modules().items()
        if not module.startswith("cluster/")
        and any(n.startswith("assistant.cluster") for n in imported)
    ]
    assert eager == []
    assert "search/pipeline.py" in lazy  # the switch exists, so this test checks something


def test_each_heavy_library_has_one_importer() -> None:
    importers: dict[str, set[str]] = {}
    for module, imported in _modules().items():
        for name in imported:
            top = name.split(".")[0]
            if top in {"faiss", "bm25s", "sentence_transformers", "ray", "gradio"}:
                importers.setdefault(top, set()).add(
                    module.split("/")[0] if top == "ray" else module
                )
    assert importers == {
        "faiss": {"indexing/vectors.py"},
        "bm25s": {"indexing/lexical.py"},
        "sentence_transformers": {"embedding/transformer.py"},
        "ray": {"cluster"},
    }
