"""``python -m streamgmm.registry``: the registry's command line (see :mod:`.cli`)."""

from .cli import main

raise SystemExit(main())
