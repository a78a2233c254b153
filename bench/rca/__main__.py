import sys

from bench.rca.run import main

sys.exit(main())
