"""A doc's content: EditorJS blocks, validated and normalized, and markdown both ways.

The blocks are the stored form. Markdown is derived from them (``to_markdown``) and read into
them (``from_markdown``, with markdown-it-py: CommonMark plus GFM tables). Block types and their
markdown (docs/decisions.md, "Docs"):

===========  ==========================================  =================================
type         data                                        markdown
===========  ==========================================  =================================
paragraph    text                                        a paragraph
header       text, level 1–6                             ``#`` … ``######``
list         style ordered|unordered, items (nested)     ``1.`` / ``-`` items, indented
checklist    items [{text, checked}]                     ``* [ ]`` / ``* [x]`` items
quote        text, caption                               ``>``; the caption as ``> — …``
code         code, language?                             a fenced block
delimiter    (none)                                      ``---``
table        withHeadings, content [[cell]]              a GFM table
image        file {url} (http/https), caption            ``![caption](url)``
warning      title, message                              ``> [!WARNING] title`` + message
===========  ==========================================  =================================

Inline text is EditorJS's HTML subset, kept to ``<b>``, ``<i>``, ``<code>``, ``<a href>`` and
``<br>`` (``<strong>``/``<em>`` are read as ``<b>``/``<i>``); any other tag, an attribute other
than a link's ``href``, or a link to another scheme than http(s)/mailto/a relative path is
refused (``//host`` and ``/\\host`` too: another site): the text reaches browsers as HTML.
``raw`` blocks are refused for the same reason. Links and image urls are stored percent-encoded
as markdown-it reads them, so normalized content (what is stored) survives
``from_markdown(to_markdown(blocks))`` unchanged.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import orjson
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

# The size limits: the stored blocks as JSON, the number of blocks, list nesting.
MAX_CONTENT_BYTES = 512 * 1024
MAX_BLOCKS = 5_000
MAX_LIST_DEPTH = 8
MAX_TITLE = 255

BLOCK_TYPES = (
    "paragraph",
    "header",
    "list",
    "checklist",
    "quote",
    "code",
    "delimiter",
    "table",
    "image",
    "warning",
)


class ContentError(ValueError):
    """Content that is not a valid doc; the message names where (``blocks[2].data.level``)."""


# -- inline text --------------------------------------------------------------------------------

_TAGS = {"b": "b", "strong": "b", "i": "i", "em": "i", "code": "code", "a": "a"}
# A path, but not "//host" or "/\host": browsers read a backslash as a slash, and both are
# another site (a protocol-relative link).
_SAFE_HREF = re.compile(r"(?i)(https?://|mailto:|/(?![/\\])|#|\./|\.\./)")


def _safe_href(href: str) -> str | None:
    """The href as stored, or None for one a reader must not follow.

    Tabs and line breaks go first, as browsers drop them anywhere in a URL ("/\t/evil.example"
    is "//evil.example"). What is kept is normalized as markdown-it's importer normalizes a
    link (spaces, ``<``, ``>``, backslashes, control and non-ASCII characters percent-encoded),
    so a link survives the markdown round trip unchanged.
    """
    href = re.sub(r"[\t\n\r]", "", href)
    if not _SAFE_HREF.match(href):
        return None
    normalized = _PARSER.normalizeLink(href)
    return normalized if _SAFE_HREF.match(normalized) else None


class _Inline(HTMLParser):
    """Re-serializes inline HTML in the canonical subset, refusing everything else."""

    def __init__(self, where: str) -> None:
        super().__init__(convert_charrefs=True)
        self.where = where
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("<br>")
            return
        name = _TAGS.get(tag)
        if name is None:
            raise ContentError(f"{self.where}: the <{tag}> tag is not allowed")
        if "code" in self.open:
            raise ContentError(f"{self.where}: no tags inside <code>")
        if name == "a":
            href = _safe_href(dict(attrs).get("href") or "")
            if href is None or set(dict(attrs)) - {"href"}:
                raise ContentError(
                    f"{self.where}: a link needs an http(s), mailto or relative href"
                )
            self.out.append(f'<a href="{html.escape(href, quote=True)}">')
        elif attrs:
            raise ContentError(f"{self.where}: <{tag}> takes no attributes")
        else:
            self.out.append(f"<{name}>")
        self.open.append(name)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "br":
            raise ContentError(f"{self.where}: the <{tag}/> tag is not allowed")
        self.out.append("<br>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":
            return
        name = _TAGS.get(tag)
        if name is None or not self.open or self.open[-1] != name:
            raise ContentError(f"{self.where}: </{tag}> closes nothing open")
        self.open.pop()
        self.out.append(f"</{name}>")

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data.replace("\n", " "), quote=False))

    def handle_comment(self, data: str) -> None:
        raise ContentError(f"{self.where}: HTML comments are not allowed")

    def result(self) -> str:
        self.close()
        if self.open:
            raise ContentError(f"{self.where}: <{self.open[-1]}> is not closed")
        return "".join(self.out).strip()


def clean_inline(text: Any, where: str, limit: int = 65_536) -> str:
    if not isinstance(text, str):
        raise ContentError(f"{where} must be a string")
    if len(text) > limit:
        raise ContentError(f"{where} is longer than {limit} characters")
    parser = _Inline(where)
    parser.feed(text)
    return parser.result()


def plain_text(inline: str) -> str:
    """The words of inline HTML (for search)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", inline))


