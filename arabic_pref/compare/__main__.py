"""`python -m arabic_pref.compare` (see arabic_pref.compare.cli)."""

import sys

from arabic_pref.compare.cli import main

sys.exit(main())
