"""The portal's pages: markdown sources shipped with the package, plus generated sections.

One source feeds three outputs: the HTML pages under ``/developers/``, each page's markdown
(``/developers/<slug>.md``) and the two files agents read, ``/llms.txt`` and ``/llms-full.txt``.
Two sections are generated rather than written, so they cannot drift from the code: the error
codes (from every ``AppError`` class the app has loaded) and the settings table (from
``Settings``). A source marks where they go with ``<!-- generated: errors -->`` and
``<!-- generated: settings -->``.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from projekt.config import Settings
from projekt.core.errors import all_error_classes

# The portal's pages in reading order: (slug, source file). The first is /developers/ itself.
# A feature being built joins this list when it ships; PLANNED names it on the overview
# until then, without documenting it.
PAGES: tuple[tuple[str, str], ...] = (
    ("index", "index.md"),
    ("quickstart", "quickstart.md"),
    ("authentication", "authentication.md"),
    ("org-binding", "org-binding.md"),
    ("errors", "errors.md"),
    ("rate-limits", "rate-limits.md"),
    ("pagination", "pagination.md"),
    ("conditional-requests", "conditional-requests.md"),
    ("idempotency", "idempotency.md"),
    ("changes-feed", "changes-feed.md"),
    ("webhooks", "webhooks.md"),
    ("mcp", "mcp.md"),
    ("self-hosting", "self-hosting.md"),
    ("changelog", "changelog.md"),
)
PLANNED: tuple[str, ...] = ()

_GENERATED = re.compile(r"<!-- generated: (\w+) -->")


@dataclass(frozen=True, slots=True)
class Page:
    slug: str
    title: str
    summary: str  # the first paragraph: the page's line in /llms.txt
    markdown: str  # the source with its generated sections filled in

    @property
    def path(self) -> str:
        return "/developers/" if self.slug == "index" else f"/developers/{self.slug}.html"

    @property
    def markdown_path(self) -> str:
        return f"/developers/{self.slug}.md"


def _source(name: str) -> str:
    return resources.files("projekt.developers").joinpath("pages", name).read_text("utf-8")


def load_pages() -> list[Page]:
    """Every page, generated sections filled in (call once the app has loaded its domains)."""
    pages = []
    for slug, name in PAGES:
        text = _GENERATED.sub(lambda m: _generate(m.group(1)), _source(name))
        title, summary = _title_and_summary(text)
        pages.append(Page(slug, title, summary, text))
    return pages


def _title_and_summary(text: str) -> tuple[str, str]:
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise ValueError("a portal page starts with its '# Title' line")
    paragraphs = [p.strip() for p in "\n".join(lines[1:]).split("\n\n") if p.strip()]
    return lines[0][2:].strip(), " ".join(paragraphs[0].split()) if paragraphs else ""


def _generate(what: str) -> str:
    if what == "errors":
        return errors_table()
    if what == "settings":
        return settings_table()
    raise ValueError(f"unknown generated section: {what}")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def errors_table() -> str:
    """Every error code the server can answer, one row per class, by status then code."""
    rows = ["| HTTP | `code` | Meaning |", "|---|---|---|"]
    seen: set[str] = set()
    for cls in all_error_classes():
        if cls.code in seen:
            continue
        seen.add(cls.code)
        rows.append(f"| {cls.status} | `{cls.code}` | {_cell(cls.message)} |")
    return "\n".join(rows)


def settings_table() -> str:
    """Every setting: its variable, type, default and bounds, from the Settings class."""
    rows = ["| Variable | Type | Default | Allowed |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        env = f"PROJEKT_{name.upper()}"
        rows.append(
            f"| `{env}` | {_cell(_type_name(field.annotation))} | {_cell(_default(field))} "
            f"| {_cell(_bounds(field))} |"
        )
    return "\n".join(rows)


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{value}`" for value in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if origin is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])} (JSON)"
    if annotation is type(None):
        return "unset"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != [] else "`[]`"


def _bounds(field: FieldInfo) -> str:
    found = []
    for item in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(item, attr, None)
            if value is not None:
                found.append(f"{sign} {value}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            found.append(f"matches `{pattern}`")
    return ", ".join(found)


# -- rendering ----------------------------------------------------------------------------------


@cache
def _parser() -> MarkdownIt:
    # CommonMark plus tables; raw HTML in a source is shown as text, never passed through.
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def render(page: Page) -> str:
    """The page's HTML body; headings get ids so that links can point at sections."""
    parser = _parser()
    tokens = parser.parse(page.markdown)
    _anchor_headings(tokens)
    _rewrite_links(tokens)
    return str(parser.renderer.render(tokens, parser.options, {}))


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _anchor_headings(tokens: list[Token]) -> None:
    used: set[str] = set()
    for opening, inline in pairwise(tokens):
        if opening.type == "heading_open" and opening.tag in ("h2", "h3"):
            anchor = base = slugify(inline.content) or "section"
            n = 2
            while anchor in used:
                anchor, n = f"{base}-{n}", n + 1
            used.add(anchor)
            opening.attrSet("id", anchor)


def _rewrite_links(tokens: Iterable[Token]) -> None:
    """Sources link to each other as ``quickstart.md`` (so they read on a forge too); the
    HTML pages link to ``quickstart.html``."""
    for token in tokens:
        for child in token.children or ():
            href = child.attrGet("href") if child.type == "link_open" else None
            if isinstance(href, str) and "://" not in href and ".md" in href:
                name, _, anchor = href.partition("#")
                if name.endswith(".md"):
                    target = "/developers/" if name == "index.md" else name[:-3] + ".html"
                    child.attrSet("href", target + (f"#{anchor}" if anchor else ""))


def llms_txt(pages: list[Page], base_url: str) -> str:
    """The index for agents (llmstxt.org): the title, a summary, one line per page."""
    first = pages[0]
    lines = [f"# {first.title}", "", f"> {first.summary}", "", "## Pages", ""]
    for page in pages:
        lines.append(f"- [{page.title}]({base_url}{page.markdown_path}): {page.summary}")
    lines += [
        "",
        "## Reference",
        "",
        f"- [OpenAPI document]({base_url}/openapi.json): every route, parameter and error",
        f"- [Everything in one file]({base_url}/llms-full.txt): all pages above",
        "",
    ]
    return "\n".join(lines)


def llms_full_txt(pages: list[Page]) -> str:
    return "\n\n".join(page.markdown.rstrip() + "\n" for page in pages)
