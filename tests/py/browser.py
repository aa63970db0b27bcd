"""A real headless Chromium for the web UI tests, driven by Selenium.

Uses Debian's ``chromium`` and ``chromium-driver`` packages (paths below, or
``LOOKOUT_CHROMIUM`` / ``LOOKOUT_CHROMEDRIVER``); Selenium Manager is never
asked to download anything (explicit driver path and browser binary,
``SE_OFFLINE=true``).

Import the fixture into a test module with ``from browser import browser``.
It yields a :class:`Browser`: a thin wrapper over the Selenium driver whose
helpers wait for what a person would wait for (the page after a form post,
an element to appear) and, when something is missing, fail with the page's
URL, title, visible text and console errors, and save a screenshot and the
HTML under ``target/browser-artifacts/<test>/`` (or
``LOOKOUT_BROWSER_ARTIFACTS``).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

os.environ.setdefault("SE_OFFLINE", "true")  # before selenium is imported

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    JavascriptException,
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LOOKOUT_CHROMIUM") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("LOOKOUT_CHROMEDRIVER") or "/usr/bin/chromedriver"
ARTIFACTS_DIR = Path(os.environ.get("LOOKOUT_BROWSER_ARTIFACTS") or REPO / "target" / "browser-artifacts")

PAGE_LOAD_TIMEOUT = 30.0
WAIT_TIMEOUT = 10.0  # for an element, or for the page after a click
DESKTOP = (1280, 900)
MOBILE = (360, 800)

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # beyond the brief: harmless, and keep the run quiet and local
    "--no-default-browser-check",
    "--disable-extensions",
    "--password-store=basic",  # no keyring lookups
    "--no-proxy-server",  # never route loopback through an env proxy
    "--mute-audio",
    "--lang=en-US",
    f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
]


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def _safe_name(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)[:120] or "test"


class Browser:
    """One Chromium window. ``base_url`` (set with :meth:`use`) makes paths
    like ``/projects`` work in :meth:`get`."""

    def __init__(self, driver: webdriver.Chrome, artifacts_dir: Path, log_path: Path):
        self.driver = driver
        self.artifacts_dir = artifacts_dir
        self.log_path = log_path  # chromedriver's log
        self.base_url: Optional[str] = None
        self.console: list[dict] = []  # every console entry seen so far
        self._shots = 0

    # -- navigation -------------------------------------------------------------

    def use(self, base_url: str) -> "Browser":
        self.base_url = base_url.rstrip("/")
        return self

    def url(self, path: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*:", path):
            return path
        assert self.base_url, "call browser.use(server.base_url) first"
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def get(self, path: str) -> "Browser":
        """Open ``path`` (or a full URL) and wait until the page has loaded."""
        self.driver.get(self.url(path))
        self.wait_loaded()
        return self

    def reload(self) -> "Browser":
        self.driver.refresh()
        self.wait_loaded()
        return self

    def wait_loaded(self, timeout: float = WAIT_TIMEOUT) -> None:
        def loaded(d: Any) -> bool:
            try:
                return d.execute_script("return document.readyState") == "complete"
            except WebDriverException:  # the document went away between polls: poll again
                return False

        self.wait(loaded, timeout, "the page to load")
        self._drain_console()

    @property
    def current_url(self) -> str:
        return self.driver.current_url

    @property
    def path(self) -> str:
        return urlsplit(self.driver.current_url).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.driver.current_url).query)

    def same_origin(self, url: str) -> bool:
        a, b = urlsplit(self.url("/")), urlsplit(urljoin(self.current_url, url))
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    def wait_for_path(self, pattern: str, timeout: float = WAIT_TIMEOUT) -> re.Match:
        """Wait until the current path fully matches the regex ``pattern``."""
        rx = re.compile(pattern)
        self.wait(lambda d: rx.fullmatch(urlsplit(d.current_url).path), timeout, f"a path matching {pattern!r}")
        m = rx.fullmatch(self.path)
        if not m:  # raced with another navigation
            self.fail(f"expected a path matching {pattern!r}")
        return m

    # -- finding things ---------------------------------------------------------------

    def wait(self, cond: Callable[[Any], Any], timeout: float, what: str) -> Any:
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(cond)
        except TimeoutException:
            self.fail(f"timed out after {timeout:.0f}s waiting for {what}")

    def find(self, css: str, timeout: float = WAIT_TIMEOUT, *, visible: bool = False) -> WebElement:
        """The first element matching ``css`` (waits for it to appear)."""
        cond = EC.visibility_of_element_located if visible else EC.presence_of_element_located
        return self.wait(cond((By.CSS_SELECTOR, css)), timeout, f"{'a visible' if visible else 'an'} element {css!r}")

    def find_all(self, css: str, within: Optional[WebElement] = None) -> list[WebElement]:
        """Every element matching ``css`` now (no waiting)."""
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def exists(self, css: str) -> bool:
        return bool(self.find_all(css))

    def text(self, css: str, timeout: float = WAIT_TIMEOUT) -> str:
        """Visible text of the first match, whitespace-collapsed."""
        return " ".join(self.find(css, timeout).text.split())

    def text_content(self, el_or_css: WebElement | str, timeout: float = WAIT_TIMEOUT) -> str:
        """``textContent`` (hidden text too) of an element, whitespace-collapsed."""
        el = self.find(el_or_css, timeout) if isinstance(el_or_css, str) else el_or_css
        return " ".join((self.js("return arguments[0].textContent", el) or "").split())

    def body_text(self) -> str:
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text
        except (NoSuchElementException, WebDriverException):
            return ""

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    # -- forms --------------------------------------------------------------------------

    def fill(self, form_css: str, **values: str) -> WebElement:
        """Type ``values`` into the named fields of ``form_css`` (clearing them
        first; a ``select`` gets the option with that value)."""
        form = self.find(form_css)
        for name, value in values.items():
            fields = self.find_all(f'[name="{name}"]', within=form)
            if not fields:
                self.fail(f"{form_css} has no field named {name!r}")
            el = fields[0]
            if el.tag_name.lower() == "select":
                try:
                    Select(el).select_by_value(value)
                except NoSuchElementException:
                    opts = [o.get_attribute("value") for o in Select(el).options]
                    self.fail(f"{form_css} select {name!r} has no option {value!r} (options: {opts})")
            else:
                self.scroll_to(el)
                el.clear()
                el.send_keys(value)
        return form

    def submit(self, form_css: str, button_css: Optional[str] = None, *, require_button: bool = True) -> "Browser":
        """Click the form's submit button (``button_css`` inside the form, or its
        first submit button) and wait for the page that answers the post.

        With ``require_button=False`` a form without a button is submitted
        the way pressing Enter would (``requestSubmit``)."""
        form = self.find(form_css)
        css = button_css or 'button:not([type]), button[type="submit"], input[type="submit"]'
        buttons = self.find_all(css, within=form)
        if buttons:
            return self.click_and_wait(buttons[0])
        if require_button:
            self.fail(f"{form_css} has no submit button matching {css!r}")
        return self._navigating(lambda: self.js("arguments[0].requestSubmit()", form))

    def click_and_wait(self, el: WebElement) -> "Browser":
        """Click (a link or button) and wait until the next page has loaded."""
        self.scroll_to(el)
        return self._navigating(el.click)

    def _navigating(self, action: Callable[[], Any]) -> "Browser":
        old = self.driver.find_element(By.TAG_NAME, "html")
        action()
        self.wait(_replaced(old), WAIT_TIMEOUT, "a new page after the click")
        self.wait_loaded()
        return self

    def scroll_to(self, el: WebElement) -> None:
        try:
            self.js("arguments[0].scrollIntoView({block: 'center'})", el)
        except (JavascriptException, StaleElementReferenceException):
            pass

    def hidden_value(self, form_css: str, name: str) -> str:
        el = self.find(f'{form_css} [name="{name}"]')
        return el.get_attribute("value") or ""

    # -- cookies -----------------------------------------------------------------------

    def cookie(self, name: str) -> Optional[dict]:
        return self.driver.get_cookie(name)

    def cookie_header(self) -> str:
        """The browser's cookies for the current site, as a ``Cookie`` header."""
        return "; ".join(f"{c['name']}={c['value']}" for c in self.driver.get_cookies())

    # -- console ----------------------------------------------------------------------

    def _drain_console(self) -> None:
        try:
            self.console.extend(self.driver.get_log("browser"))
        except WebDriverException:
            pass

    def console_errors(self) -> list[str]:
        self._drain_console()
        return [e.get("message", "") for e in self.console if e.get("level") in ("SEVERE", "ERROR")]

    def csp_violations(self) -> list[str]:
        """Console messages about something the page's own CSP blocked."""
        self._drain_console()
        return [e.get("message", "") for e in self.console if "Content Security Policy" in e.get("message", "")]

    # -- viewport and screenshots -----------------------------------------------------

    def set_viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Exact CSS viewport (and screenshot size) ``width`` x ``height``;
        ``mobile`` also makes the page honour its ``<meta name=viewport>``."""
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    def screenshot_png(self) -> bytes:
        return self.driver.get_screenshot_as_png()

    def horizontal_overflow(self) -> int:
        """How many CSS pixels the page is wider than the viewport (0 = none)."""
        return int(self.js("return Math.max(0, document.documentElement.scrollWidth - window.innerWidth)"))

    # -- failing usefully --------------------------------------------------------------

    def save_artifacts(self, label: str = "page") -> Optional[Path]:
        """Save a screenshot and the HTML of the current page; return the dir."""
        try:
            self.artifacts_dir.mkdir(parents=True, exist_ok=True)
            self._shots += 1
            stem = self.artifacts_dir / f"{self._shots:02d}-{_safe_name(label)}"
            stem.with_suffix(".png").write_bytes(self.screenshot_png())
            stem.with_suffix(".html").write_text(self.driver.page_source, "utf-8")
            return self.artifacts_dir
        except (OSError, WebDriverException):
            return None

    def describe(self) -> str:
        try:
            url, title = self.driver.current_url, self.driver.title
        except WebDriverException as e:
            return f"(the browser is not answering: {e.msg})"
        text = self.body_text().strip()
        if len(text) > 2500:
            text = text[:2500] + " […]"
        out = f"page {url} (title {title!r}); visible text:\n{text or '(none)'}"
        errors = self.console_errors()
        if errors:
            out += "\nconsole errors:\n" + "\n".join("  " + m for m in errors[-10:])
        return out

    def fail(self, msg: str) -> None:
        where = self.save_artifacts(msg[:60])
        saved = f"\n(screenshot and HTML saved in {where})" if where else ""
        raise AssertionError(f"{msg}\n{self.describe()}{saved}")

    def check(self, cond: Any, msg: str) -> None:
        """``assert`` with the page's description attached."""
        if not cond:
            self.fail(msg)


