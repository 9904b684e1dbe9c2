"""python -m micrograd.demo: see micrograd/demo/__init__.py."""
import sys

from . import main

sys.exit(main())
