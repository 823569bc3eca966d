"""A real headless browser for the tests: Debian's chromium, driven by Playwright's Python package
pointed at it (`executable_path`); Playwright's own browser download is never used.
`.ci/install-chromium` installs the browser, the `test` extra installs Playwright."""

import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's package
# what works on a headless CI machine, as root, without network: no sandbox (root), no GPU, and
# nothing that phones home (QUIC, component updates, sync, background networking)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
LAUNCH_TIMEOUT_MS = 30_000


def unavailable(reason: str):
    """No browser here: a skip on a developer's machine, a failure in CI, which installs one
    (.ci/install-chromium, the `test` extra) and must not pass by skipping."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def require_browser() -> str:
    """Playwright's package and Debian's chromium are there (cheap: nothing is started);
    returns the browser's path."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        unavailable("Playwright's Python package is not installed: pip install -e '.[test]'")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        hint = f" ({found} is on PATH)" if found else ""
        unavailable(f"no chromium at {CHROMIUM}{hint}: run .ci/install-chromium (Debian's chromium package)")
    return CHROMIUM


@contextmanager
def headless_chromium(profile: Path, timeout_s: float) -> Iterator["object"]:
    """A page of a headless chromium with a fresh user-data dir `profile`; every wait on the page
    is bounded by `timeout_s`. The browser is closed on exit."""
    from playwright.sync_api import Error, expect, sync_playwright

    executable = require_browser()
    with sync_playwright() as playwright:
        try:
            context = playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=executable,
                headless=True,
                args=FLAGS,
                viewport=VIEWPORT,
                timeout=LAUNCH_TIMEOUT_MS,
            )
        except Error as exc:
            unavailable(f"{executable} did not start: {str(exc).strip()[:800]}")
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(timeout_s * 1000)
            expect.set_options(timeout=timeout_s * 1000)
            yield page
        finally:
            context.close()


def save_screenshot(page, path: Path) -> None:
    """The viewport as a small PNG: a 256-colour palette is plenty for the UI's flat colours and
    keeps a 1400x900 screenshot around 50 KB."""
    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    palette = image.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    path.parent.mkdir(parents=True, exist_ok=True)
    palette.save(path, optimize=True)
