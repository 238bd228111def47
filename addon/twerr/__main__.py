"""`python -m twerr report FLOWFILE...`"""

from twerr.cli import main

raise SystemExit(main())
