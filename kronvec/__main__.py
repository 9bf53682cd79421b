"""``python -m kronvec``: the tour a newcomer runs first (see :mod:`kronvec.tour`)."""

import sys

from kronvec.tour import main

if __name__ == "__main__":
    sys.exit(main(argv=sys.argv[1:]))
