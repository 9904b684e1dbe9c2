"""python -m micrograd.demo: see micrograd/demo/__init__.py."""
import sys

from . import main

if __name__ == '__main__':      # not in the processes a Dask cluster spawns
    sys.exit(main())
