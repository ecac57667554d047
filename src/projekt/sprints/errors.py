from projekt.core.errors import Conflict, NotFound


class SprintNotFound(NotFound):
    code, message = "sprint_not_found", "Sprint not found."


class SprintStateConflict(Conflict):
    code, message = "sprint_state", "The sprint is not in a state that allows this."


class SprintAlreadyActive(Conflict):
    code, message = "sprint_already_active", "The project already has an active sprint."
