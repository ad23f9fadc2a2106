"""The import contracts of pyproject.toml ([tool.importlinter], run by `make lint`) hold, and each one can fail.

Each violation is added to a copy of the source (the Python files of the product and the sandbox, and
pyproject.toml) in a temporary directory, and `lint-imports` must then report that contract broken, naming the
import. So a contract that a typo or a renamed package had made vacuous is caught here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "work", "pos", "integration", "dashboard", "sandbox")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, *contracts: str) -> subprocess.CompletedProcess:
    args = [str(LINT_IMPORTS), "--no-cache", "--no-logo", *(f"--contract={c}" for c in contracts)]
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The packages' Python files and pyproject.toml, copied once for the module."""
    copy = tmp_path_factory.mktemp("layers")
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            target = copy / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    return copy


def test_the_code_as_it_is_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (contract id, module added, its import): one violation of each contract.
VIOLATIONS = [
    ("layers", "work/_violation.py", "from pos.models import Retailer"),
    ("layers", "integration/_violation.py", "import dashboard.forms"),
    ("pos-not-integration", "pos/services/_violation.py", "from integration import kinds"),
    ("pos-not-integration", "pos/_violation.py", "def later():\n    from integration.selectors import active_link"),
    ("dashboard-through-services", "dashboard/views/_violation.py", "from integration.client import BigCommerceClient"),
    ("dashboard-through-services", "dashboard/_violation.py", "from integration.exceptions import ApiError"),
    ("dashboard-through-services", "dashboard/_violation.py", "from integration.fields import fernet"),
    ("no-sandbox-in-production", "integration/_violation.py", "import werkzeug"),
    ("no-sandbox-in-production", "config/_violation.py", "from sandbox.store import ORDER_FILTERS"),
]


@pytest.mark.parametrize(("contract", "module", "line"), VIOLATIONS)
def test_each_contract_fails_on_a_violating_import(source_copy, contract, module, line):
    path = source_copy / module
    path.write_text(f"from __future__ import annotations\n\n{line}\n")
    try:
        result = lint_imports(source_copy, contract)
    finally:
        path.unlink()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert module.removesuffix(".py").replace("/", ".") in result.stdout
