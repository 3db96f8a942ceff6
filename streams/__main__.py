"""``python -m streams worker -l info``: the moderation worker, as in Faust's own CLI.
``python -m streams campaign-fold``: the campaign fold in a process of its own
(``CHATGUARD_CAMPAIGN_FOLD=separate``)."""

import sys

if len(sys.argv) >= 2 and sys.argv[1] == "worker":
    from streams.worker import main

    sys.exit(main(sys.argv[2:]))
if len(sys.argv) == 2 and sys.argv[1] == "campaign-fold":
    from streams.fold_process import main as fold_main

    sys.exit(fold_main())
print(
    "usage: python -m streams worker [faust worker options] | python -m streams campaign-fold",
    file=sys.stderr,
)
sys.exit(2)
