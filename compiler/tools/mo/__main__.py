"""`python -m compiler.tools.mo`: the Model Optimizer's command line."""

import sys

from compiler.tools.mo.main import main

sys.exit(main())
