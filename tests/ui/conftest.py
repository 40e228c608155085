"""A real browser for the UI tests: Playwright driving Debian's Chromium (Playwright's own
browser download is not reachable from these machines). Chromium is installed with apt-get
when it is missing and this user may; the tests are skipped, saying why, only when it is
absent and cannot be installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOTS = "KICKOFF_UI_SCREENSHOTS"
"""Set to a folder (``make ui-screenshots``: docs/ui) to keep what the browser saw there."""


def _install_chromium() -> str:
    """apt-get install chromium, quietly; what went wrong, or '' when it is there now."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root, or no apt-get, so it cannot be installed here"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    problem = ["it timed out"]
    for command in (["apt-get", "install", "-y", "-qq", "chromium"],
                    ["sh", "-c", "apt-get update -qq && apt-get install -y -qq chromium"]):
        try:
            done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            continue
        if done.returncode == 0 and CHROMIUM.exists():
            return ""
        problem = (done.stderr or done.stdout).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
    return f"apt-get install chromium failed: {problem[0]}"


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        problem = _install_chromium()
        if problem:
            pytest.skip(f"no Chromium at {CHROMIUM} and {problem}")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[object]:
    """One headless Chromium for the session, closed (with its processes) at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A fresh page at the README's screenshot size."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path | None:
    folder = os.environ.get(SCREENSHOTS)
    if not folder:
        return None
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path
