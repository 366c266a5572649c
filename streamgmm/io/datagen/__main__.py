"""``python -m streamgmm.io.datagen``: see :func:`streamgmm.io.datagen.command.main`."""

import sys

from .command import main

sys.exit(main())
