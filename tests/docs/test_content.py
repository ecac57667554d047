"""A doc's content: EditorJS blocks validated and normalized, markdown both ways."""

from __future__ import annotations

import html
import random
import string
from html.parser import HTMLParser
from typing import Any

import pytest
from markdown_it import MarkdownIt

from projekt.docs import content
from projekt.docs.content import (
    BLOCK_TYPES,
    MAX_CONTENT_BYTES,
    ContentError,
    _ToMarkdown,
    from_markdown,
    parse_blocks,
    search_text,
    to_markdown,
)

EVERY_TYPE: list[dict[str, Any]] = [
    {"type": "header", "data": {"text": "Release <i>notes</i> #4", "level": 1}},
    {"type": "header", "data": {"text": "Details", "level": 3}},
    {
        "type": "paragraph",
        "data": {
            "text": 'Some <b>bold</b>, <i>italic</i>, <code>a`b</code> and <a href="https://'
            'example.com/a?b=1&amp;c=2">a link</a>: 1 &lt; 2 &amp; * _ [x] | ~ !<br>a new line'
        },
    },
    {"type": "paragraph", "data": {"text": "1. not a list, - not a bullet"}},
    {"type": "paragraph", "data": {"text": "# not a heading"}},
    {
        "type": "list",
        "data": {
            "style": "unordered",
            "items": [
                {"content": "fruit", "items": [{"content": "apple", "items": []}]},
                {"content": "<b>bread</b>", "items": []},
            ],
        },
    },
    {"type": "list", "data": {"style": "unordered", "items": [{"content": "next", "items": []}]}},
    {
        "type": "list",
        "data": {
            "style": "ordered",
            "items": [
                {"content": "first", "items": [{"content": "first.a", "items": []}]},
                {"content": "second", "items": []},
            ],
        },
    },
    {
        "type": "checklist",
        "data": {"items": [{"text": "done", "checked": True}, {"text": "open", "checked": False}]},
    },
    {"type": "quote", "data": {"text": "Simple is <b>better</b>", "caption": "Tim"}},
    {"type": "quote", "data": {"text": "No caption", "caption": ""}},
    {"type": "code", "data": {"code": "def f():\n    return '```'", "language": "python"}},
    {"type": "code", "data": {"code": "plain"}},
    {"type": "delimiter", "data": {}},
    {
        "type": "table",
        "data": {"withHeadings": True, "content": [["a", "b"], ["1 | 2", "<i>3</i>"]]},
    },
    {"type": "table", "data": {"withHeadings": False, "content": [["x", "y"], ["", "z"]]}},
    {"type": "image", "data": {"file": {"url": "https://img.example/p.png"}, "caption": "A cat"}},
    {"type": "warning", "data": {"title": "Careful", "message": "Hot <b>surface</b>"}},
]


def test_every_block_type_round_trips_through_markdown() -> None:
    assert {b["type"] for b in EVERY_TYPE} == set(BLOCK_TYPES)
    blocks = parse_blocks({"blocks": EVERY_TYPE})
    assert blocks == EVERY_TYPE  # already canonical: normalizing changes nothing
    markdown = to_markdown(blocks)
    assert from_markdown(markdown) == blocks
    assert to_markdown(from_markdown(markdown)) == markdown


def test_the_markdown_is_what_an_editor_would_write() -> None:
    markdown = to_markdown(parse_blocks({"blocks": EVERY_TYPE}))
    for expected in (
        "# Release *notes* \\#4\n",
        "### Details",
        "**bold**, *italic*, ``a`b`` and [a link](https://example.com/a?b=1&c=2)",
        "1\\. not a list",
        "- fruit\n  - apple\n- \\*\\*",
        "1. first\n   1. first.a\n2. second",
        "* [x] done\n* [ ] open",
        "> Simple is **better**\n>\n> — Tim",
        "````python\ndef f():",
        "\n---\n",
        "| a | b |\n|---|---|\n| 1 \\| 2 | *3* |",
        "![A cat](https://img.example/p.png)",
        "> [!WARNING] Careful\n>\n> Hot **surface**",
    ):
        assert expected in markdown or expected.replace("\\*\\*", "**") in markdown, expected


