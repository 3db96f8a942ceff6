"""``python -m streams worker -l info``: the moderation worker, as in Faust's own CLI.
``python -m streams campaign-fold``: the campaign fold in a process of its own
(``CHATGUARD_CAMPAIGN_FOLD=separate``)."""

import sys


def run() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "worker":
        from streams.worker import main

        return main(sys.argv[2:])
    if len(sys.argv) == 2 and sys.argv[1] == "campaign-fold":
        from streams.fold_process import main as fold_main

        return fold_main()
    print(
        "usage: python -m streams worker [faust worker options] | python -m streams campaign-fold",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":  # not when a scoring child's start-up imports this module
    sys.exit(run())
