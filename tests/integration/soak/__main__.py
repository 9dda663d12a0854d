"""``python -m tests.integration.soak``: see :mod:`tests.integration.soak.run`."""

import sys

from tests.integration.soak.run import main

sys.exit(main())
