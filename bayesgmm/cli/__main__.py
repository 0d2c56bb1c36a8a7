"""``python -m bayesgmm.cli``: the ``bayesgmm`` command."""

import sys

from bayesgmm.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
