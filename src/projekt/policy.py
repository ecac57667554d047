"""The authorization matrix: every route's rule, by route name. A route not listed is denied.

Roles (API.md §3): viewer reads; member writes issues and comments; manager runs projects,
sprints and milestones and mints API keys; admin manages people, roles up to admin, settings and
all keys; owner deletes the org and grants ownership.
"""

from __future__ import annotations

from projekt.authz import Rule, org, path_org, public, user, web
from projekt.core.context import Role

POLICY: dict[str, Rule] = {
    # meta
    "healthz": public(),
    "readyz": public(),
    "openapi_json": public(),
    "openapi_yaml": public(),
    "metrics": public(),
    # identity
    "signup": public(),
    "login": public(),
    "logout": user(tokens=False),
    "get_me": user(),
    # orgs: cross-org routes refuse tokens (a key is bound to one org)
    "list_orgs": user(),
    "create_org": user(tokens=False),
    "search_orgs": user(tokens=False),
    "search_crossorg_orgs": user(tokens=False),
    "join_org": user(tokens=False),
    "list_my_orgs": user(),
    "get_org": path_org(Role.VIEWER),
    "update_org": path_org(Role.ADMIN),
    "delete_org": path_org(Role.OWNER),
    "create_invitation": org(Role.ADMIN),
    "list_team": org(Role.VIEWER),
    "change_member_role": org(Role.ADMIN),
    "remove_member": org(Role.ADMIN),
    "search_people": org(Role.VIEWER),
    "palette_search": org(Role.VIEWER),
    # API keys: minting and revoking need a signed-in person, never another key
    "mint_api_key": org(Role.MANAGER, tokens=False),
    "list_api_keys": org(Role.VIEWER),
    "revoke_api_key": org(Role.VIEWER, tokens=False),
    # projects: members read; managers and up run them
    "list_projects": org(Role.VIEWER),
    "create_project": org(Role.MANAGER),
    "get_project": org(Role.VIEWER),
    "replace_project": org(Role.MANAGER),
    "update_project": org(Role.MANAGER),
    "delete_project": org(Role.MANAGER),
    "get_columns": org(Role.VIEWER),
    "replace_columns": org(Role.MANAGER),
    "list_project_members": org(Role.VIEWER),
    "add_project_member": org(Role.MANAGER),
    "remove_project_member": org(Role.MANAGER),
    # issues and comments: viewers read, members write
    "list_issues": org(Role.VIEWER),
    "create_issue": org(Role.MEMBER),
    "bulk_issues": org(Role.MEMBER),
    "issue_schema": org(Role.VIEWER),
    "get_issue": org(Role.VIEWER),
    "replace_issue": org(Role.MEMBER),
    "update_issue": org(Role.MEMBER),
    "delete_issue": org(Role.MEMBER),
    "transition_issue": org(Role.MEMBER),
    "archive_issue": org(Role.MEMBER),
    "unarchive_issue": org(Role.MEMBER),
    "duplicate_issue": org(Role.MEMBER),
    "list_comments": org(Role.VIEWER),
    "add_comment": org(Role.MEMBER),
    "edit_comment": org(Role.MEMBER),
    "delete_comment": org(Role.MEMBER),
    "issue_activity": org(Role.VIEWER),
    # sprints: members read (and move their issues in and out); managers plan
    "list_sprints": org(Role.VIEWER),
    "create_sprint": org(Role.MANAGER),
    "get_sprint": org(Role.VIEWER),
    "replace_sprint": org(Role.MANAGER),
    "update_sprint": org(Role.MANAGER),
    "delete_sprint": org(Role.MANAGER),
    "start_sprint": org(Role.MANAGER),
    "complete_sprint": org(Role.MANAGER),
    "sprint_stats": org(Role.VIEWER),
    "sprint_burndown": org(Role.VIEWER),
    "sprint_capacity": org(Role.VIEWER),
    # milestones: members read; managers plan
    "list_milestones": org(Role.VIEWER),
    "create_milestone": org(Role.MANAGER),
    "get_milestone": org(Role.VIEWER),
    "replace_milestone": org(Role.MANAGER),
    "update_milestone": org(Role.MANAGER),
    "delete_milestone": org(Role.MANAGER),
    # OAuth 2.1 authorization server: public protocol endpoints; the consent post is a form
    "authorization_server_metadata": public(),
    "protected_resource_metadata": public(),
    "protected_resource_metadata_api": public(),
    "register_client": public(),
    "authorize_page": public(),
    "authorize_decision": web(),
    "token": public(),
    "revoke": public(),
    # web pages check the session themselves and redirect to sign-in
    "web_signup_page": public(),
    "web_signup": public(),
    "web_login_page": public(),
    "web_login": public(),
    "web_logout": web(),
    "web_home": web(),
    "web_create_org": web(),
    "web_switch_org": web(),
    "web_integrations": web(),
    "web_mint_key": web(),
    "web_revoke_key": web(),
}
