"""Open a review page in headless Chromium through Selenium (tests, benchmark, screenshot).

Needs the ``chromium`` and ``chromium-driver`` packages (Debian names; any
Chromium/Chrome with a matching chromedriver on ``PATH`` does) and
``selenium`` (the ``dev`` extra). :func:`missing` says what is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def _binary() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def missing() -> str | None:
    """Why no browser can be driven here, or ``None`` when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if _binary() is None:
        return "no Chromium found (apt-get install chromium chromium-driver)"
    if shutil.which("chromedriver") is None:
        return "no chromedriver found (apt-get install chromium-driver)"
    return None


def headless(*, width: int = 1400, height: int = 900):
    """A headless Chromium ``webdriver`` that keeps the page's console log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--autoplay-policy=no-user-gesture-required"):
        opts.add_argument(arg)
    opts.binary_location = _binary()
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))


def open_page(driver, page: str | Path, *, timeout_s: float = 30.0) -> float:
    """Load ``page`` from disk and wait until its cards are built; returns the script's build time in ms."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(Path(page).resolve().as_uri())
    WebDriverWait(driver, timeout_s).until(lambda d: d.execute_script("return document.body.dataset.ready"))
    return float(driver.execute_script("return window.review.ready_ms"))


def severe_logs(driver) -> list[str]:
    """The console's SEVERE entries (errors) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