def test_markdown_import_keeps_headings_lists_code_quotes_tables_and_links() -> None:
    blocks = from_markdown(
        "Intro\n=====\n\nSee [the docs](https://docs.example/x) and <https://auto.example>.\n\n"
        "* one\n* two\n    1. nested\n\n```sh\nmake test\n```\n\n    indented code\n\n"
        "> quoted\n> text\n\n| k | v |\n| - | - |\n| a | b |\n\n***\n\n- [ ] task\n"
    )
    assert [b["type"] for b in blocks] == [
        "header", "paragraph", "list", "code", "code", "quote", "table", "delimiter", "checklist",
    ]  # fmt: skip
    assert blocks[0]["data"] == {"text": "Intro", "level": 1}
    assert '<a href="https://docs.example/x">the docs</a>' in blocks[1]["data"]["text"]
    assert '<a href="https://auto.example">https://auto.example</a>' in blocks[1]["data"]["text"]
    assert blocks[2]["data"]["items"][1]["items"] == [{"content": "nested", "items": []}]
    assert blocks[3]["data"] == {"code": "make test", "language": "sh"}
    assert blocks[4]["data"] == {"code": "indented code"}
    assert blocks[5]["data"] == {"text": "quoted text", "caption": ""}
    assert blocks[6]["data"] == {"withHeadings": True, "content": [["k", "v"], ["a", "b"]]}
    assert blocks[8]["data"] == {"items": [{"text": "task", "checked": False}]}


def test_markdown_html_and_unsafe_links_stay_text() -> None:
    blocks = from_markdown("<script>alert(1)</script>\n\nA [link](javascript:alert(1)) <b>x</b>\n")
    assert blocks[0] == {
        "type": "paragraph",
        "data": {"text": "&lt;script&gt;alert(1)&lt;/script&gt;"},
    }
    text = blocks[1]["data"]["text"]
    assert "href" not in text and "<b>" not in text and "&lt;b&gt;" in text


def test_editorjs_input_forms_are_normalized() -> None:
    as_text = '{"time": 1, "version": "2.30", "blocks": [{"id": "a1", "type": "list", "data": {"items": ["x", "y"]}}, {"type": "paragraph", "data": {"text": "  <strong>s</strong> <em>e</em>&nbsp;"}}, {"type": "image", "data": {"url": "https://i.example/a.png"}}]}'  # noqa: E501
    assert parse_blocks(as_text) == [
        {
            "id": "a1",
            "type": "list",
            "data": {
                "style": "unordered",
                "items": [{"content": "x", "items": []}, {"content": "y", "items": []}],
            },
        },
        {"type": "paragraph", "data": {"text": "<b>s</b> <i>e</i>"}},  # ends trimmed
        {"type": "image", "data": {"file": {"url": "https://i.example/a.png"}, "caption": ""}},
    ]


@pytest.mark.parametrize(
    ("blocks", "message"),
    [
        ("not json", "blocks is not valid JSON"),
        ({"blocks": "x"}, "EditorJS object"),
        ({"blocks": [], "extra": 1}, "unknown fields: extra"),
        ({"blocks": [{"type": "raw", "data": {"html": "<script>"}}]}, "blocks[0].type must be"),
        ({"blocks": [{"type": "header", "data": {"text": "h", "level": 7}}]}, "level must be 1–6"),
        ({"blocks": [{"type": "paragraph", "data": {}}]}, "blocks[0].data.text is required"),
        ({"blocks": [{"type": "paragraph", "data": {"text": "<img src=x>"}}]}, "<img> tag"),
        (
            {"blocks": [{"type": "paragraph", "data": {"text": '<a href="javascript:x">a</a>'}}]},
            "a link needs",
        ),
        ({"blocks": [{"type": "paragraph", "data": {"text": "<b>open"}}]}, "<b> is not closed"),
        ({"blocks": [{"type": "image", "data": {"url": "file:///etc/passwd"}}]}, "http(s) url"),
        ({"blocks": [{"type": "table", "data": {"content": [["a"], ["b", "c"]]}}]}, "same number"),
        (
            {"blocks": [{"type": "checklist", "data": {"items": [{"text": "t", "checked": 1}]}}]},
            "checked must be true or false",
        ),
    ],
)
def test_bad_content_is_refused_naming_where(blocks: Any, message: str) -> None:
    with pytest.raises(ContentError, match=None) as caught:
        parse_blocks(blocks)
    assert message in str(caught.value)


