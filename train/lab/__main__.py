"""``python -m train.lab``: see ``train.lab.cli``."""

import sys

from .cli import main

sys.exit(main())