# -- validation ---------------------------------------------------------------------------------


def parse_blocks(value: Any) -> list[dict[str, Any]]:
    """Normalized blocks from an EditorJS ``{blocks: [...]}`` object or its JSON string."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ContentError("blocks is not valid JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("blocks"), list):
        raise ContentError('blocks must be an EditorJS object: {"blocks": [...]}')
    extra = set(value) - {"blocks", "time", "version"}
    if extra:
        raise ContentError(f"blocks has unknown fields: {', '.join(sorted(extra))}")
    raw = value["blocks"]
    if len(raw) > MAX_BLOCKS:
        raise ContentError(f"a doc holds at most {MAX_BLOCKS} blocks")
    blocks = [_block(block, f"blocks[{n}]") for n, block in enumerate(raw)]
    check_size(blocks)
    return blocks


def check_size(blocks: list[dict[str, Any]]) -> int:
    size = len(orjson.dumps(blocks))
    if size > MAX_CONTENT_BYTES:
        raise ContentError(f"the content is larger than {MAX_CONTENT_BYTES // 1024} KiB")
    return size


def _block(block: Any, where: str) -> dict[str, Any]:
    if not isinstance(block, dict):
        raise ContentError(f"{where} must be an object")
    extra = set(block) - {"id", "type", "data", "tunes"}
    if extra:
        raise ContentError(f"{where} has unknown fields: {', '.join(sorted(extra))}")
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        raise ContentError(f"{where}.type must be one of: {', '.join(BLOCK_TYPES)}")
    data = block.get("data", {})
    if not isinstance(data, dict):
        raise ContentError(f"{where}.data must be an object")
    out: dict[str, Any] = {}
    if "id" in block:
        if not isinstance(block["id"], str) or not 0 < len(block["id"]) <= 64:
            raise ContentError(f"{where}.id must be a string of 1–64 characters")
        out["id"] = block["id"]
    out["type"] = kind
    out["data"] = _DATA[kind](data, f"{where}.data")
    return out


def _text(data: dict[str, Any], name: str, where: str, *, required: bool = True) -> str:
    if name not in data:
        if required:
            raise ContentError(f"{where}.{name} is required")
        return ""
    return clean_inline(data[name], f"{where}.{name}")


def _paragraph(data: dict[str, Any], where: str) -> dict[str, Any]:
    return {"text": _text(data, "text", where)}


def _header(data: dict[str, Any], where: str) -> dict[str, Any]:
    level = data.get("level", 2)
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 6:
        raise ContentError(f"{where}.level must be 1–6")
    return {"text": _text(data, "text", where), "level": level}


def _list(data: dict[str, Any], where: str) -> dict[str, Any]:
    style = data.get("style", "unordered")
    if style not in ("ordered", "unordered"):
        raise ContentError(f"{where}.style must be ordered or unordered")
    return {"style": style, "items": _items(data.get("items"), f"{where}.items", 1)}


def _items(items: Any, where: str, depth: int) -> list[dict[str, Any]]:
    """List items as nested ``{content, items}`` (plain strings, EditorJS's first list format,
    are read as items without children)."""
    if depth > MAX_LIST_DEPTH:
        raise ContentError(f"{where}: lists nest at most {MAX_LIST_DEPTH} deep")
    if not isinstance(items, list):
        raise ContentError(f"{where} must be a list")
    found: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        here = f"{where}[{n}]"
        if isinstance(item, str):
            found.append({"content": clean_inline(item, here), "items": []})
            continue
        if not isinstance(item, dict):
            raise ContentError(f"{here} must be a string or {{content, items}}")
        found.append(
            {
                "content": _text(item, "content", here),
                "items": _items(item.get("items", []), f"{here}.items", depth + 1),
            }
        )
    return found


def _checklist(data: dict[str, Any], where: str) -> dict[str, Any]:
    items = data.get("items")
    if not isinstance(items, list):
        raise ContentError(f"{where}.items must be a list")
    found = []
    for n, item in enumerate(items):
        here = f"{where}.items[{n}]"
        if not isinstance(item, dict):
            raise ContentError(f"{here} must be {{text, checked}}")
        checked = item.get("checked", False)
        if not isinstance(checked, bool):
            raise ContentError(f"{here}.checked must be true or false")
        found.append({"text": _text(item, "text", here), "checked": checked})
    return {"items": found}


def _quote(data: dict[str, Any], where: str) -> dict[str, Any]:
    return {"text": _text(data, "text", where), "caption": _text(data, "caption", where,
                                                                     required=False)}  # fmt: skip


def _code(data: dict[str, Any], where: str) -> dict[str, Any]:
    code = data.get("code")
    if not isinstance(code, str):
        raise ContentError(f"{where}.code must be a string")
    out: dict[str, Any] = {"code": code.rstrip("\n")}
    language = data.get("language")
    if language is not None:
        if not isinstance(language, str) or not re.fullmatch(r"[A-Za-z0-9_+#.-]{1,32}", language):
            raise ContentError(f"{where}.language must be a word of 1–32 characters")
        out["language"] = language
    return out


def _delimiter(data: dict[str, Any], where: str) -> dict[str, Any]:
    return {}


def _table(data: dict[str, Any], where: str) -> dict[str, Any]:
    rows = data.get("content")
    headings = data.get("withHeadings", False)
    if not isinstance(headings, bool):
        raise ContentError(f"{where}.withHeadings must be true or false")
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise ContentError(f"{where}.content must be a non-empty list of rows")
    width = len(rows[0])
    if width == 0 or any(len(row) != width for row in rows):
        raise ContentError(f"{where}.content: every row needs the same number of cells (≥ 1)")
    content = [
        [clean_inline(cell, f"{where}.content[{r}][{c}]") for c, cell in enumerate(row)]
        for r, row in enumerate(rows)
    ]
    if not headings and len(content) == 1:
        raise ContentError(f"{where}.content: a table without headings needs a body row")
    return {"withHeadings": headings, "content": content}


def _image(data: dict[str, Any], where: str) -> dict[str, Any]:
    file = data.get("file")
    url = _image_url(file.get("url") if isinstance(file, dict) else data.get("url"))
    if url is None:
        raise ContentError(f"{where}: an image is an http(s) url (file.url); uploads are not kept")
    return {"file": {"url": url}, "caption": _text(data, "caption", where, required=False)}


def _image_url(url: Any) -> str | None:
    """An image's url as stored (normalized as the importer reads it), or None if it is not an
    http(s) url."""
    if not isinstance(url, str):
        return None
    normalized = _PARSER.normalizeLink(url)
    return normalized if re.fullmatch(r"https?://[^\s<>()]{1,2000}", normalized) else None


def _warning(data: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "title": _text(data, "title", where, required=False),
        "message": _text(data, "message", where, required=False),
    }


_DATA = {
    "paragraph": _paragraph,
    "header": _header,
    "list": _list,
    "checklist": _checklist,
    "quote": _quote,
    "code": _code,
    "delimiter": _delimiter,
    "table": _table,
    "image": _image,
    "warning": _warning,
}


def search_text(title: str, blocks: list[dict[str, Any]]) -> str:
    """Every word of the doc, case-folded: what full-text search reads."""
    return " ".join([title, *_words(blocks)]).casefold()


def _words(blocks: list[dict[str, Any]]) -> Iterator[str]:
    for block in blocks:
        data = block["data"]
        for key in ("text", "caption", "title", "message"):
            if data.get(key):
                yield plain_text(data[key])
        if "code" in data:
            yield data["code"]
        for row in data.get("content", []):
            yield from (plain_text(cell) for cell in row)
        yield from _item_words(data.get("items", []))


def _item_words(items: list[dict[str, Any]]) -> Iterator[str]:
    for item in items:
        yield plain_text(item.get("content", item.get("text", "")))
        yield from _item_words(item.get("items", []))


# -- blocks → markdown --------------------------------------------------------------------------

_ESCAPED = re.compile(r"([\\`*_\[\]<>|~&!#])")
_LINE_START = re.compile(r"^([-+=>])")
_NUMBERED = re.compile(r"^(\d+)([.)])")


class _ToMarkdown(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.href: list[str | None] = []
        self.code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("<br>")
        elif tag == "b":
            self.out.append("**")
        elif tag == "i":
            self.out.append("*")
        elif tag == "code":
            self.code = []
        elif tag == "a":
            # Checked again: what was stored before a rule was added is exported by today's.
            href = _safe_href(dict(attrs).get("href") or "")
            self.href.append(href)
            if href is not None:
                self.out.append("[")

    def handle_endtag(self, tag: str) -> None:
        if tag == "b":
            self.out.append("**")
        elif tag == "i":
            self.out.append("*")
        elif tag == "code" and self.code is not None:
            self.out.append(_code_span("".join(self.code)))
            self.code = None
        elif tag == "a":
            href = self.href.pop()
            if href is not None:
                self.out.append(f"]({_destination(href)})")

    def handle_data(self, data: str) -> None:
        if self.code is not None:
            self.code.append(data)
        else:
            self.out.append(_ESCAPED.sub(r"\\\1", data))


def _code_span(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# In a bare link destination a parenthesis could close it and ``&…;`` reads as a character.
_DESTINATION = re.compile(r"([()]|&(?=#?[0-9A-Za-z]+;))")


def _destination(url: str) -> str:
    """A link destination that CommonMark reads back as ``url`` (normalized) and nothing else.

    Normalizing percent-encodes what could end it or open a tag (spaces, ``<``, ``>``, line
    breaks, backslashes); the ``<…>`` form is no help: it ends at the first ``>``.
    """
    return _DESTINATION.sub(r"\\\1", _PARSER.normalizeLink(url))


def plain_markdown(text: str) -> str:
    """Plain text (a title) as one line of markdown that reads as that text: no tag, no link,
    no emphasis, and no line break to start another block."""
    return inline_markdown(html.escape(" ".join(text.split()), quote=False))


def inline_markdown(text: str) -> str:
    out = _marked(text)
    # What would open a list, a quote or a heading underline at the start of a line.
    out = _NUMBERED.sub(r"\1\\\2", out)
    return _LINE_START.sub(r"\\\1", out)


def _marked(text: str) -> str:
    """Inline HTML as markdown inline text."""
    if "<" not in text and "&" not in text:
        # No tag, no entity: the parser would hand the whole text to ``handle_data``.
        return _ESCAPED.sub(r"\\\1", text)
    parser = _ToMarkdown()
    parser.feed(text)
    parser.close()
    return "".join(parser.out)


def to_markdown(blocks: list[dict[str, Any]]) -> str:
    """The doc as markdown; blocks are separated by a blank line."""
    parts: list[str] = []
    previous: str | None = None
    for block in blocks:
        text, marker = _block_markdown(block, previous)
        parts.append(text)
        previous = marker
    return "\n\n".join(parts) + ("\n" if parts else "")


def _block_markdown(block: dict[str, Any], previous: str | None) -> tuple[str, str | None]:
    kind, data = block["type"], block["data"]
    if kind == "paragraph":
        return inline_markdown(data["text"]), None
    if kind == "header":
        return "#" * data["level"] + " " + inline_markdown(data["text"]), None
    if kind == "list":
        ordered = data["style"] == "ordered"
        # Two lists in a row would merge: the second one changes its marker.
        marker = (")" if previous == "." else ".") if ordered else ("+" if previous == "-" else "-")
        return "\n".join(_list_lines(data["items"], ordered, marker, "")), marker
    if kind == "checklist":
        marker = "+" if previous == "*" else "*"
        lines = [
            f"{marker} [{'x' if item['checked'] else ' '}] {inline_markdown(item['text'])}"
            for item in data["items"]
        ]
        return "\n".join(lines), marker
    if kind == "quote":
        lines = [inline_markdown(data["text"])]
        if data["caption"]:
            lines += ["", "— " + inline_markdown(data["caption"])]
        return _quoted(lines), None
    if kind == "code":
        code = data["code"]
        longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
        fence = "`" * (longest + 1)
        return f"{fence}{data.get('language', '')}\n{code}\n{fence}", None
    if kind == "delimiter":
        return "---", None
    if kind == "table":
        return _table_markdown(data), None
    if kind == "image":
        caption, url = inline_markdown(data["caption"]), _destination(data["file"]["url"])
        return f"![{caption}]({url})", None
    # warning
    lines = ["[!WARNING] " + inline_markdown(data["title"])]
    if data["message"]:
        lines += ["", inline_markdown(data["message"])]
    return _quoted(lines), None


def _quoted(lines: list[str]) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in lines)


def _list_lines(items: list[dict[str, Any]], ordered: bool, marker: str, indent: str) -> list[str]:
    lines = []
    for n, item in enumerate(items, start=1):
        bullet = f"{n}{marker} " if ordered else f"{marker} "
        text = inline_markdown(item["content"]) if item["content"] else ""
        lines.append(f"{indent}{bullet}{text}".rstrip())
        lines += _list_lines(item["items"], ordered, marker, indent + " " * len(bullet))
    return lines


def _table_markdown(data: dict[str, Any]) -> str:
    rows = [[inline_markdown(cell) for cell in row] for row in data["content"]]
    head = rows[0] if data["withHeadings"] else [""] * len(rows[0])
    body = rows[1:] if data["withHeadings"] else rows
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(line.replace("|  |", "| |") for line in lines)


# -- markdown → blocks --------------------------------------------------------------------------

_PARSER = MarkdownIt("commonmark", {"html": True}).enable("table")
_TASK = re.compile(r"^\[([ xX])\] ?")


def from_markdown(text: str) -> list[dict[str, Any]]:
    """Blocks from markdown: headings, paragraphs, lists (nested; task lists are checklists),
    code, quotes, tables, images, rules and links; raw HTML is kept as text."""
    root = SyntaxTreeNode(_PARSER.parse(text))
    blocks: list[dict[str, Any]] = []
    for node in root.children:
        blocks.extend(_node_blocks(node))
    if len(blocks) > MAX_BLOCKS:
        raise ContentError(f"a doc holds at most {MAX_BLOCKS} blocks")
    # Through the same validation as sent blocks: one canonical form, whatever the source.
    normalized = [_block(block, f"blocks[{n}]") for n, block in enumerate(blocks)]
    check_size(normalized)
    return normalized


def _node_blocks(node: SyntaxTreeNode) -> list[dict[str, Any]]:
    kind = node.type
    if kind == "heading":
        level = int(node.tag[1])
        return [{"type": "header", "data": {"text": _inline(node), "level": level}}]
    if kind == "paragraph":
        inline = node.children[0] if node.children else None
        if inline is not None and len(inline.children) == 1 and inline.children[0].type == "image":
            image = inline.children[0]
            url = _image_url(str(image.attrs.get("src", "")))
            if url is not None:
                caption = _inline_children(image.children)
                return [{"type": "image", "data": {"file": {"url": url}, "caption": caption}}]
        return [{"type": "paragraph", "data": {"text": _inline(node)}}]
    if kind in ("bullet_list", "ordered_list"):
        return [_list_block(node)]
    if kind in ("fence", "code_block"):
        data: dict[str, Any] = {"code": node.content.rstrip("\n")}
        language = (node.info or "").strip().split(" ")[0]
        if language and re.fullmatch(r"[A-Za-z0-9_+#.-]{1,32}", language):
            data["language"] = language
        return [{"type": "code", "data": data}]
    if kind == "hr":
        return [{"type": "delimiter", "data": {}}]
    if kind == "blockquote":
        return [_quote_block(node)]
    if kind == "table":
        return [_table_block(node)]
    if kind == "html_block":
        text = clean_inline(html.escape(node.content.strip(), quote=False), "markdown")
        return [{"type": "paragraph", "data": {"text": text}}] if text else []
    return []


def _list_block(node: SyntaxTreeNode) -> dict[str, Any]:
    items = _list_items(node, 1)
    if node.type == "bullet_list" and items and all(_TASK.match(i["content"]) for i in items):
        checks = [
            {"text": _TASK.sub("", i["content"], count=1), "checked": i["content"][1] != " "}
            for i in items
        ]
        return {"type": "checklist", "data": {"items": checks}}
    style = "ordered" if node.type == "ordered_list" else "unordered"
    return {"type": "list", "data": {"style": style, "items": items}}


def _list_items(node: SyntaxTreeNode, depth: int) -> list[dict[str, Any]]:
    if depth > MAX_LIST_DEPTH:
        raise ContentError(f"markdown: lists nest at most {MAX_LIST_DEPTH} deep")
    items = []
    for item in node.children:
        texts: list[str] = []
        children: list[dict[str, Any]] = []
        for part in item.children:
            if part.type in ("bullet_list", "ordered_list"):
                children += _list_items(part, depth + 1)
            elif part.type == "paragraph":
                texts.append(_inline(part))
            else:  # code or a quote inside an item: its text
                texts.append(html.escape(part.content.strip(), quote=False))
        items.append({"content": "<br>".join(t for t in texts if t), "items": children})
    return items


def _quote_block(node: SyntaxTreeNode) -> dict[str, Any]:
    paragraphs = [_inline(p) if p.type == "paragraph" else html.escape(p.content.strip(),
                  quote=False) for p in node.children]  # fmt: skip
    if paragraphs and paragraphs[0].startswith("[!WARNING]"):
        title = paragraphs[0][len("[!WARNING]") :].strip()
        return {"type": "warning", "data": {"title": title, "message": "<br>".join(paragraphs[1:])}}
    caption = ""
    if len(paragraphs) > 1 and paragraphs[-1].startswith("— "):
        caption = paragraphs.pop()[2:]
    return {"type": "quote", "data": {"text": "<br>".join(paragraphs), "caption": caption}}


def _table_block(node: SyntaxTreeNode) -> dict[str, Any]:
    rows: list[list[str]] = []
    for section in node.children:
        for row in section.children:
            rows.append([_inline(cell) for cell in row.children])
    if rows and not any(rows[0]) and len(rows) > 1:
        return {"type": "table", "data": {"withHeadings": False, "content": rows[1:]}}
    return {"type": "table", "data": {"withHeadings": True, "content": rows}}


def _inline(node: SyntaxTreeNode) -> str:
    """A block's inline content as the canonical inline HTML."""
    parts = [_inline_children(child.children) for child in node.children if child.type == "inline"]
    return "".join(parts).strip()


