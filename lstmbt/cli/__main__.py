"""`python -m lstmbt.cli` runs the command line."""

import sys

from lstmbt.cli.main import main

sys.exit(main())
