from projekt.core.errors import Conflict, NotFound, Unauthorized


class InvalidCredentials(Unauthorized):
    code, message = "invalid_credentials", "Email or password is incorrect."


class EmailTaken(Conflict):
    code, message = "email_taken", "An account with this email already exists."


class UsernameTaken(Conflict):
    code, message = "username_taken", "This username is taken."


class UserNotFound(NotFound):
    code, message = "user_not_found", "User not found."
