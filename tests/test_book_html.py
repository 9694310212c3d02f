"""The built book, checked the way a reader sees it: every page of ``_toc.yml`` is opened in
headless Chromium, served over HTTP from ``_build/html``.

For every page (the landing page, each chapter, the back matter):

- it loads with no console error (severity SEVERE), apart from the few named in ``ALLOWED``,
  each with its reason and reported as a warning when it occurs;
- every image in the article has loaded (``naturalWidth > 0``), and a chapter whose code plots
  has its figures;
- every math element is typeset by MathJax (served from the book itself) without a TeX error;
- every relative link, image, script and stylesheet points at a file of the build, and every
  ``#fragment`` at an element of the target page;
- a chapter notebook links to its notebook in Colab, at the repository and branch of
  ``_config.yml``.

The browser is kept off the network (every host but 127.0.0.1 fails to resolve), so the check is
the same on a machine with and without internet and no test downloads anything.

Switch: ``pytest --book-html PATH`` checks the build at PATH and fails if it is missing or no
browser is installed; without the option the check runs on ``_build/html`` when it and a browser
exist, and is skipped with the reason otherwise. The browser is Debian's ``chromium`` and
``chromedriver`` (``apt-get install chromium chromium-driver``) unless ``ARBOOK_CHROMIUM`` and
``ARBOOK_CHROMEDRIVER`` name others.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import posixpath
import re
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# What the book should contain, read from its own configuration


def toc_pages(repo: Path = REPO) -> list[str]:
    """Document names of every page in ``_toc.yml``, root first: ``["book/intro", ...]``."""
    toc = yaml.safe_load((repo / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                pages.append(entry["file"])
            for key in ("chapters", "sections", "parts"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return pages


def colab_url(docname: str, repo: Path = REPO) -> str:
    """The Colab link the rocket menu of notebook page ``docname`` must carry."""
    config = yaml.safe_load((repo / "_config.yml").read_text())
    base = config["launch_buttons"]["colab_url"].rstrip("/")
    github = config["repository"]["url"].removeprefix("https://github.com/").strip("/")
    branch = config["repository"].get("branch", "main")
    book_path = (config["repository"].get("path_to_book") or "").strip("/")
    path = posixpath.join(book_path, f"{docname}.ipynb")
    return f"{base}/github/{github}/blob/{branch}/{path}"


def notebook_plots(notebook: Path) -> bool:
    """Whether a chapter's code draws figures (so its page must show some)."""
    nb = nbformat.read(notebook, as_version=4)
    return any(
        "plt." in cell.source or "plots." in cell.source
        for cell in nb.cells
        if cell.cell_type == "code"
    )


# ---------------------------------------------------------------------------------------------
# Static checks of the HTML files: links, anchors, the Colab link

_URL_ATTRIBUTES = {
    "a": "href",
    "link": "href",
    "img": "src",
    "script": "src",
    "iframe": "src",
    "source": "src",
}


class _PageParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str]] = []  # (tag, url)
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if values.get(key):
                self.ids.add(values[key])
        attribute = _URL_ATTRIBUTES.get(tag)
        if attribute and values.get(attribute) is not None:
            self.urls.append((tag, values[attribute]))


@functools.lru_cache(maxsize=256)
def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def _is_external(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.scheme) or url.startswith("//")


def broken_links(root: Path, page: str) -> list[str]:
    """Every relative URL of ``root/page`` that names no file of the build, or a ``#fragment``
    that names no element of its target page. External URLs (with a scheme) are not followed."""
    root = root.resolve()
    problems = []
    for tag, url in _parse(root / page).urls:
        if _is_external(url):
            continue
        parts = urlsplit(url)
        target = page
        if parts.path:
            target = posixpath.normpath(
                posixpath.join(posixpath.dirname(page), unquote(parts.path))
            )
        file = (root / target).resolve()
        if file.is_dir():
            file = file / "index.html"
        if not file.is_relative_to(root):
            problems.append(f"<{tag}> {url!r} points outside the build")
            continue
        if not file.is_file():
            problems.append(f"<{tag}> {url!r}: no file {target}")
            continue
        fragment = unquote(parts.fragment)
        if fragment and file.suffix == ".html" and fragment not in _parse(file).ids:
            problems.append(f"<{tag}> {url!r}: no element with id {fragment!r} in {target}")
    return problems


def colab_problems(root: Path, page: str, expected: str | None) -> list[str]:
    """The Colab links of a page must be exactly ``expected`` (``None``: no Colab link)."""
    found = {url for tag, url in _parse(root / page).urls if "colab.research.google.com" in url}
    if expected is None:
        return [f"unexpected Colab link {url}" for url in sorted(found)]
    if not found:
        return [f"no Colab link (expected {expected})"]
    return [f"Colab link {url} (expected {expected})" for url in sorted(found - {expected})]


