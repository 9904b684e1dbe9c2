"""Row-chunked execution: a loss that is a sum or mean over the rows of its
data, computed a chunk of rows at a time, on a thread pool.

    loss = pinball(model(x), y, quantiles)        # x: Value(shape=(None, 100))
    micrograd.chunked(loss, workers=2)           # rows: about 1 MiB arrays
    loss.forward(x=X, y=Y)          # the loss and its gradients, chunk by chunk
    loss.backward()                 # (computed with the forward: nothing to do)
    with micrograd.no_grad():
        loss.forward(x=X, y=Y)      # the loss only: no backward, cheaper

A chunk's activations live only while it runs, so the gradients cannot be
computed later from stored activations: when a backward is expected (the
loss needs a gradient, outside `no_grad`), forward computes them with the
loss, in one pass. Under `no_grad` it computes the loss only; a
`backward()` after that (or one given a gradient) runs the forward and
backward again on the leaves' data.

Each chunk runs the compiled graph (see compile.py) on its rows in local
variables; the chunks' parameter gradients are added up. For a mean, chunk c
of n_c rows is weighted n_c / N. The result is the whole-batch gradient (up
to the order of floating-point additions), while every temporary array has
`rows` rows instead of N: memory is bounded by the chunk, and the arrays stay
in cache. NumPy releases the GIL in its kernels, so threads run in parallel.

Only graphs whose rows stay apart until the final reduction are accepted:
elementwise ops, `x @ W`, reductions and reshapes that keep the batch axis,
and as the root a sum or mean over the batch axis. Anything that mixes rows
before that (batch normalisation, a sum over the batch axis in the middle,
indexing rows) is refused with an error naming the op.
"""
from __future__ import annotations

import contextlib
import ctypes
import math
import os
import platform
import threading
from concurrent.futures import ThreadPoolExecutor

from .compile import Plan
from .checks import FeedError, check_feeds, feed
from .engine import Value
from .executor import Executor
from .ops import MEAN, SUM


def _keeps_rows(node: Value, batch: set) -> bool:
    """Does `node` keep each row of its batch inputs apart, on axis 0? The
    op's record says: its kind, or its own `keeps_rows`."""
    op, rows = node.op, tuple(id(p) in batch for p in node.parents)
    if op.kind == 'elementwise':        # batch inputs span all the axes
        return all(p.ndim == node.ndim if r else
                   p.ndim < node.ndim or p.shape[0] == 1
                   for p, r in zip(node.parents, rows))
    if op.kind in ('reduce', 'along_axis'):
        return 0 not in node.meta['axis']
    return op.keeps_rows is not None and bool(op.keeps_rows(node, rows))


def batch_analysis(root: Value):
    """The batch placeholders' names, 'sum' or 'mean' (the root) and the
    bytes per row of the widest batch-sized array; or a ValueError naming
    the op that mixes rows."""
    batch, names, width = set(), [], 0
    for node in root.topo():
        if node.op is None:
            if node.placeholder and node.placeholder[0] is None:
                if node.requires_grad:
                    raise ValueError(
                        f"chunked: batch placeholder '{node.name}' asks for a "
                        'gradient; data placeholders need requires_grad=False')
                batch.add(id(node))
                names.append(node.name)
            continue
        if not any(id(p) in batch for p in node.parents):
            continue
        if node is root:
            break
        if not _keeps_rows(node, batch):
            shapes = ' and '.join(str(p.shape) for p in node.parents)
            raise ValueError(
                f"chunked: '{node.op.name}' on shapes {shapes} mixes rows of "
                'the batch before the final reduction; chunking would change '
                'the result')
        batch.add(id(node))
        shape = tuple(node.data.shape)
        if shape and shape[0]:
            width = max(width, math.prod(shape[1:]) * _itemsize(node))
    if not names:
        raise ValueError('chunked: the graph has no placeholder with a '
                         "leading None (batch) dimension, e.g. "
                         "Value(shape=(None, 100), name='x')")
    if (root.op not in (SUM, MEAN) or 0 not in root.meta['axis'] or
            id(root.parents[0]) not in batch):
        raise ValueError('chunked: the root must be a sum or mean over the '
                         f"batch axis (axis 0); it is "
                         f"'{root.op.name if root.op else 'a leaf'}'")
    return names, 'mean' if root.op is MEAN else 'sum', width


