"""The visibility rule's user bind is typed whatever the import order (the SQLite reader
applies a bind's processor: an untyped bind hands sqlite3 a UUID it cannot bind)."""

from __future__ import annotations

import subprocess
import sys

# A fresh interpreter that imports the issues repository before anything else: its statements
# are built at import, before the users model exists.
PROBE = """
from projekt.issues import repository
from sqlalchemy.sql import visitors
types = {
    type(node.type).__name__
    for statement in (repository._READABLE, repository.PROJECT_HEAD, repository.ISSUE_BY_ID)
    for node in visitors.iterate(statement)
    if node.__visit_name__ == "bindparam" and node.key == "user_id"
}
print(sorted(types))
"""


def test_the_user_bind_is_a_uuid_in_any_import_order() -> None:
    found = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=120
    )
    assert found.stdout.strip() == "['Uuid']", found.stdout + found.stderr
