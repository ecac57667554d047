"""The unified diff of two versions, in bounded time whatever they hold.

difflib's matcher is far from linear on lines that repeat (a list of a hundred or so distinct
items reordered, blank lines, one line many times): a 2,000-line list of 110 words, reordered,
took 3.5 s, a doc at the size cap 22 s, on the event loop. So the first and last lines the
versions share are set aside (linear), and difflib compares only what lies between them when
that is at most ``DIFF_LINE_BUDGET`` lines, old and new together; a larger middle is answered
as replaced, every old line removed and every new one added: exact, only not minimal. Edits in
one place of any doc, and every edit of a doc up to ~100 lines, still get difflib's diff.
"""

from __future__ import annotations

import difflib
import itertools
import re

# Measured (docs/decisions.md, "Docs"): difflib's worst case over 200 lines took 24 ms.
DIFF_LINE_BUDGET = 200
CONTEXT = 3  # lines around a change, as ``diff -u``


def unified_diff(old: str, new: str, fromfile: str, tofile: str) -> str:
    """``old`` → ``new`` as ``diff -u`` writes it; nothing when they are equal.

    Lines end at ``\\n`` only (not at ``\\r`` or U+2028, as ``str.splitlines`` would): a patch
    reads lines that way, and a line of a code block stays one line of the diff.
    """
    a, b = _lines(old), _lines(new)
    head, shortest = 0, min(len(a), len(b))
    while head < shortest and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < shortest - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    a_end, b_end = len(a) - tail, len(b) - tail
    middle: list[tuple[int, int, int]] = []  # over the budget: no line of the middle matches
    if (a_end - head) + (b_end - head) <= DIFF_LINE_BUDGET:
        matcher = difflib.SequenceMatcher(None, a[head:a_end], b[head:b_end])
        middle = [(head + i, head + j, n) for i, j, n in matcher.get_matching_blocks()[:-1]]
    same = [(0, 0, head), *middle, (a_end, b_end, tail)]
    # The runs of lines that differ, (i1, i2, j1, j2): between one matching run and the next.
    changes = [
        (i + n, i_next, j + n, j_next)
        for (i, j, n), (i_next, j_next, _) in itertools.pairwise(same)
        if (i + n, j + n) != (i_next, j_next)
    ]
    hunks: list[list[tuple[int, int, int, int]]] = []
    for change in changes:  # one hunk while their contexts touch, as difflib groups them
        if hunks and change[0] - hunks[-1][-1][1] <= 2 * CONTEXT:
            hunks[-1].append(change)
        else:
            hunks.append([change])
    out = [f"--- {fromfile}\n", f"+++ {tofile}\n"] if hunks else []
    for hunk in hunks:
        (start, _, b_start, _), (_, stop, _, b_stop) = hunk[0], hunk[-1]
        before, after = min(CONTEXT, start), min(CONTEXT, len(a) - stop)
        old_range = _range(start - before, stop + after)
        out.append(f"@@ -{old_range} +{_range(b_start - before, b_stop + after)} @@\n")
        at = start - before
        for i1, i2, j1, j2 in hunk:
            out += [" " + line for line in a[at:i1]]
            out += ["-" + line for line in a[i1:i2]]
            out += ["+" + line for line in b[j1:j2]]
            at = i2
        out += [" " + line for line in a[at : stop + after]]
    return "".join(out)


def _lines(text: str) -> list[str]:
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def _range(start: int, stop: int) -> str:
    """Lines ``start:stop`` in a hunk's header: from 1, and an empty range names the line
    before it (difflib's ``_format_range_unified``)."""
    if stop - start == 1:
        return str(start + 1)
    return f"{start + 1 if stop > start else start},{stop - start}"
