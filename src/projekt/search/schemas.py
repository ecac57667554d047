from __future__ import annotations

import uuid
from typing import Literal

from projekt.core.schemas import OutputModel


class PaletteHit(OutputModel):
    type: Literal["project", "issue", "person", "doc"]
    id: uuid.UUID
    title: str
    subtitle: str | None = None
    key: str | None = None