def test_size_and_nesting_limits() -> None:
    big = "x" * 60_000
    many = [
        {"type": "paragraph", "data": {"text": big}} for _ in range(MAX_CONTENT_BYTES // 60_000 + 1)
    ]
    with pytest.raises(ContentError, match="larger than"):
        parse_blocks({"blocks": many})
    item: dict[str, Any] = {"content": "deep", "items": []}
    for _ in range(9):
        item = {"content": "up", "items": [item]}
    with pytest.raises(ContentError, match="nest at most"):
        parse_blocks({"blocks": [{"type": "list", "data": {"items": [item]}}]})


def test_search_text_holds_every_word_case_folded() -> None:
    text = search_text("Title", parse_blocks({"blocks": EVERY_TYPE}))
    for word in ("title", "release", "bold", "apple", "first.a", "tim", "return", "cat", "hot"):
        assert word in text
    assert "<b>" not in text


class _Tags(HTMLParser):
    """The tags of HTML, each with the names of its attributes."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[str]]] = []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, [name for name, _ in attrs]))


def _rendered(markdown: str) -> list[tuple[str, list[str]]]:
    """The tags a CommonMark renderer that lets HTML through makes of ``markdown``."""
    return _Tags(MarkdownIt("commonmark").render(markdown)).tags


@pytest.mark.parametrize(
    "href",
    [
        "/x<img src=x onerror=alert(1)>",
        "/a>](https://evil)<img src=x onerror=alert(document.domain)>",
        "/a> <img src=x onerror=alert(1)>",
        "/a\\) <img src=x onerror=alert(1)>",
    ],
)
def test_a_link_cannot_break_out_of_its_destination(href: str) -> None:
    text = f'<a href="{html.escape(href)}">t</a>'
    blocks = parse_blocks({"blocks": [{"type": "paragraph", "data": {"text": text}}]})
    markdown = to_markdown(blocks)
    assert _rendered(markdown) == [("p", []), ("a", ["href"])], markdown
    assert "<img" not in MarkdownIt("commonmark").render(markdown)
    assert from_markdown(markdown) == blocks
    # Stored as it was before links were normalized: the export does not count on it.
    stored = [{"type": "paragraph", "data": {"text": text}}]
    assert _rendered(to_markdown(stored)) == [("p", []), ("a", ["href"])]


@pytest.mark.parametrize(
    ("href", "stored"),
    [
        ("/a<b>", "/a%3Cb%3E"),
        ("/f(x)", "/f(x)"),
        ("/a b", "/a%20b"),
        ("https://example.com/q?a=(1) <2>&b=ñ#(x)",
         "https://example.com/q?a=(1)%20%3C2%3E&amp;b=%C3%B1#(x)"),
        ("./a\\b)", "./a%5Cb)"),
        ("/&lt;x", "/&amp;lt;x"),  # an entity in a destination reads as its character
        ("mailto:a@example.com", "mailto:a@example.com"),
    ],
)  # fmt: skip
def test_links_are_stored_as_markdown_reads_them_and_survive_the_round_trip(
    href: str, stored: str
) -> None:
    text = f'See <a href="{html.escape(href)}">this</a>.'
    blocks = parse_blocks({"blocks": [{"type": "paragraph", "data": {"text": text}}]})
    assert blocks[0]["data"]["text"] == f'See <a href="{stored}">this</a>.'
    markdown = to_markdown(blocks)
    assert from_markdown(markdown) == blocks
    assert to_markdown(from_markdown(markdown)) == markdown


@pytest.mark.parametrize(
    "href",
    ["//evil.example/x", "/\\evil.example", "/\t/evil.example", "/&#92;evil.example", "/\n\\x"],
)
def test_a_protocol_relative_link_is_refused(href: str) -> None:
    # Another site: browsers read a backslash as a slash and drop tabs and line breaks.
    text = f'<a href="{href}">a</a>'
    with pytest.raises(ContentError, match="a link needs"):
        parse_blocks({"blocks": [{"type": "paragraph", "data": {"text": text}}]})


def test_protocol_relative_links_from_markdown_stay_text() -> None:
    blocks = from_markdown("[a](//evil.example/x) [b](<//evil.example>) [c](/\\evil.example)\n")
    # A backslash in a markdown link is a character of the path (percent-encoded): this site.
    assert blocks[0]["data"]["text"] == 'a b <a href="/%5Cevil.example">c</a>'
    stored = [{"type": "paragraph", "data": {"text": '<a href="//evil.example">e</a>'}}]
    assert to_markdown(stored) == "e\n"  # stored before the rule: exported as its text


def test_an_image_url_is_stored_as_markdown_reads_it() -> None:
    image = {"type": "image", "data": {"url": "https://img.example/ñ a.png", "caption": ""}}
    blocks = parse_blocks({"blocks": [image]})
    assert blocks[0]["data"]["file"] == {"url": "https://img.example/%C3%B1%20a.png"}
    assert from_markdown(to_markdown(blocks)) == blocks
    # Stored before urls were normalized: a backslash before the ")" would have escaped it.
    stored = [
        {"type": "image", "data": {"file": {"url": "https://img.example/a\\"}, "caption": ""}}
    ]
    assert _rendered(to_markdown(stored)) == [("p", []), ("img", ["src", "alt"])]


def test_text_without_tags_or_entities_skips_the_parser_with_the_same_markdown() -> None:
    """``_marked``'s shortcut (no ``<``, no ``&``) writes what the parser would."""
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + " \\`*_[]|~!#-+=.)(>\n\t"
    for _ in range(5_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        parser = _ToMarkdown()
        parser.feed(text)
        parser.close()
        assert content._marked(text) == "".join(parser.out), repr(text)
