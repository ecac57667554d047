"""The portal's routes: pages, their markdown, /llms.txt, and the interactive reference.

Public and outside the OpenAPI document, like the /app pages: they are documentation about the
API, not part of it.
"""

from __future__ import annotations

import mimetypes
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import Response

from projekt.core.errors import NotFound
from projekt.developers.content import PLANNED, Page, llms_full_txt, llms_txt, load_pages, render
from projekt.web.pages import page

router = APIRouter(include_in_schema=False)

# Swagger UI's files, as the fastapi-offline package installs them (never a CDN, never a copy
# in this repository); and the two small files of our own that start it.
VIEWER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
OWN_FILES = ("reference.js", "reference.css")
# The reference builds its view with inline styles and data: images (Swagger UI's own CSS);
# scripts still come only from this server.
REFERENCE_CSP = (
    "frame-ancestors 'none'; default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'"
)


def _pages(request: Request) -> list[Page]:
    # Built on first use, once the app has imported every domain (and so every error class).
    state = request.app.state
    pages: list[Page] | None = getattr(state, "developer_pages", None)
    if pages is None:
        pages = load_pages()
        state.developer_pages = pages
    return pages


def _find(request: Request, slug: str) -> Page:
    for candidate in _pages(request):
        if candidate.slug == slug:
            return candidate
    raise NotFound("No such page in the developer docs.")


def _show(request: Request, found: Page) -> Response:
    return page(
        request,
        "developers.html",
        page=found,
        body=render(found),
        pages=_pages(request),
        planned=PLANNED if found.slug == "index" else (),
    )


@router.get("/developers/")
async def developers_index(request: Request) -> Response:
    return _show(request, _find(request, "index"))


@router.get("/developers/reference.html")
async def developers_reference(request: Request) -> Response:
    response = page(request, "reference.html", pages=_pages(request))
    response.headers["Content-Security-Policy"] = REFERENCE_CSP
    return response


@router.get("/developers/assets/{name}")
async def developers_asset(name: str) -> Response:
    if name in VIEWER_FILES:
        path = Path(str(resources.files("fastapi_offline").joinpath("static", name)))
    elif name in OWN_FILES:
        path = Path(str(resources.files("projekt.developers").joinpath("static", name)))
    else:
        raise NotFound("No such file.")
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {"Cache-Control": "public, max-age=3600"}
    return Response(path.read_bytes(), media_type=media_type, headers=headers)


@router.get("/developers/{slug}.md")
async def developers_markdown(request: Request, slug: str) -> Response:
    found = _find(request, slug)
    return Response(found.markdown, media_type="text/markdown; charset=utf-8")


@router.get("/developers/{slug}.html")
async def developers_page(request: Request, slug: str) -> Response:
    if slug == "index":  # one address per page
        raise NotFound("No such page in the developer docs.")
    return _show(request, _find(request, slug))


@router.get("/llms.txt")
async def llms_index(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return Response(llms_txt(_pages(request), base), media_type="text/plain; charset=utf-8")


@router.get("/llms-full.txt")
async def llms_full(request: Request) -> Response:
    return Response(llms_full_txt(_pages(request)), media_type="text/plain; charset=utf-8")
