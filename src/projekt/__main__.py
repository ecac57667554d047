"""``python -m projekt``: the same as the ``projekt`` command."""

from projekt.cli import main

raise SystemExit(main())
