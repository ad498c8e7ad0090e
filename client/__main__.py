"""`python -m client` → client.cli.main()."""

import sys

from client.cli import main

sys.exit(main())
