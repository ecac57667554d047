from projekt.core.errors import Conflict, NotFound, ValidationFailed


class ApiKeyNotFound(NotFound):
    code, message = "api_key_not_found", "API key not found."


class KeyLimitReached(Conflict):
    code, message = "key_limit_reached", "You already have the maximum number of active keys here."


def expiry_in_past() -> ValidationFailed:
    return ValidationFailed(errors={"expires_at": ["The expires_at must be in the future"]})
