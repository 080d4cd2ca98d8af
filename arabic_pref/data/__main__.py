"""`python -m arabic_pref.data validate|stats PATH` (see arabic_pref.data.cli)."""

import sys

from arabic_pref.data.cli import main

if __name__ == "__main__":
    sys.exit(main())
