"""`python -m twerr report FLOWFILE...`"""

from twerr.report.cli import main

raise SystemExit(main())
