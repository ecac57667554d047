"""The version diff: exact whatever the versions hold, and difflib's only within its budget."""

from __future__ import annotations

import difflib
import random
import re
from typing import Any

import pytest

from projekt.docs import diff
from projekt.docs.content import MAX_CONTENT_BYTES, ContentError, check_size
from projekt.docs.diff import DIFF_LINE_BUDGET, unified_diff
from projekt.docs.service import _document


def _patch(old: str, patch: str) -> str:
    """``old`` with ``patch`` applied. Every hunk's position and counts, and every context and
    removed line, are checked against ``old``: a diff ``patch`` would refuse fails here."""
    source, lines = re.findall(r"[^\n]*\n", old), re.findall(r"[^\n]*\n", patch)
    assert "".join(source) == old and "".join(lines) == patch
    if not lines:
        return old
    assert lines[0].startswith("--- ") and lines[1].startswith("+++ ")
    out: list[str] = []
    at, n = 0, 2
    while n < len(lines):
        header = re.fullmatch(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@\n", lines[n])
        assert header, lines[n]
        start, length, new_start, new_length = (
            int(g) if g is not None else 1 for g in header.groups()
        )
        start, new_start = start - bool(length), new_start - bool(new_length)
        assert start >= at
        out += source[at:start]
        at = start
        assert len(out) == new_start
        n, removed, added = n + 1, 0, 0
        while n < len(lines) and not lines[n].startswith("@@"):
            mark, line = lines[n][0], lines[n][1:]
            assert mark in " -+"
            if mark in " -":
                assert source[at] == line
                at, removed = at + 1, removed + 1
            if mark in " +":
                out.append(line)
                added += 1
            n += 1
        assert (removed, added) == (length, new_length)
    return "".join(out + source[at:])


def _items(count: int, words: int, step: int) -> list[dict[str, Any]]:
    """A list whose items are ``w{i * step % words}``: few distinct lines, each many times."""
    items = [{"content": f"w{i * step % words}", "items": []} for i in range(count)]
    return [{"type": "list", "data": {"style": "unordered", "items": items}}]


@pytest.fixture
def difflib_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many lines (old and new together) each difflib matcher is given."""
    sizes: list[int] = []
    matcher = difflib.SequenceMatcher

    def counted(isjunk: None, a: list[str], b: list[str]) -> difflib.SequenceMatcher[str]:
        sizes.append(len(a) + len(b))
        return matcher(isjunk, a, b)

    monkeypatch.setattr(difflib, "SequenceMatcher", counted)
    return sizes


def test_edits_get_difflibs_own_diff() -> None:
    old = [f"Paragraph {n}.\n" for n in range(70)]
    new = list(old)
    new[1], new[8] = "one\n", "eight\n"  # 6 lines between: one hunk
    new[30], new[38] = "thirty\n", "thirty-eight\n"  # 7 lines between: two hunks
    new[50:52] = ["- a list\n", "- of three\n", "- items\n"]
    del new[-2]
    expected = difflib.unified_diff(old, new, "version 1", "version 2")
    assert unified_diff("".join(old), "".join(new), "version 1", "version 2") == "".join(expected)
    assert unified_diff("".join(old), "".join(old), "version 1", "version 2") == ""


@pytest.mark.parametrize("budget", [DIFF_LINE_BUDGET, 0])
def test_the_diff_rebuilds_the_new_version_whatever_the_edits(
    budget: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diff, "DIFF_LINE_BUDGET", budget)  # 0: every change is the fallback's
    rng = random.Random(19)
    for _ in range(400):
        words = rng.choice((2, 3, 10))
        old = [f"w{rng.randrange(words)}\n" for _ in range(rng.randrange(30))]
        new = list(old)
        for _ in range(rng.randrange(5)):
            at = rng.randrange(len(new) + 1)
            new[at : at + rng.randrange(3)] = [f"w{rng.randrange(words)}\n"] * rng.randrange(3)
        patch = unified_diff("".join(old), "".join(new), "version 1", "version 2")
        assert _patch("".join(old), patch) == "".join(new)


def test_difflib_compares_the_middle_up_to_the_budget_and_no_further(
    difflib_sizes: list[int],
) -> None:
    same = "".join(f"line {n}\n" for n in range(50))
    half = DIFF_LINE_BUDGET // 2
    old = same + "".join(f"old {n % 2}\n" for n in range(half)) + same
    new = same + "old 1\n" + "".join(f"new {n % 3}\n" for n in range(half - 1)) + same
    within = unified_diff(old, new, "version 1", "version 2")
    assert difflib_sizes == [DIFF_LINE_BUDGET]  # the common head and tail are set aside
    assert _patch(old, within) == new
    assert " old 1\n" in within  # difflib found the line both middles share

    difflib_sizes.clear()
    longer = new.replace("old 1\n", "old 1\nnew 0\n")
    over = unified_diff(old, longer, "version 1", "version 2")
    assert difflib_sizes == []  # one line over the budget: difflib is not asked
    assert _patch(old, over) == longer
    assert over.count("@@ -") == 1 and " old 1\n" not in over
    assert f"@@ -48,{half + 6} +48,{half + 7} @@\n" in over


def test_an_adversarial_doc_at_the_size_cap_is_answered_by_the_fallback(
    difflib_sizes: list[int],
) -> None:
    # The largest doc of such a list (one item more is over the cap), its items reordered:
    # difflib alone took 22.5 s over it.
    count = 17_800
    before, after = _items(count, 200, 1), _items(count, 200, 37)
    assert check_size(before) == check_size(after) <= MAX_CONTENT_BYTES
    with pytest.raises(ContentError, match="larger than"):
        check_size(_items(count + 1, 200, 1))
    old, new = _document("Words", before), _document("Words", after)
    patch = unified_diff(old, new, "version 1", "version 2")
    assert difflib_sizes == []
    assert _patch(old, patch) == new
    # One hunk: the shared lines around it as context, every old line out, every new line in.
    marks = "".join(line[0] for line in patch.splitlines()[3:])
    assert re.fullmatch(r" {0,3}-+\++ {0,3}", marks)
