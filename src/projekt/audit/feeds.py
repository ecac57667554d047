"""Every domain's feed declarations (``core.feed``), collected for the changes feed.

A domain that records a resource type declares its batched reader in its own ``feed.py`` and is
listed here, as a domain's MCP tools are listed in ``mcp/server.py``. The joined types are read
with the page of events (``audit.repository``), the rest by their batched readers after it. A
recorded type without a reader shows only tombstones, which ``tests/audit/test_feed_coverage.py``
refuses.
"""

from __future__ import annotations

from projekt.api_keys.feed import feed as api_key_feed
from projekt.core.feed import Declarations, Feed, collect
from projekt.docs.feed import feed as doc_feed
from projekt.issues.feed import feed as issue_feed
from projekt.milestones.feed import feed as milestone_feed
from projekt.orgs.feed import feed as org_feed
from projekt.projects.feed import feed as project_feed
from projekt.sprints.feed import feed as sprint_feed
from projekt.time_tracking.feed import feed as time_feed
from projekt.webhooks.feed import feed as webhook_feed

FEEDS: list[Feed] = [
    issue_feed,
    project_feed,
    sprint_feed,
    milestone_feed,
    doc_feed,
    org_feed,
    api_key_feed,
    time_feed,
    webhook_feed,
]

DECLARED: Declarations = collect(FEEDS)