# ---------------------------------------------------------------------------------------------
# The browser


@dataclass(frozen=True)
class Allowance:
    """A console error that is not the book's to fix, matched exactly, with the reason."""

    pattern: re.Pattern
    reason: str


_LOCAL = r"http://127\.0\.0\.1:\d+"
_OFFLINE = r" - Failed to load resource: net::ERR_NAME_NOT_RESOLVED"
ALLOWED = (
    Allowance(
        re.compile(
            rf"https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[\d.]+/require\.min\.js{_OFFLINE}"
        ),
        "require.js for the saved ipywidgets views comes from cdnjs; the test browser is offline "
        "(the published page loads it; the widgets are live only in Jupyter or Colab anyway)",
    ),
    Allowance(
        re.compile(
            rf"https://cdn\.jsdelivr\.net/npm/@jupyter-widgets/html-manager@[\d.]+/dist/embed-amd\.js{_OFFLINE}"
        ),
        "the ipywidgets HTML manager comes from jsDelivr; the test browser is offline",
    ),
    Allowance(
        re.compile(rf"{_LOCAL}/favicon\.ico - Failed to load resource: .* 404 .*"),
        "the browser asks the server root for /favicon.ico by itself; the book sets no favicon",
    ),
    Allowance(
        re.compile(
            rf"{_LOCAL}/\S+\.html \d+:\d+ Uncaught SyntaxError: Identifier 'THEBE_JS_URL' has "
            "already been declared"
        ),
        "sphinx-thebe's configuration snippet is written twice into every page by the Jupyter "
        "Book 1 toolchain; only the unused Thebe live-code button depends on it",
    ),
    Allowance(
        re.compile(
            rf'{_LOCAL}/_static/scripts/pydata-sphinx-theme\.js\S* \d+:\d+ "Got invalid theme '
            r'mode: \. Resetting to auto\."'
        ),
        "pydata-sphinx-theme on a reader's first visit (no stored light/dark mode); "
        "`sphinx: config: html_context: {default_mode: auto}` in _config.yml avoids it",
    ),
)


def unexpected_console_errors(
    entries: list[dict], allowed: tuple[Allowance, ...] = ALLOWED
) -> tuple[list[str], list[Allowance]]:
    """Split browser log entries into the SEVERE ones nothing allows, and the allowances used."""
    errors, used = [], []
    for entry in entries:
        if entry.get("level") != "SEVERE":
            continue
        message = entry.get("message", "")
        allowance = next((a for a in allowed if a.pattern.fullmatch(message)), None)
        if allowance is None:
            errors.append(message)
        else:
            used.append(allowance)
    return errors, used


def find_browser() -> tuple[str | None, str | None, str]:
    """(chromium, chromedriver, why not) for the browser check."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return None, None, "selenium is not installed (pip install -r requirements.txt)"
    chromium = os.environ.get("ARBOOK_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("ARBOOK_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver:
        return None, None, "no chromium/chromedriver (apt-get install chromium chromium-driver)"
    return chromium, driver, ""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass

    def handle(self) -> None:
        # The browser may close a connection mid-answer (a 404 it no longer wants).
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            pass


@dataclass
class Served:
    root: Path
    base: str  # "http://127.0.0.1:PORT/"


def serve(root: Path) -> Iterator[Served]:
    """Serve ``root`` over HTTP on a free loopback port for as long as the generator lives."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(root, f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()


_INSPECT = """
const done = arguments[arguments.length - 1];
const typeset = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
Promise.resolve(typeset).catch((e) => e).then(async () => {
  const images = [...document.querySelectorAll("article img")];
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  const math = [...document.querySelectorAll("span.math, div.math")];
  done({
    url: location.href,
    images: images.map((img) => ({src: img.getAttribute("src"), width: img.naturalWidth})),
    math: math.length,
    untypeset: math.filter((el) => !el.querySelector("mjx-container")).length,
    texErrors: document.querySelectorAll("mjx-merror").length,
    mathjax: Boolean(typeset),
  });
});
"""


