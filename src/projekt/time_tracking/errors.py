from projekt.core.errors import Conflict, Forbidden, NotFound, ValidationFailed


class TimeEntryNotFound(NotFound):
    code, message = "time_entry_not_found", "Time entry not found."


class NoRunningTimer(NotFound):
    code, message = "no_running_timer", "No timer is running."


class TimerAlreadyRunning(Conflict):
    code, message = (
        "timer_already_running",
        "A timer is already running for you in this organization; stop it first.",
    )


class EntryInvoiced(Conflict):
    code, message = "entry_invoiced", "This time entry is on an invoice and cannot change."


class NotYourEntry(Forbidden):
    code, message = (
        "not_your_entry",
        "Members change their own time entries; managers and above change everyone's.",
    )


class DayOverLimit(ValidationFailed):
    code, message = "day_over_limit", "One person's entries of a day cannot exceed 24 hours."


class FutureDate(ValidationFailed):
    code, message = "future_date", "Time cannot be logged on a future date."


class BadWeek(ValidationFailed):
    code, message = "bad_week", "week must be an ISO week written YYYY-Www, such as 2026-W48."
