"""python -m bioauth_client: the same as the `bioauth` command."""

import sys

from .cli import main

sys.exit(main())
