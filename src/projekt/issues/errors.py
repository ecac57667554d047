from projekt.core.errors import NotFound


class IssueNotFound(NotFound):
    code, message = "issue_not_found", "Issue not found."


class CommentNotFound(NotFound):
    code, message = "comment_not_found", "Comment not found."
