"""The suite's own layout: fixtures come from conftest.py files, helpers from helper modules, and none hides another.

A test module that imports another test module (or a conftest) drags that module's fixtures in by name,
where one quietly replaces the fixture of the same name that pytest would have given the test."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _modules() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(TESTS.rglob("*.py"))}


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return []


def _is_test_module(dotted: str) -> bool:
    last = dotted.rsplit(".", 1)[-1]
    return dotted.startswith("tests.") and (last == "conftest" or last.startswith("test_"))


def _fixtures(module: ast.Module) -> dict[str, list[str]]:
    """Each fixture the module defines → the fixtures it requests."""
    found = {}
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and any(
                "pytest.fixture" in ast.unparse(decorator) for decorator in node.decorator_list):
            found[node.name] = [argument.arg for argument in node.args.args]
    return found


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    offenders = sorted({f"{path.relative_to(TESTS.parent)}: {name}"
                        for path, module in _modules().items() for node in ast.walk(module)
                        for name in _imported(node) if _is_test_module(name)})
    assert offenders == [], "move what is shared into a conftest.py (fixtures) or a helpers module"


def test_a_fixture_of_the_same_name_as_one_above_it_builds_on_it() -> None:
    """A module's or a folder's fixture that takes the name of a conftest.py fixture above it requests that one."""
    modules = _modules()
    conftests = {path.parent: _fixtures(module) for path, module in modules.items() if path.name == "conftest.py"}
    hidden = []
    for path, module in modules.items():
        above = [folder for folder in conftests if folder in path.parents and folder / "conftest.py" != path]
        for name, requested in _fixtures(module).items():
            if name not in requested and any(name in conftests[folder] for folder in above):
                hidden.append(f"{path.relative_to(TESTS.parent)}: {name}")
    assert hidden == [], "rename the fixture, or have it request (and build on) the one it replaces"
