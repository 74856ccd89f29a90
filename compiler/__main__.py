"""`python -m compiler check|emit ...` (see compiler/api.py)."""
import sys

from compiler.api import main

sys.exit(main())
