"""The README's first two commands are the documented entry points, and CI runs the second."""
from __future__ import annotations

import re

from conftest import REPO


def _commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    return [line for line in blocks[0].splitlines() if line.strip()]


def test_first_two_commands_set_up_and_run_main_job_and_tests():
    main_job, tests = _commands()[:2]
    assert main_job.startswith("python3 ") and main_job.endswith("nox -s reproduce-faster")
    assert tests.startswith("python3 ") and tests.endswith("nox -s tests")
    assert "pip install nox" in main_job and "pip install nox" in tests


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert _commands()[1] in ci.splitlines()
    assert "apt-get install -y -qq chromium" in ci


def test_the_readme_shows_the_findings_box_the_browser_test_made():
    """tests/test_browser.py saves the picture (REPRO_UPDATE_DOCS=1 copies it to docs/)."""
    readme = (REPO / "README.md").read_text()
    [picture] = re.findall(r"!\[[^\]]*\]\((docs/[^)]+\.png)\)", readme)
    path = REPO / picture
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000