def _itemsize(node: Value) -> int:
    """Bytes per element, on any backend (NumPy's dtype knows its
    itemsize; the Array API's is asked through finfo / iinfo)."""
    dtype = node.data.dtype
    size = getattr(dtype, 'itemsize', None)
    if isinstance(size, int):
        return size
    xp = node.bk
    if xp.isdtype(dtype, 'bool'):
        return 1
    info = xp.finfo if xp.isdtype(dtype, ('real floating',
                                          'complex floating')) else xp.iinfo
    return info(dtype).bits // 8 * (2 if xp.isdtype(
        dtype, 'complex floating') else 1)


CACHE_BYTES = 1 << 20       # rows=None: the widest temporary about this big


class ChunkedPlan(Executor):
    """The chunked executor: forward(feeds, grads) runs the compiled step
    (forward and backward) chunk by chunk when `grads`, the compiled
    forward alone (`Plan.evaluate`) otherwise.

    A batch of one chunk runs as `compile` runs it, on the calling
    thread: the compiled forward, which keeps its activations on the
    nodes, then (when `grads`) the compiled backward. It costs what the
    compiled step costs, memory included: arrays that live from one step
    to the next are reused, where a step whose temporaries all die at once
    has them trimmed and faulted in again.
    The thread pool is made once, when a step first has more than one
    chunk, and kept for the life of the plan. While the chunks of a step
    run on several workers, BLAS is held to `blas_threads` threads (then
    restored; None: left alone)."""

    def __init__(self, root: Value, rows: int, workers: int, previous=None,
                 blas_threads: int | None = 1, fuse: bool = False):
        if rows is not None and (not isinstance(rows, int) or rows < 1) or \
                not isinstance(workers, int) or workers < 1:
            raise ValueError('chunked: rows (or None) and workers must be '
                             'positive ints')
        if blas_threads is not None and (
                not isinstance(blas_threads, int) or blas_threads < 1):
            raise ValueError('chunked: blas_threads must be a positive int '
                             f'or None, got {blas_threads!r}')
        # chunked again: the inner nodes' data is gone, the analysis stays
        self.analysis = (previous.analysis if previous is not None else
                         batch_analysis(root))
        self.batch_names, self.kind, width = self.analysis
        if rows is None:                # chunks whose arrays stay in cache
            rows = min(65536, max(256, CACHE_BYTES // max(width, 1)))
        self.root, self.rows, self.workers = root, rows, workers
        self.blas_threads = blas_threads
        self.fuse = fuse
        if fuse:
            from .fuse import FusedPlan
        self.plan = FusedPlan(root) if fuse else Plan(root)
        self.epoch, self.topo = self.plan.epoch, self.plan.topo
        self.named = [n for n in self.topo if n.op is None and n.name]
        self.inner = [(n, NotKept(n)) for n in self.topo
                      if n.op is not None and n is not root]
        self.pool = self.blas = self._ones = None
        self.has_grads = False          # did the last forward fill them?
        self.stored = False     # did it keep the activations (one chunk)?

    def forward(self, feeds, grads):
        self.has_grads = self.stored = False
        if self._one_chunk(feeds):      # run as compile runs it
            # (feeds, checks, keeps activations; a fused small graph may
            # fill the gradients too, which its backward then keeps)
            self.plan.forward(feeds, grads)
            self.stored = True
            if grads:
                self.plan.backward(None)
                self.has_grads = True
            return self.has_grads
        check_feeds(self.topo, feeds)
        for node in self.named:
            feed(node, feeds)                      # checks shapes, casts
        self._run(None if grads else False)
        return self.has_grads

    def backward(self, seed):
        """The gradients: computed by the forward already, unless it ran
        under no_grad or a gradient `seed` is given (then, after a batch of
        one chunk, from its stored activations; otherwise a chunked
        forward and backward runs again, on the leaves' data)."""
        if seed is None and self.has_grads:
            return
        if self.stored:
            self.plan.backward(seed)
        else:
            self._run(seed)

    def _one_chunk(self, feeds) -> bool:
        """Are the batch feeds arrays of at most `rows` rows, as many
        each? (Anything else takes the general path, which names what is
        wrong.)"""
        total = None
        for name in self.batch_names:
            shape = getattr(feeds.get(name), 'shape', None)
            if not shape or total is not None and shape[0] != total:
                return False
            total = shape[0]
        return total is not None and total <= self.rows

    def _run(self, seed):
        """One chunked pass over the named leaves' data: the loss only
        (seed False), or the loss and the gradients for `seed` (None:
        ones), stored on the root and the leaves."""
        full = {n.name: n.data for n in self.named}
        sizes = {full[name].shape[0] for name in self.batch_names}
        if len(sizes) != 1:
            raise FeedError('chunked: the batch placeholders have different '
                            f'numbers of rows: {sorted(sizes)}')
        total, root = sizes.pop(), self.root
        if seed is None:
            if self._ones is None:
                self._ones = root.bk.ones(root.data.shape,
                                          dtype=root.data.dtype)
            seed = self._ones
        if total <= self.rows:          # one chunk (or none): the whole batch
            result = (self.plan.evaluate(full) if seed is False else
                      self.plan.step(full, seed))
        else:
            result = self._chunks(full, total, seed)
        for node, marker in self.inner:  # (their .grad stays None)
            node.data = marker
        if seed is False:
            root.data = result
            return
        loss, grads = result
        for leaf, g in zip(self.plan.leaves, grads):
            leaf.grad = g
        root.data, root.grad = loss, seed
        self.has_grads = True

    def _chunks(self, full, total, seed):
        """The loss (seed False), or the loss and the gradients, added up
        over chunks of rows: at most `rows` rows a chunk, in a multiple of
        `workers` equal chunks."""
        count = -(-total // self.rows)
        count = -(-count // self.workers) * self.workers
        cuts = [total * k // count for k in range(count + 1)]
        bounds = [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]
        bk = self.root.bk

        def run_chunk(bound):
            a, b = bound
            chunk = dict(full)
            for name in self.batch_names:
                chunk[name] = full[name][a:b, ...]
            scale = (b - a) / total if self.kind == 'mean' else 1.0
            if seed is False:
                return self.plan.evaluate(chunk) * scale
            loss, grads = self.plan.step(chunk, bk.asarray(
                seed * scale, dtype=seed.dtype))
            return loss * scale, grads

        if self.workers == 1:
            results = [run_chunk(b) for b in bounds]
        else:
            if self.pool is None:
                self.pool = ThreadPoolExecutor(self.workers)
            if self.blas is None and self.blas_threads is not None:
                self.blas = _BlasThreads(self.blas_threads)
            with self.blas or contextlib.nullcontext():
                results = list(self.pool.map(run_chunk, bounds))
        if seed is False:
            loss = results[0]
            for chunk_loss in results[1:]:
                loss = loss + chunk_loss
            return loss
        loss, grads = results[0]
        grads = list(grads)
        for chunk_loss, chunk_grads in results[1:]:
            loss = loss + chunk_loss
            grads = [g + h for g, h in zip(grads, chunk_grads)]
        return loss, grads

    def rebuild(self) -> ChunkedPlan:
        """A new plan for the same root (a leaf's requires_grad changed)."""
        return ChunkedPlan(self.root, self.rows, self.workers, self,
                           self.blas_threads, self.fuse)

    def source(self) -> str:
        return self.plan.source()


class _BlasThreads:
    """BLAS at `threads` threads while the chunks run on several workers
    (threadpoolctl, when installed; otherwise set OPENBLAS_NUM_THREADS=1
    yourself): the libraries are looked up once, the limit is set on entry
    and the previous limits restored on exit."""

    def __init__(self, threads: int = 1):
        self.threads = threads
        try:
            from threadpoolctl import ThreadpoolController
            self.controller = ThreadpoolController()
        except ImportError:
            self.controller = None
        self.limit = None

    def __enter__(self):
        if self.controller is not None:
            self.limit = self.controller.limit(limits=self.threads)
        return self

    def __exit__(self, *exc):
        if self.limit is not None:
            self.limit.restore_original_limits()
            self.limit = None


class NotKept:
    """What an inner node holds after a chunked forward: its data only ever
    existed chunk by chunk, in local variables. Reading it raises."""
    __slots__ = ('op',)

    def __init__(self, node):
        self.op = node.op.name

    def _refuse(self, *args, **kwargs):
        raise ValueError(
            f"the data of this '{self.op}' node is not kept by a chunked "
            'forward (chunks run in local variables); evaluate the model on '
            'an unchunked graph, e.g. model(Value(X)).data')

    def __getattr__(self, attr):
        if attr.startswith('__') and attr.endswith('__'):
            raise AttributeError(attr)      # protocols NumPy probes for
        self._refuse()

    __array__ = __getitem__ = __len__ = __iter__ = __float__ = __int__ = \
        __bool__ = __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = \
        __rmul__ = __truediv__ = __rtruediv__ = __gt__ = __lt__ = __ge__ = \
        __le__ = __neg__ = __matmul__ = __rmatmul__ = __pow__ = _refuse

    def __repr__(self):
        return f'<{self.op} data not kept by a chunked forward>'


class keep_freed_memory:
    """`with keep_freed_memory(): train...`: glibc's malloc keeps freed
    chunk-sized arrays for reuse, for the duration of the block.

    By default glibc hands a freed block of a few MB back to the system and
    the next step's array of the same size is faulted in again, page by page
    (W1 with 65,536-row chunks: about 150,000 page faults a step). Inside
    the block, arrays up to 32 MiB are taken from the heap and up to 256
    MiB of free heap is kept, so each step reuses the previous step's
    memory: the peak is unchanged, about one step's chunk temporaries stay
    reserved. This is a setting of the whole process (every thread); on
    exit the thresholds in force before are set again (glibc's defaults, or
    MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ from the environment).
    `as kept`: False where malloc is not glibc's (nothing is changed)."""
    _depth = 0
    _lock = threading.Lock()

    def __enter__(self) -> bool:
        with keep_freed_memory._lock:
            mallopt = _mallopt()
            if mallopt is None:
                return False
            if keep_freed_memory._depth == 0:
                # M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1
                if not (mallopt(-3, 32 << 20) and mallopt(-1, 256 << 20)):
                    return False
            keep_freed_memory._depth += 1
            self.entered = True
            return True

    def __exit__(self, *exc):
        if not getattr(self, 'entered', False):
            return
        with keep_freed_memory._lock:
            keep_freed_memory._depth -= 1
            if keep_freed_memory._depth == 0:
                mallopt = _mallopt()
                mallopt(-3, _environ_int('MALLOC_MMAP_THRESHOLD_', 128 << 10))
                mallopt(-1, _environ_int('MALLOC_TRIM_THRESHOLD_', 128 << 10))


def _environ_int(name: str, default: int) -> int:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return default


def _mallopt():
    """glibc's mallopt, or None."""
    if platform.system() != 'Linux' or platform.libc_ver()[0] != 'glibc':
        return None
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None


def chunked(root: Value, rows: int | None = None, workers: int = 2, *,
            blas_threads: int | None = 1, fuse: bool = False) -> Value:
    """Make `root.forward(**feeds)` compute the loss (and, when a backward
    is expected, its gradients) `rows` rows at a time on `workers` threads;
    returns root. rows=None sizes the chunks so that the widest temporary
    array is about 1 MiB (8,192 rows of 32 float32), small enough to stay
    in cache. While a step's chunks run on several workers, BLAS libraries
    are held to `blas_threads` threads (threadpoolctl; restored after each
    step; None leaves them alone). Nothing else of the process is changed:
    see `keep_freed_memory` to let malloc keep the chunks' memory.
    `fuse`: each chunk runs fused kernels, as compile(root, fuse=True)."""
    previous = root.executor if isinstance(root.executor, ChunkedPlan) \
        else None
    root.executor = ChunkedPlan(root, rows, workers, previous, blas_threads,
                                fuse)
    return root
