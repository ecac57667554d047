"""Realistic data, fast: COPY into the real tables (PostgreSQL) or executemany (SQLite).

10 orgs × 5 members, 10 projects per org, N issues spread evenly with descriptions, labels and
some comments, and one PAT per member (plaintext kept in memory for the load generator).
PostgreSQL also gets a record (``events``, issue 16): ``events_per_org`` events per org (mostly
issues', with comments' and projects' mixed in, so a page of the changes feed reads three
resource types), with each org's counter at its last number, for the changes feed to read.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

ORGS = 10
MEMBERS = 5
PROJECTS_PER_ORG = 10
# The record's size per org in every PostgreSQL bench database (the changes feed reads it), and
# in the variant that holds a million events in all (the issue list must not slow down).
EVENTS_PER_ORG = 1_000
EVENTS_PER_ORG_BIG = 100_000
ROLES = ("owner", "admin", "manager", "member", "viewer")
STATUSES = ("Backlog", "To Do", "In Progress", "In Review", "Done")
PRIORITIES = ("low", "medium", "high", "urgent")
TYPES = ("task", "bug", "story", "chore")
LABELS = ("frontend", "backend", "infra", "docs", "ux", "perf", "security")
WORDS = [
    "login",
    "cache",
    "flaky",
    "deploy",
    "button",
    "layout",
    "query",
    "index",
    "timeout",
    "retry",
    "sprint",
    "report",
    "export",
    "import",
    "billing",
    "invoice",
    "search",
    "filter",
    "mobile",
    "android",
    "ios",
    "webhook",
    "token",
    "session",
    "banner",
    "crash",
    "memory",
    "leak",
    "slow",
    "render",
    "table",
    "chart",
    "email",
    "notify",
    "upload",
    "avatar",
    "profile",
    "settings",
]
COLUMNS = [
    {"key": k, "name": n, "category": c, "position": i}
    for i, (k, n, c) in enumerate(
        [
            ("backlog", "Backlog", "todo"),
            ("todo", "To Do", "todo"),
            ("in_progress", "In Progress", "in_progress"),
            ("in_review", "In Review", "in_progress"),
            ("done", "Done", "done"),
        ]
    )
]
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
# Every seeded user's password; the benchmark only signs in with keys.
PASSWORD_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$c2VlZHNlZWRzZWVk$0000000000000000000000000000000000000000000"
)


@dataclass
class Project:
    id: uuid.UUID
    org_id: uuid.UUID
    key: str
    issues: int
    token: str


@dataclass
class Dataset:
    projects: list[Project] = field(default_factory=list)
    # Per org: (issue id, project id, reporter id) in creation order; what the record names.
    issues_of: dict[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]] = field(
        default_factory=dict
    )
    # Per org: (comment id, issue id, project id, author id), and the projects' ids.
    comments_of: dict[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]]] = field(
        default_factory=dict
    )
    projects_of: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    # Per org: the admin's key (the audit log is for admins and owners).
    admin_tokens: dict[uuid.UUID, str] = field(default_factory=dict)


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def build(issue_count: int, seed: int = 7) -> tuple[Dataset, dict[str, list[tuple[Any, ...]]]]:
    rng = random.Random(seed)
    now = datetime(2026, 11, 1, tzinfo=UTC)
    rows: dict[str, list[tuple[Any, ...]]] = {
        k: []
        for k in ("orgs", "users", "memberships", "projects", "api_keys", "issues", "comments")
    }
    data = Dataset()
    per_project = issue_count // (ORGS * PROJECTS_PER_ORG)
    for o in range(ORGS):
        org_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        rows["orgs"].append((org_id, f"Bench Org {o}", f"bench-{o}", False, now, now))
        members = []
        tokens = []
        for m, role in enumerate(ROLES[:MEMBERS]):
            user_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            members.append(user_id)
            email = f"user{o}-{m}@bench.test"
            rows["users"].append(
                (user_id, email, f"User {o}-{m}", None, "en", PASSWORD_HASH, True, now, now)
            )
            rows["memberships"].append((uuid.uuid4(), org_id, user_id, role, now))
            token = "pjk_live_" + "".join(rng.choice(BASE62) for _ in range(32))
            tokens.append(token)
            digest = hashlib.sha256(token.encode()).hexdigest()
            rows["api_keys"].append(
                (uuid.uuid4(), org_id, user_id, "bench", digest, token[-4:], now, None, None, None)
            )
        data.admin_tokens[org_id] = tokens[ROLES.index("admin")]
        for p in range(PROJECTS_PER_ORG):
            project_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            key = f"P{o}{p}X"
            rows["projects"].append(
                (
                    project_id,
                    org_id,
                    key,
                    f"Project {o}-{p}",
                    _sentence(rng, 8),
                    "org",
                    "active",
                    members[0],
                    json.dumps(COLUMNS),
                    per_project,
                    1,
                    0,
                    per_project,
                    0,
                    members[0],
                    now,
                    now,
                )
            )
            # members 0..3 can write issues; the load uses the member's key (role member).
            data.projects.append(Project(project_id, org_id, key, per_project, tokens[3]))
            data.projects_of.setdefault(org_id, []).append(project_id)
            for n in range(1, per_project + 1):
                issue_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                created = now - timedelta(minutes=per_project - n)
                labels = rng.sample(LABELS, rng.randint(0, 3))
                reporter = members[rng.randrange(4)]
                data.issues_of.setdefault(org_id, []).append((issue_id, project_id, reporter))
                rows["issues"].append(
                    (
                        issue_id,
                        org_id,
                        project_id,
                        n,
                        _sentence(rng, 6).capitalize(),
                        _sentence(rng, 40),
                        rng.choice(STATUSES),
                        rng.choice(PRIORITIES),
                        rng.choice(TYPES),
                        rng.choice([*members, None]),
                        reporter,
                        json.dumps(labels),
                        rng.choice([None, 1.0, 2.0, 3.0, 5.0, 8.0]),
                        None,
                        None,
                        None,
                        None,
                        False,
                        1,
                        created,
                        created,
                    )
                )
                if n % 5 == 0:
                    for c in range(2):
                        comment_id = uuid.uuid4()
                        data.comments_of.setdefault(org_id, []).append(
                            (comment_id, issue_id, project_id, members[c])
                        )
                        rows["comments"].append(
                            (
                                comment_id,
                                org_id,
                                issue_id,
                                members[c],
                                None,
                                _sentence(rng, 15),
                                created,
                                created,
                            )
                        )
    return data, rows


COLUMNS_OF = {
    "orgs": "id, name, slug, discoverable, created_at, updated_at",
    "users": "id, email, name, username, locale, password_hash, is_active, created_at, updated_at",
    "memberships": "id, org_id, user_id, role, joined_at",
    "projects": (
        "id, org_id, key, name, description, visibility, status, lead_id, columns, issue_seq, "
        "version, issues_version, open_issues, archived_issues, created_by_id, created_at, "
        "updated_at"
    ),
    "api_keys": (
        "id, org_id, user_id, name, token_hash, last_four, created_at, expires_at, revoked_at, "
        "last_used_at"
    ),
    "issues": (
        "id, org_id, project_id, number, title, description, status, priority, type, assignee_id, "
        "reporter_id, labels, estimated_hours, sprint_id, parent_id, due_date, external_ref, "
        "archived, version, created_at, updated_at"
    ),
    "comments": "id, org_id, issue_id, author_id, parent_id, text, created_at, updated_at",
}
ORDER = ("orgs", "users", "memberships", "projects", "api_keys", "issues", "comments")


EVENT_COLUMNS = (
    "id, org_id, seq, occurred_at, type, resource_type, resource_id, parent_id, project_id, "
    "actor_user_id, credential_kind, credential_id, oauth_client_id, request_id, changes"
)


def event_rows(data: Dataset, per_org: int) -> Iterator[tuple[Any, ...]]:
    """``per_org`` events per org, numbered 1…per_org. Every tenth is a comment's edit and
    every 25th a project's, so each page of the changes feed holds three resource types; the
    rest are each issue's ``issue.created`` in creation order, then ``issue.updated`` round
    after round over the same issues (a record bigger than the issue count is a long history).
    Generated lazily: a million rows of tuples would not fit in memory comfortably."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for org_id, issues in data.issues_of.items():
        comments, projects = data.comments_of[org_id], data.projects_of[org_id]
        n_issue = n_comment = 0
        for seq in range(1, per_org + 1):
            parent_id = None
            if seq % 10 == 4:
                resource_id, parent_id, project_id, actor = comments[n_comment % len(comments)]
                n_comment += 1
                kind, resource_type = "comment.updated", "comment"
                changes = {"text": ["before", "after"]}
            elif seq % 25 == 7:
                resource_id = project_id = projects[seq % len(projects)]
                actor = issues[0][2]
                kind, resource_type = "project.updated", "project"
                changes = {"description": ["before", "after"]}
            else:
                resource_id, project_id, actor = issues[n_issue % len(issues)]
                n_issue += 1
                resource_type = "issue"
                if n_issue <= len(issues):
                    kind, changes = "issue.created", {"title": [None, f"Issue {n_issue}"]}
                else:
                    before, after = PRIORITIES[seq % 4], PRIORITIES[(seq + 1) % 4]
                    kind, changes = "issue.updated", {"priority": [before, after]}
            yield (
                uuid.uuid4(),
                org_id,
                seq,
                start + timedelta(seconds=seq),
                kind,
                resource_type,
                resource_id,
                parent_id,
                project_id,
                actor,
                "pat",
                None,
                None,
                None,
                json.dumps(changes),
            )


