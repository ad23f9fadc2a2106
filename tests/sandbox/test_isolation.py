"""The sandbox store is development-only: the product never imports it (nor werkzeug, the development dependency
it runs on), and it needs nothing of the product's, not even Django, so `python -m sandbox` runs anywhere.

Read from the source (every `import`, `from ... import` and `import_module("...")` with a literal name), so an
import inside a function or behind a condition counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from integration.client import ORDER_FILTERS as CLIENT_ORDER_FILTERS
from sandbox.store import ORDER_FILTERS as SANDBOX_ORDER_FILTERS

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("config", "pos", "integration", "dashboard")


def imported_modules(directory: Path) -> dict[str, set[str]]:
    """Every absolute module name each file under `directory` imports, by file."""
    found = {}
    for path in sorted(directory.rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                names.add(node.args[0].value)
        found[str(path.relative_to(directory))] = names
    return found


def offending(package: str, banned: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        path: sorted(name for name in names if name.split(".")[0] in banned)
        for path, names in imported_modules(ROOT / package).items()
        if any(name.split(".")[0] in banned for name in names)
    }


@pytest.mark.parametrize("package", PRODUCTION)
def test_the_product_never_imports_the_sandbox_or_werkzeug(package):
    assert imported_modules(ROOT / package), f"{package} has no Python files: is the walk looking in the right place?"
    assert offending(package, ("sandbox", "werkzeug")) == {}


def test_the_sandbox_needs_nothing_of_the_product_not_even_django():
    assert offending("sandbox", (*PRODUCTION, "django", "tests")) == {}


def test_the_walk_sees_imports_inside_functions_and_by_name(tmp_path):
    (tmp_path / "module.py").write_text(
        "from . import sibling\n"
        "def later():\n"
        "    import werkzeug.serving\n"
        "    from sandbox.store import SandboxStore\n"
        "    return importlib.import_module('sandbox.app')\n"
    )

    assert imported_modules(tmp_path) == {"module.py": {"werkzeug.serving", "sandbox.store", "sandbox.app"}}


def test_the_sandbox_serves_exactly_the_order_filters_the_client_may_send():
    assert SANDBOX_ORDER_FILTERS == CLIENT_ORDER_FILTERS
