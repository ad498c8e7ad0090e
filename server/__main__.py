"""`python -m server` → server.cli.main()."""

import sys

from server.cli import main

sys.exit(main())
