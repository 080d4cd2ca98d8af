"""`arabic-pref COMMAND ...`: one console command for the installed package.

    arabic-pref train [overrides]          = python -m arabic_pref.train (Hydra: overrides, -m, --cfg job, ...)
    arabic-pref data validate|stats PATH   = python -m arabic_pref.data
    arabic-pref compare [options]          = python -m arabic_pref.compare (leaderboard of runs and sweeps)
    arabic-pref config                     = the configuration reference (every field, its defaults and range)

`arabic-pref-train` is the first one alone. Each command keeps its own parser: Hydra reads sys.argv itself.
"""

from __future__ import annotations

import sys

USAGE = __doc__.split("\n\n")[1]


def main() -> None:
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "train":
        from arabic_pref.train import main as train_main

        sys.argv = [f"{sys.argv[0]} train", *rest]
        train_main()
    elif command == "data":
        from arabic_pref.data.cli import main as data_main

        sys.exit(data_main(rest))
    elif command == "compare":
        from arabic_pref.compare.cli import main as compare_main

        sys.exit(compare_main(rest, prog="arabic-pref compare"))
    elif command == "config":
        from arabic_pref.config_reference import markdown_reference

        print(markdown_reference())
    else:
        print(f"usage:\n{USAGE}", file=sys.stderr if command not in ("-h", "--help") else sys.stdout)
        sys.exit(0 if command in ("-h", "--help") else 2)


if __name__ == "__main__":
    main()