def _start_chromium(profile_dir: Path, log_path: Path) -> webdriver.Chrome:
    for what, path, pkg in (("Chromium", CHROMIUM, "chromium"), ("chromedriver", CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{what} not found at {path}: `apt-get install {pkg}` (Debian)", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.page_load_strategy = "normal"
    service = Service(executable_path=CHROMEDRIVER, log_output=str(log_path))
    try:
        driver = webdriver.Chrome(options=options, service=service)
    except WebDriverException as e:
        try:
            log = log_path.read_text("utf-8", "replace")[-3000:]
        except OSError:
            log = ""
        pytest.fail(f"could not start Chromium through chromedriver: {e.msg}\nchromedriver log tail:\n{log}", pytrace=False)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
    driver.set_script_timeout(10)
    driver.implicitly_wait(0)
    return driver


@pytest.fixture
def browser(request, tmp_path_factory):
    """A fresh headless Chromium (own profile dir) for this test."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    log_path = profile.parent / (profile.name + "-chromedriver.log")
    driver = _start_chromium(profile, log_path)
    b = Browser(driver, ARTIFACTS_DIR / _safe_name(request.node.name), log_path)
    failed_before = request.session.testsfailed
    try:
        yield b
    finally:
        # the call phase's report is logged before teardown, so a failure
        # of this test already shows in the session's count
        if request.session.testsfailed > failed_before:
            b.save_artifacts("at-teardown")
        try:
            driver.quit()
        except Exception:  # noqa: BLE001 - a dead browser must not mask the test's own error
            pass
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(fn: Callable[[], Any], timeout: float = 5.0, interval: float = 0.2) -> Any:
    """Call ``fn`` until it stops raising AssertionError (last try re-raises)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return fn()
        except AssertionError:
            time.sleep(interval)
    return fn()


__all__: Iterable[str] = ["Browser", "browser", "png_size", "wait_until", "DESKTOP", "MOBILE"]


def _replaced(old: WebElement) -> Callable[[Any], bool]:
    """A wait condition: ``old`` (the previous page's root) is gone.

    Selenium's ``staleness_of`` misses one of chromedriver's answers: while the
    old document is being torn down it can say "unhandled inspector error: Node
    with given id does not belong to the document" instead of "stale element".
    Both mean the page was replaced."""

    def check(_driver: Any) -> bool:
        try:
            old.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as e:
            if "does not belong to the document" in str(e):
                return True
            raise

    return check
