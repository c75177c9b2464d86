"""The runtime dependencies: httpx2 is the HTTP layer; httpx and httpcore are not needed."""

from __future__ import annotations

import ast
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement

PACKAGE = Path(__file__).resolve().parent.parent / "exotel_trunking"


def _runtime_requirements() -> dict[str, Requirement]:
    parsed = [Requirement(text) for text in requires("exotel-trunking") or []]
    return {r.name.lower(): r for r in parsed if r.marker is None or "extra" not in str(r.marker)}


def test_httpx2_is_a_runtime_dependency_and_httpx_and_httpcore_are_not() -> None:
    runtime = _runtime_requirements()
    assert "httpx2" in runtime
    assert "httpx" not in runtime
    assert "httpcore" not in runtime


def _runtime_tree() -> set[str]:
    """Every distribution the package needs at run time without extras, transitively."""
    seen: set[str] = set()
    todo = ["exotel-trunking"]
    while todo:
        name = todo.pop()
        for text in requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue  # an extra's, or another platform's
            dependency = requirement.name.lower().replace("_", "-")
            if dependency not in seen:
                seen.add(dependency)
                todo.append(dependency)
    return seen


def test_neither_httpx_nor_httpcore_is_anywhere_in_the_runtime_dependency_tree() -> None:
    tree = _runtime_tree()
    assert {"httpx2", "httpcore2", "anyio", "attrs", "cattrs"} <= tree
    assert "httpx" not in tree
    assert "httpcore" not in tree


def test_the_package_imports_httpx2_never_httpx() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.relative_to(PACKAGE)}: {name}"
                for name in names
                if name.split(".")[0] in ("httpx", "httpcore")
            ]
    assert offenders == []


def test_no_module_of_the_package_imports_asyncio() -> None:
    # anyio inside, so that everything (the emulator's server too) runs on trio as well.
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import) and any(a.name == "asyncio" for a in node.names):
                offenders.append(str(path.relative_to(PACKAGE)))
            if isinstance(node, ast.ImportFrom) and node.module == "asyncio":
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []
