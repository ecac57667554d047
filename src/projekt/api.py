"""Every router of the app, in one readable list."""

from fastapi import APIRouter

from projekt import health
from projekt.api_keys.router import router as api_keys_router
from projekt.audit.router import router as audit_router
from projekt.auth.router import router as auth_router
from projekt.developers.router import router as developers_router
from projekt.docs.router import router as docs_router
from projekt.issues.router import router as issues_router
from projekt.milestones.router import router as milestones_router
from projekt.oauth.router import router as oauth_router
from projekt.orgs.router import router as orgs_router
from projekt.projects.router import router as projects_router
from projekt.search.router import router as search_router
from projekt.sprints.router import router as sprints_router
from projekt.time_tracking.router import router as time_router
from projekt.web.router import router as web_router
from projekt.web.webhooks import router as web_webhooks_router
from projekt.webhooks.router import router as webhooks_router

# The busiest routes first: a request is matched against the routes in this order. They are
# included into the app one by one (not through a parent router): each level of nesting costs
# FastAPI a walk through every route of that level on every request.
ROUTERS: list[APIRouter] = [
    issues_router,
    # Two routes; the changes feed is what integrations poll (behind some 110 routes it paid
    # about a third of its CPU for matching them).
    audit_router,
    projects_router,
    # Docs and time entries are read far more often than sprints and milestones are managed
    # (a doc's page, a timer, a summary): ahead of them, a doc's GET is matched after about
    # 40 routes instead of 64 (bench/README.md).
    docs_router,
    time_router,
    sprints_router,
    milestones_router,
    health.router,
    auth_router,
    oauth_router,
    orgs_router,
    api_keys_router,
    search_router,
    webhooks_router,
    web_router,
    web_webhooks_router,
    developers_router,
]
