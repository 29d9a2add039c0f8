"""The layering rules (import-linter contracts): the core never imports Qt or the GUI shell, the
workspaces never import the window that composes them, the slide session is Qt-free, and the
GUI shell has no import cycles."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_import_linter_contract_holds() -> None:
    lint = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]
    result = subprocess.run(lint, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 5 kept, 0 broken" in result.stdout
