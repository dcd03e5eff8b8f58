"""`python -m cxj_operator`: the same as `cxj operator`."""

import sys

from cxj_operator.cli import main

sys.exit(main())
