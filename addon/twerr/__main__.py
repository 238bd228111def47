"""`python -m twerr`: the `twerr` command (twerr/cli.py)."""

from twerr.cli import main

raise SystemExit(main())
