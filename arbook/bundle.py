"""The explorers' JavaScript as one file: for anywidget in Jupyter, and inline in the book's pages.

The explorers are ES modules in ``arbook/js`` that import each other (``sampling_explorer.mjs``
imports the inference core ``core.mjs`` and the controls of ``ui.mjs``). Jupyter's anywidget
takes one module as text, and a page opened from ``file://`` cannot load modules from files at
all (the browser refuses them to pages without an origin), so both get the explorer as one
text: :func:`bundle` writes its local imports into it, each file once, before the file that
imports it. The files are the package's own and follow two rules the bundler checks: an import
is one line ``import { a, b } from "./file.mjs";``, and no two files declare the same
top-level name.

:func:`static_html` is what a chapter's explorer shows in the built book: the explorer's element,
its settings and weights as JSON (bytes in base64), and a classic script that renders it with a
small stand-in for the widget model (``page.mjs``). It needs no server, no network and no
kernel: the page works offline and from ``file://``.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from pathlib import Path
from typing import Any

#: The folder of the JavaScript files.
JS = Path(__file__).resolve().parent / "js"
#: The key of a widget output's metadata that holds its markup for static pages (what
#: :mod:`arbook.book` writes into the book's pages where the widget was).
STATIC_HTML = "arbook/static-html"

_IMPORT = re.compile(r'^import \{([^}]*)\} from "\./([\w.-]+\.mjs)";[ \t]*\n', re.MULTILINE)
_OTHER_IMPORT = re.compile(r"^\s*import\b|\bimport\(", re.MULTILINE)
_EXPORT = re.compile(r"^export (?=(?:async )?function\b|const\b|let\b|class\b)", re.MULTILINE)
_DEFAULT = re.compile(r"^export default\b", re.MULTILINE)
_DECLARED = re.compile(
    r"^(?:export )?(?:async )?(?:function\*?|const|let|class)\s+([A-Za-z_$][\w$]*)", re.MULTILINE
)


def _read(name: str) -> str:
    path = JS / name
    if not path.is_file():
        raise FileNotFoundError(f"no JavaScript file {name} in {JS}")
    return path.read_text()


def _files(entry: str) -> list[str]:
    """``entry`` and the files it imports, each once, every file after those it imports."""
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in chain:
            raise ValueError(f"import cycle: {' -> '.join((*chain, name))}")
        if name in order:
            return
        for match in _IMPORT.finditer(_read(name)):
            visit(match.group(2), (*chain, name))
        order.append(name)

    visit(entry, ())
    return order


def _joined(names: list[str], entry: str, *, module: bool = True) -> str:
    """The files' sources one after another, local imports removed and every ``export``
    keyword dropped but the entry's (all of them for a classic script, ``module=False``, which
    keeps only the entry's ``export default``); raises ValueError where the rules above are
    broken."""
    declared: dict[str, str] = {}
    parts = []
    for name in names:
        source = _IMPORT.sub("", _read(name))
        if _OTHER_IMPORT.search(source):
            raise ValueError(
                f'{name}: imports must be single lines `import {{ a, b }} from "./file.mjs";`'
            )
        if name != entry:
            if _DEFAULT.search(source):
                raise ValueError(f"{name} has a default export but is imported by {entry}")
        if name != entry or not module:
            source = _EXPORT.sub("", source)
        for declaration in _DECLARED.findall(source):
            if declaration in declared:
                raise ValueError(
                    f"{declaration!r} is declared in both {declared[declaration]} and {name}"
                )
            declared[declaration] = name
        parts.append(f"// ---- arbook/js/{name}\n{source.strip()}\n")
    return "\n".join(parts)


@functools.cache
def bundle(entry: str) -> str:
    """The ES module ``arbook/js/<entry>`` with the files it imports written into it: one
    self-contained module (what anywidget's ``_esm`` takes)."""
    return _joined(_files(entry), entry)


@functools.cache
def classic(entry: str) -> str:
    """``entry`` bundled with ``page.mjs`` as a classic script expression: a function
    ``mount(id)`` that renders the explorer in the element ``id`` (see :func:`static_html`)."""
    page = _files("page.mjs")
    names = page + [n for n in _files(entry) if n not in page]
    source = _joined(names, entry, module=False)
    if len(_DEFAULT.findall(source)) != 1:
        raise ValueError(f"{entry} must have exactly one `export default`")
    source = _DEFAULT.sub("const explorer =", source)
    return f"(function () {{\n{source}\nreturn (id) => mount(explorer, id);\n}})()"


def _script_text(text: str) -> str:
    """``text`` made safe inside a ``<script>`` element (no ``</script`` can end it early)."""
    return text.replace("</", "<\\/")


def static_html(entry: str, element_id: str, values: dict[str, Any], *, fallback: str = "") -> str:
    """The markup that shows the explorer ``entry`` in a static HTML page, with ``values`` as
    its settings (``bytes`` values are written in base64). ``fallback`` is the text shown where
    JavaScript is off. Each page loads the explorer's code once, however many it shows."""
    if not re.fullmatch(r"[A-Za-z][\w-]*", element_id):
        raise ValueError(f"element_id must be a plain HTML id, got {element_id!r}")
    plain = {
        name: {"base64": base64.b64encode(value).decode()}
        if isinstance(value, (bytes, bytearray, memoryview))
        else value
        for name, value in values.items()
    }
    key = re.sub(r"\W", "_", entry.removesuffix(".mjs"))
    script = (
        "(function () {\n"
        "  const explorers = (window.arbookExplorers = window.arbookExplorers || {});\n"
        f"  if (!explorers.{key}) explorers.{key} = {classic(entry)};\n"
        f'  explorers.{key}("{element_id}");\n'
        "})();"
    )
    return (
        f'<div class="arbook-explorer" id="{element_id}" data-explorer="{key}">'
        f"<noscript>{fallback}</noscript></div>\n"
        f'<script type="application/json" id="{element_id}-values">'
        f"{_script_text(json.dumps(plain))}</script>\n"
        f"<script>{_script_text(script)}</script>\n"
    )


__all__ = ["JS", "STATIC_HTML", "bundle", "classic", "static_html"]
