from projekt.core.errors import Conflict, NotFound


class DocNotFound(NotFound):
    code, message = "doc_not_found", "Doc not found."


class DocVersionNotFound(NotFound):
    code, message = "doc_version_not_found", "This doc has no such version."


class DocHasChildren(Conflict):
    code, message = (
        "doc_has_children",
        "The doc has child docs; delete them first or send ?cascade=true.",
    )
