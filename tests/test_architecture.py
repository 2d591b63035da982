"""The layout's promise, checked on every import in the package: data flows one way, so no component imports a later
one and no modules import each other in a circle. The order is ARCHITECTURE.md's; imports inside functions and under
TYPE_CHECKING count too (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"tests", "bench", ".venv", "venv", "build", "dist", ".git", ".ci"}

# Lowest first. A module may import its own component and any component listed before it.
LAYERS = ["seams", "condenser", "memory", "coach", "hooks", "tasks", "ui", "cli", "api"]
SEAMS = {"errors", "settings", "llm", "providers", "llm_anthropic", "llm_langchain", "llm_openai"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["webcoach", *parts])


def component(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "api"
    head = parts[1]
    if head in SEAMS:
        return "seams"
    if head in LAYERS:
        return head
    raise AssertionError(f"{module} belongs to no component: add it to ARCHITECTURE.md and this test's LAYERS/SEAMS")


def package_modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if SKIP & set(path.relative_to(ROOT).parts):
            continue
        found[module_name(path)] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """Every webcoach module `module` imports, resolved to the module (not the name) it loads."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names if a.name.split(".")[0] == "webcoach")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != "webcoach":
                continue
            for alias in node.names:  # `from webcoach.memory import store` imports a module, not a name
                sub = f"{source}.{alias.name}"
                targets.add(sub if sub in known else source)
    targets.discard(module)
    return {t for t in targets if t in known}


def graph() -> dict[str, set[str]]:
    modules = package_modules()
    known = set(modules)
    return {m: imports_of(m, p, known) for m, p in modules.items()}


def test_every_module_belongs_to_a_component() -> None:
    for module in package_modules():
        assert component(module) in LAYERS


def test_no_import_goes_up_the_layers() -> None:
    upward = [
        f"{m} ({component(m)}) imports {t} ({component(t)})"
        for m, targets in graph().items()
        for t in targets
        if LAYERS.index(component(t)) > LAYERS.index(component(m))
    ]
    assert not upward, "imports against the direction of data:\n" + "\n".join(sorted(upward))


def test_no_import_circles() -> None:
    edges = graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_architecture_md_lists_the_layers_in_this_order() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    order = re.search(r"<!-- layers: (.+?) -->", text)
    assert order, "ARCHITECTURE.md must state the layer order in a `<!-- layers: ... -->` line"
    assert [x.strip() for x in order.group(1).split(">")] == LAYERS


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """Guards the guard: a lazy, upward import inside a function is found."""
    fake = tmp_path / "memory" / "x.py"
    fake.parent.mkdir()
    fake.write_text("def f():\n    from webcoach.coach.coach import Coach\n    return Coach\n")
    module = "webcoach.memory.x"
    found = imports_of(module, fake, {"webcoach.coach.coach", module})
    assert found == {"webcoach.coach.coach"}
    assert LAYERS.index(component("webcoach.coach.coach")) > LAYERS.index(component(module))


@pytest.mark.parametrize("source", ["from ..coach import coach", "from webcoach.coach import coach"])
def test_the_checker_resolves_module_imports(tmp_path: Path, source: str) -> None:
    fake = tmp_path / "memory" / "y.py"
    fake.parent.mkdir()
    fake.write_text(source + "\n")
    found = imports_of("webcoach.memory.y", fake, {"webcoach.coach", "webcoach.coach.coach", "webcoach.memory.y"})
    assert found == {"webcoach.coach.coach"}


# One module per external system (the design card): who may import which third-party package.
OWNERS = {
    "chromadb": {"webcoach.memory.store"},
    "sqlite3": {"webcoach.memory.records_db"},  # the embedded store's record file
    "anthropic": {"webcoach.llm_anthropic"},
    "langchain_core": {"webcoach.llm_langchain"},
    "openai": {"webcoach.llm_openai"},
    "browser_use.agent": {"webcoach.hooks.browser_use"},
    "mcp": {"webcoach.hooks.mcp_server"},
    "starlette": {"webcoach.ui.app"},
    "jinja2": {"webcoach.ui.app"},
    # Two servers, each run by its own module: the UI's, and the MCP server's over HTTP (wrapped in its token check).
    "uvicorn": {"webcoach.ui.serve", "webcoach.hooks.mcp_server"},
}


def third_party_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(OWNERS))
def test_one_module_talks_to_each_external_system(package: str) -> None:
    users = {
        m
        for m, path in package_modules().items()
        if any(name == package or name.startswith(package + ".") for name in third_party_imports(path))
    }
    assert users <= OWNERS[package], f"{package} is imported outside {sorted(OWNERS[package])}: {sorted(users - OWNERS[package])}"
