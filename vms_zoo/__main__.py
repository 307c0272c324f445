"""`python -m vms_zoo` is the `vms-zoo` command."""

import sys

from vms_zoo.cli import main

sys.exit(main())
