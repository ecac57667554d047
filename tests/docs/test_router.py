"""Docs over HTTP: content both ways, the tree rules, versions, search, visibility, the record."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select, text

from projekt.core.context import Role
from projekt.core.record import Event
from tests.docs.test_diff import _items, _patch
from tests.factories import Factory, Org, Person
from tests.support import count_statements

PARAGRAPH = {"type": "paragraph", "data": {"text": "Hello <b>world</b>"}}


async def _world(factory: Factory) -> tuple[Org, Person, dict[str, str], str]:
    org = await factory.org(roles=(Role.MEMBER, Role.VIEWER))
    project = await factory.project(org)
    member = org.members[Role.MEMBER]
    return org, member, member.headers(org.id), str(project.id)


async def _doc(person: Person, headers: dict[str, str], project_id: str, **body: Any) -> Any:
    response = await person.client.post(
        f"/api/projects/{project_id}/docs", json={"title": "Doc", **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def _url(project_id: str, doc_id: str, rest: str = "") -> str:
    return f"/api/projects/{project_id}/docs/{doc_id}{rest}"


async def _events(factory: Factory, doc_ids: list[str]) -> list[tuple[str, str]]:
    async with factory.services.db.read() as session:
        stmt = (
            select(Event.type, Event.resource_id)
            .where(Event.resource_id.in_([uuid.UUID(d) for d in doc_ids]))
            .order_by(Event.seq)
        )
        return [(row.type, str(row.resource_id)) for row in await session.execute(stmt)]


async def test_create_and_read_blocks_as_object_or_json_text(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    response = await member.client.post(
        f"/api/projects/{project_id}/docs",
        json={"title": "Guide", "icon": "📘", "position": 3, "blocks": {"blocks": [PARAGRAPH]}},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    doc = response.json()
    assert response.headers["location"] == _url(project_id, doc["id"])
    assert set(doc) == {
        "id", "project_id", "parent_doc_id", "title", "icon", "position", "is_archived",
        "version", "size", "created_by_id", "updated_by_id", "created_at", "updated_at", "blocks",
    }  # fmt: skip
    assert doc["blocks"] == {"blocks": [PARAGRAPH]}
    assert (doc["version"], doc["position"], doc["is_archived"]) == (1, 3, False)
    assert doc["created_by_id"] == str(member.user_id)
    read = await member.client.get(response.headers["location"], headers=headers)
    assert read.json() == doc
    assert read.headers["etag"] == response.headers["etag"]
    as_text = await _doc(member, headers, project_id, blocks='{"blocks": [{"type": "delimiter"}]}')
    assert as_text["blocks"] == {"blocks": [{"type": "delimiter", "data": {}}]}


async def test_bad_content_is_422_naming_the_field_and_writes_nothing(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    url = f"/api/projects/{project_id}/docs"
    bad = {"blocks": [{"type": "header", "data": {"text": "h", "level": 9}}]}
    response = await member.client.post(url, json={"title": "T", "blocks": bad}, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]["blocks"] == [
        "The blocks is invalid: blocks[0].data.level must be 1–6"
    ]
    both = {"title": "T", "blocks": {"blocks": []}, "markdown": "x"}
    response = await member.client.post(url, json=both, headers=headers)
    assert response.status_code == 422
    assert "markdown" in response.json()["errors"]
    assert (await member.client.get(url, headers=headers)).json() == []


async def test_markdown_in_and_out(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    source = "# Plan\n\n- one\n  - one.a\n- two\n\n```py\nprint(1)\n```\n"
    doc = await _doc(member, headers, project_id, markdown=source)
    assert [b["type"] for b in doc["blocks"]["blocks"]] == ["header", "list", "code"]
    url = _url(project_id, doc["id"])
    as_markdown = await member.client.get(url + "?format=markdown", headers=headers)
    assert as_markdown.status_code == 200
    assert as_markdown.headers["content-type"].startswith("text/markdown")
    assert as_markdown.text == source
    accepted = await member.client.get(url, headers={**headers, "Accept": "text/markdown"})
    assert accepted.text == source
    assert (
        accepted.headers["etag"] != (await member.client.get(url, headers=headers)).headers["etag"]
    )
    bad = await member.client.get(url + "?format=pdf", headers=headers)
    assert bad.status_code == 422


async def test_a_parent_is_a_doc_of_the_same_project_never_below_the_doc(
    factory: Factory,
) -> None:
    org, member, headers, project_id = await _world(factory)
    other_project = str((await factory.project(org)).id)
    elsewhere = await _doc(member, headers, other_project)
    root = await _doc(member, headers, project_id, title="Root")
    child = await _doc(member, headers, project_id, title="Child", parent_doc_id=root["id"])
    grandchild = await _doc(member, headers, project_id, parent_doc_id=child["id"])
    assert grandchild["parent_doc_id"] == child["id"]
    for parent in (elsewhere["id"], str(uuid.uuid4())):
        response = await member.client.post(
            f"/api/projects/{project_id}/docs",
            json={"title": "X", "parent_doc_id": parent},
            headers=headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"]["parent_doc_id"]
    for parent in (root["id"], grandchild["id"]):  # itself, and below itself
        response = await member.client.patch(
            _url(project_id, root["id"]), json={"parent_doc_id": parent}, headers=headers
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"]["parent_doc_id"] == ["A doc cannot move below itself."]
    moved = await member.client.patch(
        _url(project_id, grandchild["id"]), json={"parent_doc_id": root["id"]}, headers=headers
    )
    assert moved.json()["parent_doc_id"] == root["id"]
    to_top = await member.client.patch(
        _url(project_id, child["id"]), json={"parent_doc_id": None}, headers=headers
    )
    assert to_top.json()["parent_doc_id"] is None
    # A doc of another project is not found through this one.
    response = await member.client.get(_url(project_id, elsewhere["id"]), headers=headers)
    assert response.status_code == 404


async def test_delete_with_children_is_409_unless_cascade(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    root = await _doc(member, headers, project_id, title="Root")
    child = await _doc(member, headers, project_id, parent_doc_id=root["id"])
    leaf = await _doc(member, headers, project_id, parent_doc_id=child["id"])
    kept = await _doc(member, headers, project_id, title="Kept")
    url = _url(project_id, root["id"])
    refused = await member.client.delete(url, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "doc_has_children"
    assert (
        len((await member.client.get(f"/api/projects/{project_id}/docs", headers=headers)).json())
        == 4
    )
    gone = await member.client.delete(url + "?cascade=true", headers=headers)
    assert gone.status_code == 204, gone.text
    listed = await member.client.get(f"/api/projects/{project_id}/docs", headers=headers)
    assert [d["id"] for d in listed.json()] == [kept["id"]]
    ids = [root["id"], child["id"], leaf["id"]]
    deleted = [e for e in await _events(factory, ids) if e[0] == "doc.deleted"]
    assert deleted[0] == ("doc.deleted", root["id"])
    assert sorted(deleted) == sorted(("doc.deleted", d) for d in ids)


async def test_archive_hides_from_the_list_unless_asked(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    doc = await _doc(member, headers, project_id)
    url = _url(project_id, doc["id"])
    archived = await member.client.patch(url, json={"is_archived": True}, headers=headers)
    assert archived.json()["is_archived"] is True
    assert archived.json()["version"] == 1  # not a save of the content
    base = f"/api/projects/{project_id}/docs"
    assert (await member.client.get(base, headers=headers)).json() == []
    shown = await member.client.get(base + "?include_archived=1", headers=headers)
    assert [d["id"] for d in shown.json()] == [doc["id"]]
    assert "blocks" not in shown.json()[0]  # lists carry no content
    await member.client.patch(url, json={"is_archived": False}, headers=headers)
    kinds = [kind for kind, _ in await _events(factory, [doc["id"]])]
    assert kinds == ["doc.created", "doc.archived", "doc.updated"]


async def test_the_diff_of_a_reordered_list_rebuilds_both_versions(factory: Factory) -> None:
    # 110 words repeated, then reordered: difflib alone took 3.5 s over these 2,000 lines (and
    # minutes at the size cap: test_diff.py); the fallback answers with an exact diff.
    org, member, headers, project_id = await _world(factory)
    before, after = _items(2_000, 110, 1), _items(2_000, 110, 37)
    doc = await _doc(member, headers, project_id, title="Words", blocks={"blocks": before})
    url = _url(project_id, doc["id"])
    saved = await member.client.patch(url, json={"blocks": {"blocks": after}}, headers=headers)
    assert saved.status_code == 200, saved.text
    response = await member.client.get(url + "/versions/1/diff/2", headers=headers)
    assert response.status_code == 200, response.text
    old, new = [
        "# Words\n\n"
        + (await member.client.get(f"{url}/versions/{n}", headers=headers)).json()["markdown"]
        for n in (1, 2)
    ]
    assert _patch(old, response.json()["diff"]) == new


async def test_every_save_is_a_version_and_a_restore_is_a_new_one(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    owner = org.owner
    doc = await _doc(member, headers, project_id, title="Spec", markdown="first draft\n")
    url = _url(project_id, doc["id"])
    second = await owner.client.patch(
        url, json={"markdown": "second draft\n"}, headers=owner.headers(org.id)
    )
    assert second.json()["version"] == 2
    assert second.json()["updated_by_id"] == str(owner.user_id)
    renamed = await member.client.put(url, json={"title": "Spec v2"}, headers=headers)
    assert renamed.json()["version"] == 3
    icon = await member.client.patch(url, json={"icon": "📗"}, headers=headers)
    assert icon.json()["version"] == 3  # metadata only: no new version
    same = await member.client.patch(url, json={"markdown": "second draft\n"}, headers=headers)
    assert same.json()["version"] == 3  # the same content again: nothing to save
    versions = (await member.client.get(url + "/versions", headers=headers)).json()
    assert [v["number"] for v in versions] == [3, 2, 1]
    assert [v["author_id"] for v in versions] == [
        str(member.user_id), str(owner.user_id), str(member.user_id),
    ]  # fmt: skip
    assert all(v["size"] > 0 and v["created_at"] for v in versions)
    first = (await member.client.get(url + "/versions/1", headers=headers)).json()
    assert (first["title"], first["markdown"]) == ("Spec", "first draft\n")
    diff = (await member.client.get(url + "/versions/1/diff/3", headers=headers)).json()
    assert diff["from_version"] == 1 and diff["to_version"] == 3
    assert "-# Spec\n" in diff["diff"] and "+# Spec v2\n" in diff["diff"]
    assert "-first draft\n" in diff["diff"] and "+second draft\n" in diff["diff"]
    etag = (await member.client.get(url, headers=headers)).headers["etag"]
    restored = await member.client.post(
        url + "/restore", json={"version": 1}, headers={**headers, "If-Match": etag}
    )
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert (body["version"], body["title"]) == (4, "Spec")
    assert body["blocks"]["blocks"] == first["blocks"]["blocks"]
    latest = (await member.client.get(url + "/versions?limit=1", headers=headers)).json()
    assert latest["data"][0]["restored_from"] == 1
    assert latest["meta"]["total"] == 4
    missing = await member.client.post(url + "/restore", json={"version": 9}, headers=headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "doc_version_not_found"
    assert (await member.client.get(url + "/versions/9", headers=headers)).status_code == 404
    kinds = [kind for kind, _ in await _events(factory, [doc["id"]])]
    assert kinds == ["doc.created", "doc.updated", "doc.updated", "doc.updated", "doc.restored"]


async def test_a_stale_if_match_writes_nothing(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    doc = await _doc(member, headers, project_id)
    url = _url(project_id, doc["id"])
    etag = (await member.client.get(url, headers=headers)).headers["etag"]
    await member.client.patch(url, json={"title": "First"}, headers={**headers, "If-Match": etag})
    stale = await member.client.patch(
        url, json={"title": "Second"}, headers={**headers, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert (await member.client.get(url, headers=headers)).json()["title"] == "First"


async def test_full_text_search_in_the_list_and_the_palette(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    word = "zeppelin" + uuid.uuid4().hex[:6]
    match = await _doc(
        member, headers, project_id, title="Airships",
        markdown=f"The **{word.upper()}** flies.\n\n| a | b |\n|---|---|\n| hangar | c |\n",
    )  # fmt: skip
    other = await _doc(member, headers, project_id, title="Boats", markdown="Ships sail.\n")
    base = f"/api/projects/{project_id}/docs"

    async def found(q: str) -> list[str]:
        response = await member.client.get(base, params={"q": q}, headers=headers)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()]

    assert await found(word) == [match["id"]]
    assert await found(f"hangar {word}") == [match["id"]]  # every word
    assert await found("boats") == [other["id"]]  # the title too, any case
    assert await found("hangar boats") == []
    assert await found("!!!") == []
    palette = await member.client.get("/api/palette/search", params={"q": word}, headers=headers)
    docs = [h for h in palette.json() if h["type"] == "doc"]
    assert [(h["id"], h["title"]) for h in docs] == [(match["id"], "Airships")]
    # Archived docs leave the palette.
    await member.client.patch(_url(project_id, match["id"]), json={"is_archived": True},
                              headers=headers)  # fmt: skip
    palette = await member.client.get("/api/palette/search", params={"q": word}, headers=headers)
    assert [h for h in palette.json() if h["type"] == "doc"] == []


async def test_a_private_projects_docs_exist_only_for_who_sees_it(factory: Factory) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    owner, member = org.owner, org.members[Role.MEMBER]
    private = str((await factory.project(org, visibility="private")).id)
    word = "secret" + uuid.uuid4().hex[:6]
    doc = await _doc(owner, owner.headers(org.id), private, title=word)
    h = member.headers(org.id)
    assert (await member.client.get(f"/api/projects/{private}/docs", headers=h)).status_code == 404
    assert (await member.client.get(_url(private, doc["id"]), headers=h)).status_code == 404
    for version in ("/versions", "/versions/1", "/versions/1/diff/1"):
        response = await member.client.get(_url(private, doc["id"], version), headers=h)
        assert response.status_code == 404, version
    patch = await member.client.patch(_url(private, doc["id"]), json={"title": "x"}, headers=h)
    assert patch.status_code == 404
    palette = await member.client.get("/api/palette/search", params={"q": word}, headers=h)
    assert [hit for hit in palette.json() if hit["type"] == "doc"] == []
    feed = await member.client.get("/api/changes", headers=h)
    assert doc["id"] not in {c["resource_id"] for c in feed.json()["data"]}


async def test_viewers_read_and_cannot_write(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    doc = await _doc(member, headers, project_id)
    viewer = org.members[Role.VIEWER]
    vh = viewer.headers(org.id)
    assert (await viewer.client.get(_url(project_id, doc["id"]), headers=vh)).status_code == 200
    for method, path, body in (
        ("POST", f"/api/projects/{project_id}/docs", {"title": "x"}),
        ("PATCH", _url(project_id, doc["id"]), {"title": "x"}),
        ("DELETE", _url(project_id, doc["id"]), None),
        ("POST", _url(project_id, doc["id"], "/restore"), {"version": 1}),
    ):
        response = await viewer.client.request(method, path, json=body, headers=vh)
        assert response.status_code == 403, (method, path)


async def test_the_changes_feed_shows_docs_and_their_tombstones(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    client = member.client
    start = (await client.get("/api/changes", headers=headers)).json()["next_cursor"]
    kept = await _doc(member, headers, project_id, title="Kept")
    dropped = await _doc(member, headers, project_id, title="Dropped")
    await client.patch(_url(project_id, kept["id"]), json={"title": "Renamed"}, headers=headers)
    await client.delete(_url(project_id, dropped["id"]), headers=headers)
    page = (await client.get(f"/api/changes?since={start}", headers=headers)).json()
    rows = [(c["type"], c["resource_id"], c["action"]) for c in page["data"]]
    assert rows == [
        ("doc.created", kept["id"], "upsert"),
        ("doc.created", dropped["id"], "delete"),
        ("doc.updated", kept["id"], "upsert"),
        ("doc.deleted", dropped["id"], "delete"),
    ]
    assert page["data"][0]["resource"]["title"] == "Renamed"
    assert page["data"][0]["resource"]["blocks"] == {"blocks": []}


async def test_list_and_get_run_a_constant_number_of_statements(
    app: FastAPI, factory: Factory
) -> None:
    org, member, headers, project_id = await _world(factory)
    counts = []
    for n in (1, 5):
        while len((await member.client.get(f"/api/projects/{project_id}/docs",
                                           headers=headers)).json()) < n:  # fmt: skip
            doc = await _doc(member, headers, project_id, markdown="text " * 50)
        with count_statements(app) as statements:
            listed = await member.client.get(f"/api/projects/{project_id}/docs", headers=headers)
        assert len(listed.json()) == n
        counts.append(len(statements))
        with count_statements(app) as statements:
            got = await member.client.get(_url(project_id, doc["id"]), headers=headers)
        assert got.status_code == 200
        assert len(statements) <= 3, statements
    assert counts[0] == counts[1] <= 3
    # An empty page asks whether the project exists: 404 for a project the caller cannot see.


async def test_paging_and_sorting_follow_the_list_rules(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    for n, title in enumerate(("c", "a", "b")):
        await _doc(member, headers, project_id, title=title, position=n)
    base = f"/api/projects/{project_id}/docs"
    by_title = await member.client.get(base + "?sort=title", headers=headers)
    assert [d["title"] for d in by_title.json()] == ["a", "b", "c"]
    assert by_title.headers["x-total-count"] == "3"
    paged = await member.client.get(base + "?limit=2&sort=-position", headers=headers)
    assert [d["title"] for d in paged.json()["data"]] == ["b", "a"]
    assert paged.json()["meta"]["total"] == 3
    assert (await member.client.get(base + "?sort=size", headers=headers)).status_code == 400


async def test_deleting_the_project_deletes_its_docs_and_versions(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    root = await _doc(member, headers, project_id)
    await _doc(member, headers, project_id, parent_doc_id=root["id"])
    owner = org.owner
    response = await owner.client.delete(
        f"/api/projects/{project_id}", headers=owner.headers(org.id)
    )
    assert response.status_code == 204, response.text
    async with factory.services.db.read() as session:
        for table in ("docs", "doc_versions"):
            column = "project_id" if table == "docs" else "org_id"
            value = uuid.UUID(project_id) if table == "docs" else org.id
            if factory.services.db.dialect == "sqlite":
                value = value.hex  # type: ignore[assignment]
            found = await session.execute(
                text(f"SELECT count(*) FROM {table} WHERE {column} = :v"), {"v": value}
            )
            assert found.scalar_one() == 0, table


async def test_a_new_title_is_searchable_at_once(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    doc = await _doc(member, headers, project_id, title="Before")
    word = "renamed" + uuid.uuid4().hex[:6]
    await member.client.patch(_url(project_id, doc["id"]), json={"title": word}, headers=headers)
    found = await member.client.get(
        f"/api/projects/{project_id}/docs", params={"q": word}, headers=headers
    )
    assert [d["id"] for d in found.json()] == [doc["id"]]


async def test_a_matching_if_none_match_is_304(factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    doc = await _doc(member, headers, project_id)
    url = _url(project_id, doc["id"])
    tags = {}
    for accept in ("application/json", "text/markdown"):
        sent = {**headers, "Accept": accept}
        tags[accept] = (await member.client.get(url, headers=sent)).headers["etag"]
        again = await member.client.get(url, headers={**sent, "If-None-Match": tags[accept]})
        assert again.status_code == 304, accept
    await member.client.patch(url, json={"title": "New"}, headers=headers)
    for accept, tag in tags.items():
        sent = {**headers, "Accept": accept, "If-None-Match": tag}
        assert (await member.client.get(url, headers=sent)).status_code == 200, accept


async def test_a_304_reads_no_content(app: FastAPI, factory: Factory) -> None:
    org, member, headers, project_id = await _world(factory)
    doc = await _doc(member, headers, project_id, markdown="text " * 50)
    url = _url(project_id, doc["id"])
    for accept in ("application/json", "text/markdown"):
        sent = {**headers, "Accept": accept}
        tag = (await member.client.get(url, headers=sent)).headers["etag"]
        with count_statements(app) as statements:
            again = await member.client.get(url, headers={**sent, "If-None-Match": tag})
        assert again.status_code == 304, accept
        assert again.headers["etag"] == tag
        assert statements and not [s for s in statements if "blocks" in s], statements
    # A stale tag reads the doc (and a hidden doc is a 404 even with a tag).
    stale = await member.client.get(url, headers={**headers, "If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.json() == doc
    other = await factory.org(roles=(Role.MEMBER,))
    outsider = other.members[Role.MEMBER]
    sent = {**outsider.headers(other.id), "If-None-Match": "*"}
    assert (await outsider.client.get(url, headers=sent)).status_code == 404


async def test_a_page_past_the_end_still_counts_and_lists_show_the_summary(
    factory: Factory,
) -> None:
    org, member, headers, project_id = await _world(factory)
    for n in range(3):
        await _doc(member, headers, project_id, title=f"Doc {n}", position=n)
    base = f"/api/projects/{project_id}/docs"
    past = await member.client.get(base + "?offset=10&limit=5", headers=headers)
    assert past.status_code == 200
    assert past.json()["data"] == []
    assert past.json()["meta"]["total"] == 3
    assert past.headers["x-total-count"] == "3"
    listed = await member.client.get(base + "?limit=2", headers=headers)
    assert listed.headers["link"].startswith(f"<{base}?")
    first = listed.json()["data"][0]
    assert set(first) == {
        "id", "project_id", "parent_doc_id", "title", "icon", "position", "is_archived",
        "version", "size", "created_by_id", "updated_by_id", "created_at", "updated_at",
    }  # fmt: skip
    got = (await member.client.get(_url(project_id, first["id"]), headers=headers)).json()
    assert {k: v for k, v in got.items() if k != "blocks"} == first


async def test_a_hidden_project_is_404_for_every_shape_of_list(factory: Factory) -> None:
    org = await factory.org(roles=(Role.MEMBER,))
    owner, member = org.owner, org.members[Role.MEMBER]
    private = str((await factory.project(org, visibility="private")).id)
    await _doc(owner, owner.headers(org.id), private, title="Hidden words")
    base = f"/api/projects/{private}/docs"
    h = member.headers(org.id)
    for query in ("", "?q=hidden", "?q=!!!", "?include_archived=1&sort=-title", "?offset=50"):
        assert (await member.client.get(base + query, headers=h)).status_code == 404, query
        seen = await owner.client.get(base + query, headers=owner.headers(org.id))
        assert seen.status_code == 200, query
    missing = f"/api/projects/{uuid.uuid4()}/docs"
    assert (await owner.client.get(missing, headers=owner.headers(org.id))).status_code == 404
    words = await owner.client.get(base + "?q=HIDDEN+word", headers=owner.headers(org.id))
    assert [d["title"] for d in words.json()] == ["Hidden words"]
