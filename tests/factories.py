"""Typed builders: people with their own signed-in clients, orgs with a member per role, keys."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI

from projekt.api_keys.schemas import ApiKeyCreate
from projekt.api_keys.service import ApiKeyService
from projekt.core.context import Role
from projekt.core.deps import AppServices
from projekt.orgs.schemas import OrgCreate
from projekt.orgs.service import OrgService, find_membership
from projekt.projects.models import Project
from projekt.projects.service import ProjectService

PASSWORD = "correct horse battery"
_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}x{uuid.uuid4().hex[:6]}"


@dataclass
class Person:
    user_id: uuid.UUID
    email: str
    name: str
    client: httpx.AsyncClient
    csrf: str

    def headers(self, org_id: uuid.UUID | None = None) -> dict[str, str]:
        """Session headers: CSRF token for writes, X-Org-Id when an org is meant."""
        headers = {"X-CSRF-Token": self.csrf}
        if org_id is not None:
            headers["X-Org-Id"] = str(org_id)
        return headers


@dataclass
class Org:
    id: uuid.UUID
    slug: str
    members: dict[Role, Person] = field(default_factory=dict)
    employee_ids: dict[Role, uuid.UUID] = field(default_factory=dict)

    @property
    def owner(self) -> Person:
        return self.members[Role.OWNER]


class Factory:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.services: AppServices = app.state.services

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://testserver",
            headers=headers,
        )

    async def person(self, name: str | None = None) -> Person:
        name = name or unique("person")
        email = f"{name.lower()}@example.test"
        client = self.client()
        response = await client.post(
            "/api/auth/signup", json={"email": email, "password": PASSWORD, "name": name}
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Person(uuid.UUID(body["user"]["id"]), email, name, client, body["csrf_token"])

    async def org(self, owner: Person | None = None, *, roles: tuple[Role, ...] = ()) -> Org:
        """An org owned by ``owner`` (a new person by default) with one new person per role."""
        owner = owner or await self.person()
        slug = unique("org")
        async with self.services.db.session() as session:
            created = await OrgService(session, self.services).create_org(
                owner.user_id, OrgCreate(name=f"Org {slug}", slug=slug)
            )
        org = Org(created.id, slug)
        org.members[Role.OWNER] = owner
        org.employee_ids[Role.OWNER] = await self.employee_id(org.id, owner)
        for role in roles:
            person = await self.person()
            org.employee_ids[role] = await self.add_member(org.id, person, role)
            org.members[role] = person
        return org

    async def add_member(self, org_id: uuid.UUID, person: Person, role: Role) -> uuid.UUID:
        async with self.services.db.session() as session:
            return await OrgService(session, self.services).add_member(org_id, person.user_id, role)

    async def employee_id(self, org_id: uuid.UUID, person: Person) -> uuid.UUID:
        async with self.services.db.read() as session:
            found = await find_membership(session, org_id, person.user_id)
        assert found is not None
        return found[0]

    async def key(self, org_id: uuid.UUID, person: Person, name: str = "test key") -> str:
        """A real PAT minted through the service (the HTTP path is tested on its own)."""
        async with self.services.db.session() as session:
            found = await find_membership(session, org_id, person.user_id)
            assert found is not None
            created = await ApiKeyService(session, self.services).mint_for(
                org_id, person.user_id, found[0], ApiKeyCreate(name=name)
            )
        return created.token

    async def project(self, org: Org, key: str | None = None, visibility: str = "org") -> Project:
        async with self.services.db.session() as session:
            project = await ProjectService(session, self.services).create(
                org.id,
                org.owner.user_id,
                key or unique("P")[:8].upper().replace("X", "Q"),
                "Project " + unique("p"),
                visibility=visibility,
            )
        return project
