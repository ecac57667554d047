from projekt.core.errors import Conflict, NotFound, ValidationFailed


class ProjectNotFound(NotFound):
    code, message = "project_not_found", "Project not found."


class ProjectKeyTaken(Conflict):
    code, message = "project_key_taken", "Another project of this organization has this key."


class ColumnInUse(Conflict):
    code, message = "column_in_use", "A column that still holds issues cannot be removed."


def field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors={field: [message]})
