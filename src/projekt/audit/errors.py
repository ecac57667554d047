from projekt.core.errors import BadRequest


class BadCursor(BadRequest):
    code, message = "bad_cursor", "The cursor is malformed, of another organization, or stale."
