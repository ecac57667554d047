"""The authorization matrix: every route's rule, by route name. A route not listed is denied.

Roles (API.md §3): viewer reads; member writes issues and comments; manager runs projects,
sprints and milestones and mints API keys; admin manages people, roles up to admin, settings and
all keys and webhooks; owner deletes the org and grants ownership.

Beside it, ``LIMITS``: the rate buckets some routes spend on top of the global budget.
"""

from __future__ import annotations

from projekt.authz import Rule, org, path_org, public, user, web
from projekt.core.context import Role
from projekt.core.ratelimit import Key, Limit

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
    "list_invitations": org(Role.ADMIN),
    "get_invitation": org(Role.ADMIN),
    "revoke_invitation": org(Role.ADMIN),
    "list_team": org(Role.VIEWER),
    "change_member_role": org(Role.ADMIN),
    "remove_member": org(Role.ADMIN),
    "search_people": org(Role.VIEWER),
    "palette_search": org(Role.VIEWER),
    # API keys: minting and revoking need a signed-in person, never another key
    "mint_api_key": org(Role.MANAGER, tokens=False),
    "list_api_keys": org(Role.VIEWER),
    "get_api_key": org(Role.VIEWER),  # as listing: your own keys; admins see everyone's
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
    "get_project_member": org(Role.VIEWER),
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
    "get_comment": org(Role.VIEWER),
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
    # time tracking: members log and change their own time (the service refuses another's
    # entry below manager); everyone who sees a project reads the time logged on it
    "log_issue_time": org(Role.MEMBER),
    "start_issue_timer": org(Role.MEMBER),
    "stop_issue_timer": org(Role.MEMBER),
    "issue_time_summary": org(Role.VIEWER),
    "list_time_entries": org(Role.VIEWER),
    "create_time_entry": org(Role.MEMBER),
    "start_timer": org(Role.MEMBER),
    "active_timer": org(Role.VIEWER),
    "time_summary": org(Role.VIEWER),
    "timesheet": org(Role.VIEWER),
    "get_time_entry": org(Role.VIEWER),
    "replace_time_entry": org(Role.MEMBER),
    "update_time_entry": org(Role.MEMBER),
    "delete_time_entry": org(Role.MEMBER),
    "stop_time_entry": org(Role.MEMBER),
    # docs: viewers read, members write (a private project's docs: who sees the project)
    "list_docs": org(Role.VIEWER),
    "create_doc": org(Role.MEMBER),
    "get_doc": org(Role.VIEWER),
    "replace_doc": org(Role.MEMBER),
    "update_doc": org(Role.MEMBER),
    "delete_doc": org(Role.MEMBER),
    "list_doc_versions": org(Role.VIEWER),
    "get_doc_version": org(Role.VIEWER),
    "diff_doc_versions": org(Role.VIEWER),
    "restore_doc": org(Role.MEMBER),
    # the record's readers
    "audit_log": org(Role.ADMIN),
    "list_changes": org(Role.VIEWER),
    # webhooks (API.md §10): admins and owners manage them and read their delivery logs
    "list_webhooks": org(Role.ADMIN),
    "create_webhook": org(Role.ADMIN),
    "get_webhook": org(Role.ADMIN),
    "update_webhook": org(Role.ADMIN),
    "delete_webhook": org(Role.ADMIN),
    "rotate_webhook_secret": org(Role.ADMIN),
    "ping_webhook": org(Role.ADMIN),
    "list_webhook_deliveries": org(Role.ADMIN),
    "get_webhook_delivery": org(Role.ADMIN),
    "redeliver_webhook_delivery": org(Role.ADMIN),
    "replay_webhook": org(Role.ADMIN),
    # OAuth 2.1 authorization server: public protocol endpoints; the consent post is a form
    "authorization_server_metadata": public(),
    "protected_resource_metadata": public(),
    "protected_resource_metadata_api": public(),
    "protected_resource_metadata_mcp": public(),
    "register_client": public(),
    "authorize_page": public(),
    "authorize_decision": web(),
    "token": public(),
    "revoke": public(),
    # the developer portal: public documentation (issue 20)
    "developers_index": public(),
    "developers_reference": public(),
    "developers_asset": public(),
    "developers_markdown": public(),
    "developers_page": public(),
    "llms_index": public(),
    "llms_full": public(),
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
    # Organization → Settings (the pages check the role themselves and show why not)
    "web_settings_general": web(),
    "web_update_org": web(),
    "web_delete_org": web(),
    "web_people": web(),
    "web_invite": web(),
    "web_change_role": web(),
    "web_remove_member": web(),
    "web_revoke_invitation": web(),
    "web_audit": web(),
    "web_join_page": web(),
    "web_join": web(),
    "web_webhooks": web(),
    "web_create_webhook": web(),
    "web_pause_webhook": web(),
    "web_delete_webhook": web(),
    "web_ping_webhook": web(),
    "web_redeliver_webhook": web(),
}


# Rate buckets on top of the global one (API.md §6), by route name: the setting with the rate,
# and what the bucket counts by. Every way of doing one thing (an API route and the web form
# that does the same) names the same bucket. Caps on endpoints reached before anyone is signed
# in count by client IP, never by a credential the request happens to carry.
API_KEY_MINT = Limit("api_key_mint", "rate_limit_api_key_mint", Key.PERSON_ORG)
SEARCH = Limit("search", "rate_limit_search", Key.CREDENTIAL)
PROJECT_WRITE = Limit("project_write", "rate_limit_project_write", Key.CREDENTIAL)
LOGIN = Limit("login_ip", "rate_limit_login_ip", Key.IP)  # and per account: AuthService
SIGNUP = Limit("signup_ip", "rate_limit_signup_ip", Key.IP)
ORG_CREATE = Limit("org_create", "rate_limit_org_create", Key.PERSON)
INVITATION = Limit("invitation", "rate_limit_invitation", Key.PERSON)
OAUTH_REGISTER = Limit("oauth_register", "rate_limit_oauth_register", Key.IP)
OAUTH_TOKEN = Limit("oauth_token", "rate_limit_oauth_token", Key.IP)

LIMITS: dict[str, Limit] = {
    "signup": SIGNUP,
    "web_signup": SIGNUP,
    "login": LOGIN,
    "web_login": LOGIN,
    "create_org": ORG_CREATE,
    "web_create_org": ORG_CREATE,
    "create_invitation": INVITATION,
    "web_invite": INVITATION,
    "search_orgs": SEARCH,
    "search_crossorg_orgs": SEARCH,
    "search_people": SEARCH,
    "palette_search": SEARCH,
    "mint_api_key": API_KEY_MINT,
    "web_mint_key": API_KEY_MINT,
    "create_project": PROJECT_WRITE,
    "replace_project": PROJECT_WRITE,
    "update_project": PROJECT_WRITE,
    "delete_project": PROJECT_WRITE,
    "register_client": OAUTH_REGISTER,
    "token": OAUTH_TOKEN,
}
