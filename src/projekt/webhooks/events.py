"""Which events an endpoint may subscribe to, and whether one event matches a subscription."""

from __future__ import annotations

from collections.abc import Iterable

# API.md §10's types, and the others the record writes. ``family.*`` subscribes to a family
# (also to types the record gains later); ``*`` to every family.
EVENT_TYPES: tuple[str, ...] = (
    "issue.created", "issue.updated", "issue.status_changed", "issue.transitioned",
    "issue.assigned", "issue.closed", "issue.archived", "issue.deleted",
    "comment.created", "comment.updated", "comment.deleted",
    "project.created", "project.updated", "project.archived", "project.deleted",
    "sprint.created", "sprint.updated", "sprint.started", "sprint.completed", "sprint.deleted",
    "milestone.created", "milestone.updated", "milestone.completed", "milestone.deleted",
    "member.added", "member.updated", "member.removed", "member.invited", "member.joined",
    "org.created", "org.updated",
    "api_key.created", "api_key.revoked",
)  # fmt: skip
# Families of API.md §10 whose routes do not exist yet: subscribable by family.
FUTURE_FAMILIES = ("doc", "time_entry", "invoice", "deal")
FAMILIES = frozenset({t.split(".", 1)[0] for t in EVENT_TYPES} | set(FUTURE_FAMILIES))
# The endpoints' own management events stay in the audit log: never sent to an endpoint.
NOT_SENT = "webhook"
# Every value an entry of a subscription may take.
SUBSCRIBABLE: tuple[str, ...] = (
    "*",
    *sorted(f"{family}.*" for family in FAMILIES),
    *EVENT_TYPES,
)
PING = "webhook.ping"


def unknown_events(events: Iterable[str]) -> list[str]:
    """The entries that name no event type, family (``issue.*``) or ``*``."""
    known = set(EVENT_TYPES)
    bad = []
    for name in events:
        if name == "*" or name in known:
            continue
        family, _, rest = name.partition(".")
        if rest == "*" and family in FAMILIES:
            continue
        bad.append(name)
    return bad


def subscribed(events: Iterable[str], event_type: str) -> bool:
    family = event_type.split(".", 1)[0]
    if family == NOT_SENT:
        return False
    wanted = set(events)
    return "*" in wanted or event_type in wanted or f"{family}.*" in wanted
