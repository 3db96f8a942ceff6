"""``python -m chatguard`` runs the same command line as the ``chatguard`` script."""

import sys

from chatguard.cli import main

sys.exit(main())