class Browser:
    """Headless Chromium, offline but for 127.0.0.1, that opens a page and reports on it."""

    def __init__(self, chromium: str, driver: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self._profile = tempfile.mkdtemp(prefix="arbook-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for argument in (
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,1600",
            f"--user-data-dir={self._profile}",
            # Offline: every host but the local server fails to resolve.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        # The driver's path is given, so Selenium Manager never looks for (or downloads) one.
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=driver))
        self.driver.set_page_load_timeout(60)
        self.driver.set_script_timeout(60)

    def open(self, url: str, wait_for_url: str | None = None) -> tuple[dict, list[dict]]:
        """Load ``url`` (and wait until the address ends with ``wait_for_url``, for redirects);
        return what the page shows and the browser log since the last call."""
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get(url)
        if wait_for_url:
            WebDriverWait(self.driver, 20).until(lambda d: d.current_url.endswith(wait_for_url))
        report = self.driver.execute_async_script(_INSPECT)
        return report, self.driver.get_log("browser")

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self._profile, ignore_errors=True)


def page_problems(
    report: dict, log: list[dict], *, needs_figures: bool, allowed=ALLOWED
) -> tuple[list[str], list[Allowance]]:
    """What is wrong with a page as the browser showed it."""
    problems, used = unexpected_console_errors(log, allowed)
    problems = [f"console error: {message}" for message in problems]
    for image in report["images"]:
        if not image["width"]:
            problems.append(f"image did not load: {image['src']}")
    if needs_figures and not any("_images/" in (i["src"] or "") for i in report["images"]):
        problems.append("no figures, although the chapter's code plots")
    if report["math"] and not report["mathjax"]:
        problems.append(f"{report['math']} math elements but MathJax did not start")
    elif report["untypeset"]:
        problems.append(f"{report['untypeset']} of {report['math']} math elements not typeset")
    if report["texErrors"]:
        problems.append(f"{report['texErrors']} TeX errors in typeset math")
    return problems, used


# ---------------------------------------------------------------------------------------------
# Fixtures: which build, which browser, and whether missing ones fail or skip


@pytest.fixture(scope="module")
def forced(request) -> bool:
    return request.config.getoption("--book-html") is not None


@pytest.fixture(scope="module")
def browser(forced) -> Iterator[Browser]:
    chromium, driver, why = find_browser()
    if chromium is None:
        if forced:
            pytest.fail(f"--book-html asks for the browser check, but {why}")
        pytest.skip(why)
    b = Browser(chromium, driver)
    yield b
    b.close()


@pytest.fixture(scope="module")
def book(request, forced) -> Iterator[Served]:
    option = request.config.getoption("--book-html")
    root = Path(option) if forced else REPO / "_build" / "html"
    if not (root / "index.html").is_file():
        if forced:
            pytest.fail(f"--book-html {option}: no built book there (no index.html)")
        pytest.skip(
            "no built book at _build/html: build it (jupyter-book build . -W), "
            "then run pytest tests/test_book_html.py --book-html _build/html"
        )
    yield from serve(root.resolve())


@pytest.fixture(scope="module")
def allowances_report() -> Iterator[dict]:
    """Collects the allowed console errors met, and reports each once, as a warning."""
    met: dict[Allowance, set[str]] = {}
    yield met
    for allowance, pages in met.items():
        warnings.warn(
            f"allowed console error on {len(pages)} page(s) ({', '.join(sorted(pages))}): "
            f"{allowance.reason}",
            UserWarning,
            stacklevel=1,
        )


# ---------------------------------------------------------------------------------------------
# The real book


@pytest.mark.parametrize("docname", ["index", *toc_pages()])
def test_built_page(docname, book, browser, allowances_report):
    """One page of the built book, in the browser and on disk (see the module docstring)."""
    page = f"{docname}.html"
    if not (book.root / page).is_file():
        pytest.fail(f"{page} was not built (is the build older than _toc.yml?)")
    problems = [f"link {p}" for p in broken_links(book.root, page)]

    notebook = REPO / f"{docname}.ipynb"
    if docname != "index":
        expected = colab_url(docname) if notebook.is_file() else None
        problems += colab_problems(book.root, page, expected)

    # index.html sends the reader on to the book's first page.
    wait_for = f"{toc_pages()[0]}.html" if docname == "index" else None
    report, log = browser.open(book.base + page, wait_for_url=wait_for)
    found, used = page_problems(
        report, log, needs_figures=notebook.is_file() and notebook_plots(notebook)
    )
    problems += found
    for allowance in used:
        allowances_report.setdefault(allowance, set()).add(docname)
    assert not problems, f"{page}:\n  " + "\n  ".join(problems)


def test_toc_lists_every_chapter():
    """The pages the check visits are the book's: every notebook in book/ is in _toc.yml."""
    pages = toc_pages()
    assert pages[0] == "book/intro"
    assert "book/bibliography" in pages
    for notebook in sorted((REPO / "book").glob("*.ipynb")):
        assert f"book/{notebook.stem}" in pages, f"{notebook.name} is not in _toc.yml"


