"""Imports every domain's models so Alembic and the tests see the whole schema."""

from projekt.api_keys import models as api_keys_models
from projekt.auth import models as auth_models
from projekt.core import idempotency as idempotency_models
from projekt.core import record as record_models
from projekt.core.db import Base
from projekt.docs import models as docs_models
from projekt.issues import models as issues_models
from projekt.milestones import models as milestones_models
from projekt.oauth import models as oauth_models
from projekt.orgs import models as orgs_models
from projekt.projects import models as projects_models
from projekt.sprints import models as sprints_models
from projekt.time_tracking import models as time_tracking_models
from projekt.webhooks import models as webhooks_models

__all__ = [
    "Base",
    "api_keys_models",
    "auth_models",
    "docs_models",
    "idempotency_models",
    "issues_models",
    "milestones_models",
    "oauth_models",
    "orgs_models",
    "projects_models",
    "record_models",
    "sprints_models",
    "time_tracking_models",
    "webhooks_models",
]

metadata = Base.metadata
