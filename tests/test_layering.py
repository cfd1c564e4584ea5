"""The package's layers, checked by parsing every module's imports (``ast``, nothing is run): imports inside
functions count, and so do the modules they import in turn (a layer may not reach a forbidden one through
a third module).

Layers, bottom up: media, preprocess, models -> shards, ingest, synthesize -> pretext, pretrain -> evaluate ->
stats, findings, tables, leaderboard, plots -> cli. The workflow (``workflow/``) calls the package, never
the reverse."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "avbench"

# (modules, prefixes they may never import, directly or through other avbench modules)
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("avbench", ("workflow",)),
    ("avbench.preprocess", ("avbench.pretrain", "avbench.evaluate", "avbench.pretext")),
    ("avbench.media", ("avbench.pretrain", "avbench.evaluate", "avbench.pretext")),
    ("avbench.models", ("avbench.shards", "avbench.ingest")),
    ("avbench.tables", ("avbench.models", "avbench.pretrain")),
    ("avbench.checkpoint", ("avbench.pretrain", "avbench.evaluate", "avbench.pretext")),
    # evaluation reads checkpoints through avbench.checkpoint, not the training code (the arrow-of-time cue
    # test, avbench.evaluate.aot_cues, recomputes pretraining's held-out split with avbench.pretrain)
    *[
        (f"avbench.evaluate.{m}", ("avbench.pretrain",))
        for m in (
            "linear",
            "finetune",
            "retrieval",
            "features",
            "downstream",
            "guards",
            "external",
            "avsync",
            "run",
            "propagation",
        )
    ],
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; ``from a import b`` counts a and a.b)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _is_type_checking(node.test)
        for stmt in node.body
        for n in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:  # `if TYPE_CHECKING:` imports are annotations only, never run
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PKG.rglob("*.py")}


def _reach(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module reachable from ``start`` -> the avbench module that imports it (for the message)."""
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        mod = todo.pop()
        for imp in graph.get(mod, ()):
            if imp not in seen:
                seen[imp] = mod
                if imp in graph:
                    todo.append(imp)
    return seen


def _chain(seen: dict[str, str], start: str, end: str) -> str:
    path = [end]
    while path[-1] != start:
        path.append(seen[path[-1]])
    return " -> ".join(reversed(path))


def test_the_import_parser_sees_lazy_and_relative_imports():
    graph = _graph()
    assert "avbench.config" in graph["avbench.cli"]  # imported inside a function
    assert all(not imp.startswith(".") for deps in graph.values() for imp in deps)
    assert "avbench.pretrain" not in graph["avbench.pretext.base"]  # only under `if TYPE_CHECKING:`


@pytest.mark.parametrize(("layer", "forbidden"), RULES, ids=[r[0] for r in RULES])
def test_layering(layer, forbidden):
    graph = _graph()
    starts = [m for m in graph if m == layer or m.startswith(layer + ".")]
    if not starts:
        pytest.skip(f"{layer} does not exist")
    bad = []
    for start in starts:
        seen = _reach(graph, start)
        for imp in seen:
            if any(imp == f or imp.startswith(f + ".") for f in forbidden):
                bad.append(_chain(seen, start, imp))
    assert not bad, "layering broken:\n" + "\n".join(sorted(bad)[:20])


def test_only_the_checkpoint_module_calls_torch_load_or_save():
    """One place for the checkpoint format: avbench.checkpoint (load_state / save_state / load_checkpoint)."""
    bad = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("load", "save")
                and isinstance(node.value, ast.Name)
                and node.value.id == "torch"
            ):
                bad.append(f"{_module_name(path)}:{node.lineno} torch.{node.attr}")
    assert all(b.startswith("avbench.checkpoint:") for b in bad), bad