def test_colab_url_of_a_chapter():
    assert colab_url("book/chain_rule") == (
        "https://colab.research.google.com/github/arbook-dev/arbook/blob/main/book/chain_rule.ipynb"
    )


# ---------------------------------------------------------------------------------------------
# The checks themselves fail when they should: a tiny fake build with known faults


def _fake_build(root: Path) -> None:
    """good.html is correct; the others each carry faults the checks must report."""
    (root / "book").mkdir(parents=True)
    (root / "_images").mkdir()
    plt.imsave(root / "_images" / "fig.png", np.arange(12.0).reshape(3, 4))
    (root / "_images" / "broken.png").write_bytes(b"not a png")
    colab = "https://colab.research.google.com/github/arbook-dev/arbook/blob/main/book/good.ipynb"
    (root / "book" / "good.html").write_text(
        f"""<html><body><article>
        <h1 id="top">Good</h1><img src="../_images/fig.png">
        <a href="#top">up</a> <a href="other.html#part">other</a> <a href="https://example.org">x</a>
        <a href="{colab}">Colab</a>
        </article></body></html>"""
    )
    (root / "book" / "other.html").write_text('<html><body><p id="part">x</p></body></html>')
    (root / "book" / "bad.html").write_text(
        """<html><body><article>
        <img src="../_images/broken.png"> <img src="../_images/missing.png">
        <a href="#nowhere">a</a> <a href="other.html#nowhere">b</a> <a href="gone.html">c</a>
        <a href="../../outside.html">d</a>
        <a href="https://colab.research.google.com/github/someone/else/blob/main/book/bad.ipynb">C</a>
        <span class="math">\\(x_1\\)</span>
        <script>undefinedFunction();</script>
        </article></body></html>"""
    )


def test_link_checker_reports_every_broken_link(tmp_path):
    _fake_build(tmp_path)
    assert broken_links(tmp_path, "book/good.html") == []
    assert broken_links(tmp_path, "book/bad.html") == [
        "<img> '../_images/missing.png': no file _images/missing.png",
        "<a> '#nowhere': no element with id 'nowhere' in book/bad.html",
        "<a> 'other.html#nowhere': no element with id 'nowhere' in book/other.html",
        "<a> 'gone.html': no file book/gone.html",
        "<a> '../../outside.html' points outside the build",
    ]


def test_colab_check_reports_a_wrong_or_missing_link(tmp_path):
    _fake_build(tmp_path)
    good = "https://colab.research.google.com/github/arbook-dev/arbook/blob/main/book/good.ipynb"
    assert colab_problems(tmp_path, "book/good.html", good) == []
    assert colab_problems(tmp_path, "book/other.html", None) == []
    assert colab_problems(tmp_path, "book/other.html", good) == [f"no Colab link (expected {good})"]
    wrong = colab_problems(tmp_path, "book/bad.html", good.replace("good", "bad"))
    assert len(wrong) == 1 and "someone/else" in wrong[0]
    assert colab_problems(tmp_path, "book/good.html", None) == [f"unexpected Colab link {good}"]


def test_console_filter_allows_only_named_errors():
    log = [
        {"level": "INFO", "message": "anything"},
        {
            "level": "SEVERE",
            "message": "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js"
            + _OFFLINE,
        },
        # The same failure on another host, or for MathJax, is the book's problem.
        {
            "level": "SEVERE",
            "message": "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js" + _OFFLINE,
        },
        {
            "level": "SEVERE",
            "message": "http://127.0.0.1:8000/book/x.html 3:1 Uncaught ReferenceError: f",
        },
    ]
    errors, used = unexpected_console_errors(log)
    assert errors == [log[2]["message"], log[3]["message"]]
    assert used == [ALLOWED[0]]


def test_browser_check_reports_a_broken_page(tmp_path, browser):
    _fake_build(tmp_path)
    for served in serve(tmp_path):
        report, log = browser.open(served.base + "book/good.html")
        assert page_problems(report, log, needs_figures=True)[0] == []

        report, log = browser.open(served.base + "book/bad.html")
        problems, _ = page_problems(report, log, needs_figures=True)
    joined = "\n".join(problems)
    assert "console error:" in joined and "undefinedFunction" in joined
    assert "image did not load: ../_images/broken.png" in problems
    assert "image did not load: ../_images/missing.png" in problems
    assert "no figures" not in joined  # its images are figures, if broken ones
    assert "1 math elements but MathJax did not start" in problems
