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
  ``_config.yml``;
- no page carries saved widget state (which would load a widget manager from a CDN).

The chapters with a live explorer (``EXPLORERS``) are also opened from ``file://``, offline, as a
reader opens a downloaded copy: the explorer draws, follows its sliders, select lists and typed
text, its bars sum to 1, top-k = 1 gives the greedy continuation that PyTorch computes from the
weights the page carries, and nothing is logged to the console. The test prints what each page
loads for its explorer and how fast it answers.

The browser is kept off the network (every host but 127.0.0.1 fails to resolve), so the check is
the same on a machine with and without internet and no test downloads anything.

Switch: ``pytest --book-html PATH`` checks the build at PATH and fails if it is missing or no
browser is installed; without the option the check runs on ``_build/html`` when it and a browser
exist, and is skipped with the reason otherwise. The browser is Debian's ``chromium`` and
``chromedriver`` (``apt-get install chromium chromium-driver``) unless ``ARBOOK_CHROMIUM`` and
``ARBOOK_CHROMEDRIVER`` name others.
"""

from __future__ import annotations

import base64
import functools
import html.parser
import http.server
import json
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


_LOCAL = r"(?:http://127\.0\.0\.1:\d+|file://)"  # served, or opened from a file
_OFFLINE = r" - Failed to load resource: net::ERR_NAME_NOT_RESOLVED"
ALLOWED = (
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
    if "application/vnd.jupyter.widget-state+json" in (book.root / page).read_text():
        problems.append("saved widget state in the page (arbook/book.py leaves it out)")

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
            "message": "http://127.0.0.1:8000/favicon.ico - Failed to load resource: the server "
            "responded with a status of 404 (File not found)",
        },
        # A script from a CDN (the ipywidgets manager the book no longer loads) fails offline: the
        # book's problem.
        {
            "level": "SEVERE",
            "message": "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.4/require.min.js"
            + _OFFLINE,
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


# ---------------------------------------------------------------------------------------------
# The explorers, live in the built pages

#: Chapters with a live explorer, and which one.
EXPLORERS = {"book/sampling": "sampling", "book/gpt": "sampling", "book/made": "masks"}

_WAIT_FOR = """
const [selector, done] = [arguments[0], arguments[arguments.length - 1]];
const start = Date.now();
const wait = () => {
  if (document.querySelector(selector)) return done(true);
  if (Date.now() - start > 30000) return done(false);
  setTimeout(wait, 20);
};
wait();
"""

_SAMPLING_STATE = """
const root = document.querySelector('.arbook-sampling');
const charts = [...root.querySelectorAll('.x-chart')].map((chart) => ({
  title: chart.querySelector('.x-chart-title').textContent,
  bars: [...chart.querySelectorAll('.x-bar')].map((b) => ({
    p: Number(b.dataset.p), index: Number(b.dataset.index), chosen: b.classList.contains('x-chosen'),
  })),
}));
const spans = [...root.querySelectorAll('.x-text span')];
return {
  charts,
  prompt: spans.filter((s) => s.classList.contains('x-prompt')).length,
  generated: spans.filter((s) => s.classList.contains('x-generated')).length,
  status: root.querySelector('.x-status').textContent,
  step: Number(root.dataset.step),
  msPerSymbol: Number(root.querySelector('.x-note').dataset.msPerSymbol),
};
"""

_SET_CONTROL = """
const [name, value, event] = arguments;
const input = document.querySelector(`.arbook-x [name=${name}]`);
input.value = value;
input.dispatchEvent(new Event(event));
"""


def _type(box, text: str) -> None:
    """Type ``text`` over what the field holds, as a reader does, and leave the field."""
    from selenium.webdriver.common.keys import Keys

    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text)
    box.send_keys(Keys.TAB)


def _explorer_values(driver) -> dict:
    """The settings and weights the page carries for its explorer."""
    text = driver.execute_script(
        "return document.querySelector('.arbook-explorer + script[type=\"application/json\"]')"
        ".textContent"
    )
    return json.loads(text)


def _explorer_bytes(driver) -> int:
    """What the page holds for its explorer: the element, its values and its script."""
    return driver.execute_script(
        "const el = document.querySelector('.arbook-explorer');"
        "const values = el.nextElementSibling, script = values.nextElementSibling;"
        "return new Blob([el.outerHTML, values.outerHTML, script.outerHTML]).size;"
    )


def _check_sampling(browser, values) -> dict:
    import torch

    from arbook.export import imported

    d = browser.driver
    state = d.execute_script(_SAMPLING_STATE)
    for chart in state["charts"]:
        assert abs(sum(b["p"] for b in chart["bars"]) - 1) < 1e-9, chart["title"]
        assert sum(b["chosen"] for b in chart["bars"]) == 1
    # a slider: the filtered bars follow the temperature
    d.execute_script(_SET_CONTROL, "temperature", "1.5", "input")
    hot = d.execute_script(_SAMPLING_STATE)
    assert "temperature 1.5" in hot["charts"][1]["title"]
    assert abs(sum(b["p"] for b in hot["charts"][1]["bars"]) - 1) < 1e-9
    # a typed prompt
    header = values["header"]
    symbols = header["symbols"]
    prompt = "jo" if "\n" not in symbols else "ROMEO:\n"
    box = d.find_element("css selector", ".arbook-x [name=prompt]")
    _type(box, prompt)
    typed = d.execute_script(_SAMPLING_STATE)
    assert typed["prompt"] == len(prompt) and typed["generated"] >= 1
    # a reader's error: a symbol the model does not know
    _type(box, "\u00e6")
    refused = d.execute_script(_SAMPLING_STATE)
    assert refused["status"].startswith("error:") and refused["prompt"] == len(prompt)
    _type(box, prompt)
    # top-k = 1: every step keeps one symbol, the most probable, and the text is the greedy
    # continuation PyTorch computes from the weights the page holds
    d.execute_script(_SET_CONTROL, "top_k", "1", "input")
    greedy = d.execute_script(_SAMPLING_STATE)
    for step in range(greedy["generated"]):
        d.execute_script(
            "document.querySelector(`.x-generated[data-step='${arguments[0]}']`).click()", step
        )
        now = d.execute_script(_SAMPLING_STATE)
        assert now["step"] == step
        before, after = now["charts"][0]["bars"], now["charts"][1]["bars"]
        chosen = next(b for b in before if b["chosen"])
        assert chosen["p"] == max(b["p"] for b in before)
        assert [b["p"] for b in after if b["p"] > 0] == [1.0]
    text = d.execute_script(
        "return [...document.querySelectorAll('.arbook-sampling .x-text span')]"
        ".map((s) => s.textContent).join('')"
    )
    model = imported(header, base64.b64decode(values["weights"]["base64"]))
    codes = torch.tensor([symbols.index(c) for c in prompt])
    with torch.no_grad():
        expected = model.sample(1, prompt=codes, length=values["length"], greedy=True)[0]
    shown = {"\u2423": " ", "\u21b5": "\n", "\u21e5": "\t"}
    page_text = "".join(shown.get(c, c) for c in text)
    expected_text = "".join(symbols[i] for i in expected.tolist())
    assert expected_text.startswith(page_text), (page_text, expected_text)
    assert len(page_text) == len(expected_text) or page_text.endswith(symbols[model.stop_index])
    # time per symbol: ten texts of other seeds, top-k off
    d.execute_script(_SET_CONTROL, "top_k", "0", "input")
    times = []
    for seed in range(1, 11):
        d.execute_script(_SET_CONTROL, "seed", str(seed), "change")
        times.append(d.execute_script(_SAMPLING_STATE)["msPerSymbol"])
    return {"ms per symbol (median of 10 texts)": sorted(times)[5]}


def _check_masks(browser) -> dict:
    d = browser.driver
    d.execute_script(_SET_CONTROL, "num_inputs", "8", "input")
    cells = d.execute_script(
        "return [...document.querySelectorAll('.x-connectivity .x-cell')]"
        ".map((c) => [Number(c.dataset.paths), c.classList.contains('x-forbidden')])"
    )
    assert len(cells) == 64
    assert all(paths == 0 for paths, forbidden in cells if forbidden), "causal"

    def status() -> str:
        return d.execute_script(
            "return document.querySelector('.arbook-masks .x-status').textContent"
        )

    assert ": causal;" in status()
    box = d.find_element("css selector", ".arbook-x [name=hidden_sizes]")
    _type(box, "4")
    grids = d.execute_script("return document.querySelectorAll('.arbook-masks .x-grid').length")
    assert grids == 3, "one hidden layer: two masks and the connectivity"
    d.execute_script(_SET_CONTROL, "order", "reversed", "change")
    assert status().startswith("order [7, 6, 5, 4, 3, 2, 1, 0]: causal;")
    _type(box, "4, x")
    assert status().startswith("error:") and grids == 3
    return {}


@pytest.mark.parametrize("docname", sorted(EXPLORERS))
def test_explorer_is_live_in_the_page_from_a_file(docname, book, browser):
    """The chapter's explorer, opened from file:// with no network (module docstring)."""
    page = book.root / f"{docname}.html"
    d = browser.driver
    d.get_log("browser")  # what earlier pages logged
    d.get(page.resolve().as_uri())
    kind = EXPLORERS[docname]
    assert d.execute_async_script(_WAIT_FOR, f".arbook-{kind} .x-grid, .arbook-{kind} .x-bar"), (
        "the explorer did not draw"
    )
    first = d.execute_script(
        "const r = document.querySelector('.arbook-x');"
        "return Number(r.dataset.firstBarsMs || r.dataset.firstDrawMs);"
    )
    values = _explorer_values(d)
    report = {
        "bytes for the explorer": _explorer_bytes(d),
        "page bytes": page.stat().st_size,
        "ms from page load to the first drawing": round(first, 1),
    }
    if kind == "sampling":
        report |= _check_sampling(browser, values)
        report["weights"] = f"{values['header']['model']} {values['header']['dtype']}"
    else:
        report |= _check_masks(browser)
    errors, _ = unexpected_console_errors(d.get_log("browser"))
    assert errors == []
    print(f"\n{docname}: " + ", ".join(f"{k} {v}" for k, v in report.items()))
