from projekt.core.errors import Conflict, Forbidden, NotFound


class OrgNotFound(NotFound):
    code, message = "org_not_found", "Organization not found."


class SlugTaken(Conflict):
    code, message = "slug_taken", "This slug is already used by another organization."


class MemberNotFound(NotFound):
    code, message = "member_not_found", "No such member in this organization."


class LastOwner(Conflict):
    code, message = "last_owner", "The last owner cannot be removed or demoted."


class RoleNotGrantable(Forbidden):
    code, message = "role_not_grantable", "You cannot grant or change this role."


class AlreadyMember(Conflict):
    code, message = "already_member", "You are already a member of this organization."


class InvalidInvitation(NotFound):
    code, message = "invalid_invitation", "This invitation code is invalid, used or expired."


class InvitationNotFound(NotFound):
    code, message = "invitation_not_found", "No such invitation in this organization."


class InvitationUsed(Conflict):
    code, message = (
        "invitation_used",
        "This invitation was already used; remove the member instead.",
    )
