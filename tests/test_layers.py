"""The layer contracts in .importlinter hold, and `lint-imports` fails when one is broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """Run lint-imports on the packages under `root` with the repository's contract file."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_deliberate_violation_breaks_the_contracts(tmp_path: Path) -> None:
    """The pure core importing storage, and a handler importing a repository, are both caught."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("bot", "handlers", "storage"):
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(REPO_ROOT / ".importlinter", tmp_path / ".importlinter")
    assert lint(tmp_path).returncode == 0  # the copy as it is keeps every contract
    core = tmp_path / "bot" / "pipeline" / "text.py"
    core.write_text(core.read_text() + "\nimport storage.repos.articles  # noqa\n")
    handler = tmp_path / "handlers" / "commands.py"
    handler.write_text(handler.read_text() + "\nimport storage.repos.chats  # noqa\n")
    broken = lint(tmp_path)
    assert broken.returncode != 0
    assert "The pure core imports no services" in broken.stdout
    assert "BROKEN" in broken.stdout
    assert "bot.pipeline.text -> storage.repos.articles" in broken.stdout
    assert "handlers.commands -> storage.repos.chats" in broken.stdout
