import sys

from rramsim.cli import main

sys.exit(main())
