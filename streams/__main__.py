"""``python -m streams worker -l info``: the moderation worker, as in Faust's own CLI."""

import sys

from streams.worker import main

if len(sys.argv) < 2 or sys.argv[1] != "worker":
    print("usage: python -m streams worker [faust worker options]", file=sys.stderr)
    sys.exit(2)
sys.exit(main(sys.argv[2:]))
