"""What Numba itself costs in memory, apart from any step's arrays.

    python benchmarks/numba_runtime.py      # twice: the second run is warm

Prints one JSON line (MiB of resident memory, read from /proc/self/status):
importing micrograd's fusion (Numba, llvmlite, SciPy), then the first call
of one tiny kernel loaded as fused kernels are (micrograd.fuse.load_kernel:
compiled on a cold cache, loaded from $MICROGRAD_CACHE on a warm one). That
first call is what any first fused step pays once: Numba's typing registries
(which import scipy.linalg for BLAS) and LLVM's code generator.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

TINY = '''\
@numba.njit(cache=True, nogil=True, error_model="numpy")
def tiny(n0, a1):
    o0 = np.empty((n0,), F)
    for i0 in range(n0):
        o0[i0] = a1[i0] + F(1.0)
    return (o0, )
'''


def rss_mib() -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmRSS in /proc/self/status')


def main():
    start = rss_mib()
    from micrograd import fuse
    fuse._numba()
    imported = rss_mib()
    kernel = fuse.load_kernel(TINY, 'tiny', 'float32')
    kernel(4, np.ones(4, np.float32))
    called = rss_mib()
    print(json.dumps({'import_mib': round(imported - start, 1),
                      'first_call_mib': round(called - imported, 1),
                      'cache': fuse.cache_dir()}))


if __name__ == '__main__':
    main()
