"""``python -m streamgmm.cli``: the ``streamgmm`` command."""

from . import main

raise SystemExit(main())