def _inline_children(nodes: list[SyntaxTreeNode]) -> str:
    out: list[str] = []
    for node in nodes:
        kind = node.type
        if kind == "text":
            out.append(html.escape(node.content, quote=False))
        elif kind == "strong":
            out.append(f"<b>{_inline_children(node.children)}</b>")
        elif kind == "em":
            out.append(f"<i>{_inline_children(node.children)}</i>")
        elif kind == "code_inline":
            out.append(f"<code>{html.escape(node.content, quote=False)}</code>")
        elif kind == "link":
            href = _safe_href(str(node.attrs.get("href", "")))
            inner = _inline_children(node.children)
            if href is not None:
                out.append(f'<a href="{html.escape(href, quote=True)}">{inner}</a>')
            else:
                out.append(inner)
        elif kind == "image":
            src = str(node.attrs.get("src", ""))
            href = _safe_href(src)
            alt = _inline_children(node.children) or html.escape(src, quote=False)
            out.append(f'<a href="{html.escape(href, quote=True)}">{alt}</a>' if
                       href is not None else alt)  # fmt: skip
        elif kind in ("softbreak",):
            out.append(" ")
        elif kind == "hardbreak":
            out.append("<br>")
        elif kind == "html_inline":
            tag = node.content.strip().lower()
            out.append("<br>" if tag in ("<br>", "<br/>", "<br />") else html.escape(node.content,
                       quote=False))  # fmt: skip
        else:
            out.append(html.escape(node.content, quote=False))
    return "".join(out)