async def seed_postgres(
    dsn: str, rows: dict[str, list[tuple[Any, ...]]], data: Dataset, events_per_org: int
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for table in ("events", "event_counters", *reversed(ORDER)):
                await conn.execute(f"TRUNCATE {table} CASCADE")
            for table in ORDER:
                columns = [c.strip() for c in COLUMNS_OF[table].split(",")]
                await conn.copy_records_to_table(table, records=rows[table], columns=columns)
            if events_per_org:
                columns = [c.strip() for c in EVENT_COLUMNS.split(",")]
                await conn.copy_records_to_table(
                    "events", records=event_rows(data, events_per_org), columns=columns
                )
                await conn.copy_records_to_table(
                    "event_counters",
                    records=[(org_id, events_per_org) for org_id in data.issues_of],
                    columns=["org_id", "seq"],
                )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


def seed_sqlite(path: str, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    def convert(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return value.hex
        if isinstance(value, datetime):
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
        return value

    db = sqlite3.connect(path)
    try:
        for table in reversed(ORDER):
            db.execute(f"DELETE FROM {table}")
        for table in ORDER:
            columns = COLUMNS_OF[table]
            marks = ", ".join("?" for _ in columns.split(","))
            db.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                ([convert(v) for v in row] for row in rows[table]),
            )
        db.commit()
        db.execute("ANALYZE")
    finally:
        db.close()


# -- time entries (issue 19): a month of 30 people's time in org 0, and history behind it --------

TIME_PEOPLE = 30  # org 0's 5 members and 25 more who log time
TIME_MONTH = (date(2026, 10, 1), date(2026, 10, 31))
TIME_PER_WORKDAY = 2  # entries per person and working day of the month
TIME_EXTRA_PEOPLE_NS = uuid.UUID("5d1f5a0e-7f0e-4c55-9a51-3b0c5a1e7d19")


def time_people() -> list[tuple[uuid.UUID, str]]:
    """The 25 people who join org 0 to log time (fixed ids: seeding again changes nothing)."""
    return [
        (uuid.uuid5(TIME_EXTRA_PEOPLE_NS, f"person-{n}"), f"time{n}@bench.test")
        for n in range(TIME_PEOPLE - MEMBERS)
    ]


def month_days() -> list[date]:
    first, last = TIME_MONTH
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [day for day in days if day.weekday() < 5]


def time_rows(
    data: Dataset, members: dict[uuid.UUID, list[uuid.UUID]], total: int
) -> Iterator[tuple[Any, ...]]:
    """``total`` entries: two a working day of ``TIME_MONTH`` for each of org 0's people (the
    same rows in every database), then older history of every org's people, working day after
    working day backwards from the month before, until ``total``. Lazy: a million tuples at once would be heavy."""
    projects: dict[uuid.UUID, list[uuid.UUID]] = {}
    for project in data.projects:
        projects.setdefault(project.org_id, []).append(project.id)
    issues: dict[uuid.UUID, list[uuid.UUID]] = {}
    for org_issues in data.issues_of.values():
        for issue_id, project_id, _ in org_issues:
            issues.setdefault(project_id, []).append(issue_id)
    stamp = datetime(2026, 11, 1, tzinfo=UTC)

    def entry(n: int, org_id: uuid.UUID, user_id: uuid.UUID, day: date) -> tuple[Any, ...]:
        project_id = projects[org_id][n % len(projects[org_id])]
        in_project = issues.get(project_id) or [None]
        issue_id = None if n % 4 == 0 else in_project[(n * 7) % len(in_project)]
        return (
            uuid.UUID(int=n + 1, version=4),
            org_id,
            project_id,
            issue_id,
            user_id,
            15 + (n * 37) % 226,
            day,
            "Bench time",
            n % 3 != 0,
            False,
            None,
            None,
            False,
            None,
            1,
            stamp,
            stamp,
        )

    first = data.projects[0].org_id
    n = 0
    for day in month_days():
        for person in members[first]:
            for _ in range(TIME_PER_WORKDAY):
                if n == total:
                    return
                yield entry(n, first, person, day)
                n += 1
    orgs = list(members)
    day = TIME_MONTH[0]
    while n < total:
        day -= timedelta(days=1)
        if day.weekday() >= 5:
            continue
        for org_id in orgs:
            for person in members[org_id]:
                for _ in range(TIME_PER_WORKDAY):
                    if n == total:
                        return
                    yield entry(n, org_id, person, day)
                    n += 1


TIME_COLUMNS = (
    "id, org_id, project_id, issue_id, user_id, minutes, entry_date, description, billable, "
    "running, started_at, ended_at, auto_stopped, invoice_id, revision, created_at, updated_at"
)


async def seed_time_postgres(dsn: str, data: Dataset, total: int) -> bool:
    """Org 0's 30 people and ``total`` time entries; False (and nothing done) when the database
    holds them already."""
    first = data.projects[0].org_id
    people = time_people()
    conn = await asyncpg.connect(dsn)
    try:
        have = await conn.fetchval("SELECT count(*) FROM time_entries")
        joined = await conn.fetchval("SELECT count(*) FROM memberships WHERE org_id = $1", first)
        if have == total and joined == TIME_PEOPLE:
            return False
        now = datetime(2026, 11, 1, tzinfo=UTC)
        async with conn.transaction():
            await conn.execute("DELETE FROM time_entries")
            await conn.executemany(
                "INSERT INTO users (id, email, name, username, locale, password_hash, is_active,"
                " created_at, updated_at) VALUES ($1, $2, $3, NULL, 'en', $4, true, $5, $5)"
                " ON CONFLICT DO NOTHING",
                [(uid, email, f"Time {n}", PASSWORD_HASH, now) for n, (uid, email) in
                 enumerate(people)],
            )  # fmt: skip
            await conn.executemany(
                "INSERT INTO memberships (id, org_id, user_id, role, joined_at)"
                " VALUES ($1, $2, $3, 'member', $4) ON CONFLICT DO NOTHING",
                [(uuid.uuid5(uid, "membership"), first, uid, now) for uid, _ in people],
            )
            members: dict[uuid.UUID, list[uuid.UUID]] = {}
            for row in await conn.fetch(
                "SELECT org_id, user_id FROM memberships ORDER BY joined_at, user_id"
            ):
                members.setdefault(row["org_id"], []).append(row["user_id"])
            members = {p.org_id: members[p.org_id] for p in data.projects}  # in seed order
            await conn.copy_records_to_table(
                "time_entries",
                records=time_rows(data, members, total),
                columns=[c.strip() for c in TIME_COLUMNS.split(",")],
            )
            # What the app's writes keep (migration 0017): each project's count of entries.
            await conn.execute(
                "UPDATE projects SET time_entries = (SELECT count(*) FROM time_entries t"
                " WHERE t.project_id = projects.id)"
            )
        await conn.execute("ANALYZE time_entries")
        return True
    finally:
        await conn.close()
