"""Search through MCP: issues by key or words, people of the org by name or email."""

from __future__ import annotations

from pydantic import Field

from projekt.core.schemas import InputModel
from projekt.issues.service import IssueService
from projekt.issues.tools import summary
from projekt.mcp.registry import Call, Result, Tools
from projekt.orgs.service import OrgService

tools = Tools()


class SearchQuery(InputModel):
    q: str = Field(min_length=1, max_length=100, description="Words, an issue key, a name…")
    limit: int = Field(default=10, ge=1, le=50)


@tools.tool("search_issues", title="Search issues", route="palette_search", input=SearchQuery,
            read_only=True)  # fmt: skip
async def search_issues(call: Call, args: SearchQuery) -> Result:
    """Find issues by key (WEB-12) or by words of their title, in the projects you can see."""
    found = await IssueService(call.uow.session, call.services, call.ctx).search(args.q, args.limit)
    issues = [summary(i) for i in found]
    lines = [f"{i['key']} [{i['status']}] {i['title']}" for i in issues]
    return Result({"issues": issues}, f"{len(issues)} issues" + "".join("\n" + x for x in lines))


@tools.tool("search_people", title="Search people", route="search_people", input=SearchQuery,
            read_only=True)  # fmt: skip
async def search_people(call: Call, args: SearchQuery) -> Result:
    """Find people of the org by name or email: their user id is what assignee_id takes."""
    found = await OrgService(call.uow.session, call.services).search_people(call.ctx, args.q)
    people = [p.model_dump(mode="json") for p in found[: args.limit]]
    lines = [f"{p.get('name')} <{p.get('email')}> ({p.get('user_id')})" for p in people]
    return Result({"people": people}, f"{len(people)} people" + "".join("\n" + x for x in lines))
