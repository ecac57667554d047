from projekt.core.errors import NotFound


class MilestoneNotFound(NotFound):
    code, message = "milestone_not_found", "Milestone not found."
