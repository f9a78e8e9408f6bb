"""`python -m lstmbt` runs the command line."""

import sys

from lstmbt.cli.main import main

sys.exit(main())
