from projekt.core.errors import Forbidden, NotFound, ValidationFailed


class IssueNotFound(NotFound):
    code, message = "issue_not_found", "Issue not found."


class CommentNotFound(NotFound):
    code, message = "comment_not_found", "Comment not found."


class NotCommentAuthor(Forbidden):
    code, message = "not_comment_author", "Only the author or an admin may change this comment."


class BulkFailed(ValidationFailed):
    """A bulk change refused as a whole: ``errors`` maps each failing issue id to its reason."""

    code, message = "bulk_failed", "Some issues could not be changed; nothing was written."
