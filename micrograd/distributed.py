"""Data-parallel training on a `dask.distributed` cluster.

    def build():                          # the graph: run on the client and
        model = nn.TensorMLP(100, [32, 9], rng=0)       # once on each worker
        x = Value(shape=(None, 100), name='x', requires_grad=False)
        y = Value(shape=(None,), name='y', requires_grad=False)
        return pinball(model(x), y, quantiles), model

    frame = dd.read_parquet('data/')
    loss, model = data_parallel(build, {'x': frame[features],
                                        'y': frame['target']}, client)
    optimiser = AdamW(model.parameters(), learning_rate=0.01)
    for step in range(300):               # or micrograd.train.fit
        loss.forward()                    # forward and backward: the cluster
        optimiser.step()                  # on the client, in NumPy

The parameters live on the client; the data stays on the workers, one
partition per Dask partition (persisted when it fits in half the cluster's
memory, in equal runs of neighbouring partitions per worker; else read
again from its source every step). Each worker calls
`build` once per run and keeps the graph, `chunked`, for the run. A step
sends the parameters with the tasks (in each task while they are small,
else scattered once and fetched by the workers), runs one task per
worker (the row-chunked forward and backward of the graph on each of the
partitions it holds in turn: their loss sum, gradient sums and row count;
data read from its source: one task per partition) and adds the results up
in a tree of `W - 1` tasks; the client divides by the rows (for a mean) and
fills `.grad` of its parameters, which any optimiser reads. The task graph
of a step has the same size at every step. While a worker runs a step,
malloc keeps a few chunks' arrays for the next chunk (Dask's workers
otherwise give every freed array back to the system).

A mean over all rows is the mean of the partitions' means weighted by their
rows, so the numbers are those of `chunked` on all the rows in memory (to
floating-point rounding). A worker that dies costs a retry: Dask computes
its partitions again from their source and the step is run again.
"""
from __future__ import annotations

import itertools
import random
import sys
import threading
import uuid
from collections import OrderedDict

import numpy as np

from .checks import FeedError
from .chunked import chunked, batch_analysis, _environ_int, _mallopt
from .engine import Value, prepare
from .executor import Executor

__all__ = ['data_parallel', 'batches', 'stats', 'release']

EMBED_BYTES = 16 << 20      # parameters x tasks up to this: in the tasks
WATCH_SECONDS = 1.0         # a step checks this often for lost workers


def _dask():
    try:
        import dask
        import dask.array as da
        import distributed
    except ImportError:
        raise ImportError('micrograd.distributed needs dask.distributed '
                          '(pip install "micrograd[distributed]")') from None
    return dask, da, distributed


# ------------------------------------------------------------ the client

def data_parallel(build, data, client=None, *, rows: int | None = None,
                  threads: int = 1, persist='auto',
                  partitions: int | None = None, retries: int = 3):
    """Call `build()` on the client and make the loss it returns run on the
    cluster of `client` (default: the current dask.distributed Client).
    Returns what `build` returns: a loss Value, or a tuple whose first item
    is the loss (e.g. `(loss, model)`).

    build: a function of no arguments, picklable (a module-level function
        or a closure), that makes the same graph every time: a sum or mean
        over the batch axis of placeholders with a leading None dimension
        (as `chunked` takes). Its parameters on the client are the ones
        trained; the workers' copies get the client's values every step.
    data: {placeholder name: Dask array (rows on axis 0), Dask DataFrame or
        Series (e.g. `frame[features]`, `frame['target']`), or an in-memory
        array (cut into `partitions` pieces, default two per worker)}; every
        entry must have the same partitions.
    rows, threads: each worker's `chunked(loss, rows, threads)`.
    persist: True, False (read the data from its source every step) or
        'auto' (persist when it takes under half the workers' memory).
    retries: how often a step is run again after a worker is lost.

    `loss.forward()` then computes the loss and gradients of all rows;
    `loss.forward(partitions=[...])` of some partitions only (see
    `batches`). `release(loss)` frees the data on the cluster."""
    dask, da, distributed = _dask()
    if not callable(build):
        raise TypeError('data_parallel: build must be a function returning '
                        f'the loss Value, got {type(build).__name__}')
    if client is None:
        client = distributed.get_client()
    built = build()
    loss = built[0] if isinstance(built, tuple) and built else built
    if not isinstance(loss, Value):
        raise TypeError('data_parallel: build() must return the loss Value '
                        f'or a tuple (loss, ...), got {type(built).__name__}')
    for name, value in (('rows', rows), ('threads', threads),
                        ('partitions', partitions), ('retries', retries)):
        if value is None and name in ('rows', 'partitions'):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < \
                (0 if name == 'retries' else 1):
            raise ValueError(f'data_parallel: {name} must be a positive int, '
                             f'got {value!r}')
    if persist not in (True, False, 'auto'):
        raise ValueError("data_parallel: persist must be True, False or "
                         f"'auto', got {persist!r}")
    loss.executor = DataParallelPlan(loss, build, data, client, rows, threads,
                                  persist, partitions, retries)
    return built


class DataParallelPlan(Executor):
    """The executor of a loss whose rows live on a Dask cluster: forward
    runs forward and backward there and fills the client parameters' .grad
    (also under no_grad: the workers return both at once)."""

    def __init__(self, root, build, data, client, rows, threads, persist,
                 partitions, retries):
        dask, da, distributed = _dask()
        self.epoch = prepare(root)
        self.root, self.client, self.retries = root, client, retries
        _, self.kind, _ = batch_analysis(root)     # refuses mixing rows
        self.leaves = [n for n in root.topo()
                       if n.op is None and n.requires_grad]
        placeholders = {n.name: n for n in root.topo()
                        if n.op is None and n.name is not None and
                        not n.requires_grad}
        if not isinstance(data, dict) or not data:
            raise TypeError('data_parallel: data must be a dict {placeholder '
                            'name: Dask array or DataFrame}, got '
                            f'{type(data).__name__}')
        missing = sorted(set(placeholders) - set(data))
        unknown = sorted(set(data) - set(placeholders))
        if missing or unknown:
            raise FeedError(f'data_parallel: data has {sorted(data)}; the '
                            f'graph\'s placeholders are {sorted(placeholders)}'
                            + (f' (missing {missing})' if missing else '')
                            + (f' (unknown {unknown})' if unknown else ''))
        workers = client.scheduler_info()['workers']
        if not workers:
            raise RuntimeError('data_parallel: the cluster has no workers')
        self.run = _Run(uuid.uuid4().hex[:12], build, rows, threads,
                        [tuple(p.shape) for p in self.leaves])
        blocks, nbytes = {}, 0
        count = partitions or 2 * len(workers)
        for name, value in data.items():
            blocks[name], size = _blocks(name, value, placeholders[name],
                                         count)
            nbytes = None if size is None or nbytes is None else nbytes + size
        counts = {name: len(b) for name, b in blocks.items()}
        if len(set(counts.values())) != 1:
            raise ValueError('data_parallel: the data entries have different '
                             f'numbers of partitions: {counts}')
        order = sorted(blocks)
        dtypes = [np.dtype(placeholders[n].dtype) if isinstance(
            placeholders[n].data, np.ndarray) else None for n in order]
        make = dask.delayed(_partition, pure=True)
        parts = [make(order, dtypes, *[blocks[n][i] for n in order],
                      dask_key_name=f'micrograd-part-{self.run.id}-{i}')
                 for i in range(counts[order[0]])]
        if persist == 'auto':
            memory = sum(w.get('memory_limit') or 0 for w in workers.values())
            if nbytes is None:      # a frame: one partition, times all
                first = client.compute(parts[0]).result()
                nbytes = sum(a.nbytes for a in first.values()) * len(parts)
            persist = not memory or nbytes < memory / 2
        self.persisted = persist
        self.nbytes = nbytes
        if persist:         # loaded once, here: a step only reads them
            # in equal runs of partitions per worker (Dask would put them
            # where a worker is free: 5 and 3 of 8, a step as slow as 5);
            # neighbours share a worker, so the first sums need no transfer
            names = sorted(workers)
            self.parts = [distributed.futures_of(client.persist(
                part, workers=[names[i * len(names) // len(parts)]],
                allow_other_workers=True))[0] for i, part in enumerate(parts)]
            distributed.wait(self.parts)
            client.run(_release_reader_memory)
        else:
            self.parts = parts
        self.steps = itertools.count()
        self.last = {}

    # ---- one step --------------------------------------------------------
    def forward(self, feeds, grads=True):
        feeds = dict(feeds or {})
        chosen = feeds.pop('partitions', None)
        if feeds:
            raise FeedError(f'forward: unknown feed name(s) {sorted(feeds)}: '
                            'the data of this loss lives on the cluster; '
                            'forward() takes no feeds, or partitions=[...]')
        index = range(len(self.parts)) if chosen is None else list(chosen)
        bad = [i for i in index if isinstance(i, bool) or
               not isinstance(i, (int, np.integer)) or
               not 0 <= i < len(self.parts)]
        if bad or not index:
            raise FeedError(f'forward: partitions must be a non-empty list of '
                            f'indices below {len(self.parts)}, got {chosen!r}')
        for attempt in itertools.count():
            try:
                total, grads, rows = self._step([self.parts[i] for i in index])
                break
            except _lost_errors() as exc:
                if attempt >= self.retries:
                    raise RuntimeError(
                        f'data_parallel: the step failed {attempt + 1} times '
                        f'as workers were lost ({type(exc).__name__}: {exc})'
                    ) from exc
        if rows == 0:
            raise ValueError('data_parallel: the partitions of this step hold '
                             'no rows')
        scale = 1 / rows if self.kind == 'mean' else 1.0
        for leaf, g in zip(self.leaves, grads):
            dtype = leaf.data.dtype
            leaf.grad = (np.zeros(leaf.data.shape, dtype) if g is None else
                         np.asarray(g * scale, dtype=dtype))
        root = self.root
        root.data = np.asarray(total * scale, dtype=root.dtype)
        root.grad = np.ones(root.data.shape, dtype=root.dtype)
        return True                     # the gradients came with the value

    def _step(self, parts):
        """Submit one step's tasks; returns (loss sum, gradient sums, rows)."""
        client, run, step = self.client, self.run, next(self.steps)
        arrays = [np.ascontiguousarray(p.data) for p in self.leaves]
        nbytes = sum(a.nbytes for a in arrays)
        prefix = f'micrograd-{run.id}-{step}'
        groups = self._groups(parts)
        if nbytes * len(groups) <= EMBED_BYTES:
            # in each task: no round trip before the step
            params, sent = arrays, nbytes * len(groups)
        else:
            # to one worker, fetched from there by the others (a broadcast
            # would wait forever on a worker lost in the meantime)
            params = client.scatter([arrays], hash=False)[0]
            sent = nbytes * len(client.scheduler_info()['workers'])
        level = [client.submit(_partitions_step, run, params, *group,
                               key=f'{prefix}-part-{i}', pure=False,
                               **_near(holder))
                 for i, (holder, group) in enumerate(groups)]
        pinned = {w for holder, _ in groups for w in holder}
        height = 0
        while len(level) > 1:           # a tree of pairwise sums
            height += 1
            level = [client.submit(_add, *level[i:i + 2],
                                   key=f'{prefix}-add-{height}-{i}',
                                   pure=False) if i + 1 < len(level)
                     else level[i] for i in range(0, len(level), 2)]
        try:
            while True:
                try:
                    return level[0].result(timeout=WATCH_SECONDS)
                except TimeoutError:
                    # a task pinned to a lost worker would wait forever
                    alive = set(client.scheduler_info()['workers'])
                    if pinned - alive:
                        client.cancel(level)
                        raise _WorkerLost(f'lost {sorted(pinned - alive)}')
        finally:
            self.last = {'partitions': len(parts),
                         'tasks': 2 * len(groups) - 1,
                         'parameter bytes': nbytes,
                         'parameter bytes sent': sent}
            del params, level, parts, groups

    def _groups(self, parts):
        """The step's tasks: [(the workers it runs on, its partitions)].
        Persisted partitions: one task per worker, for all the partitions
        it holds (each task costs the worker, the scheduler and the client
        a few milliseconds of CPU); streamed ones: one per partition, run
        where Dask reads it."""
        if not self.persisted:
            return [((), [part]) for part in self.client.compute(parts)]
        # only where the partitions are: Dask's work stealing would move
        # some (25 MB each in W1) to the other worker and drop the copy
        # again after the step, every step
        where = self.client.who_has(parts)
        groups = {}
        for part in parts:      # in order: neighbours stay together
            holders = tuple(sorted(where.get(part.key) or ()))[:1]
            groups.setdefault(holders, []).append(part)
        return list(groups.items())

    def rebuild(self):
        self.epoch = prepare(self.root)
        leaves = [n for n in self.root.topo() if n.op is None and n.requires_grad]
        if [id(n) for n in leaves] != [id(n) for n in self.leaves]:
            raise ValueError('data_parallel: the parameters that get a '
                             'gradient changed after data_parallel; the '
                             'workers build the graph once: call '
                             'data_parallel again')
        return self

    def backward(self, grad=None):
        if grad is not None:
            raise ValueError('data_parallel: backward() takes no gradient; '
                             'the loss is differentiated in forward()')

    def batches(self, partitions: int = 1, shuffle: bool = True, seed=0):
        return Batches(len(self.parts), partitions, shuffle, seed)

    def release(self):
        self.parts = []
        try:
            self.client.run(_forget, self.run.id)
        except Exception:       # a closed client: nothing is left to free
            pass


class Batches:
    """Feeds for `fit`: each epoch visits the partitions, `partitions` at a
    time, in an order shuffled by `seed` (the same seed, the same run)."""

    def __init__(self, count, partitions, shuffle, seed):
        if isinstance(partitions, bool) or not isinstance(partitions, int) \
                or not 1 <= partitions <= count:
            raise ValueError(f'batches: partitions must be an int from 1 to '
                             f'{count} (the data\'s partitions), got '
                             f'{partitions!r}')
        self.count, self.size, self.shuffle = count, partitions, shuffle
        self.rng = random.Random(seed)

    def __len__(self):
        return -(-self.count // self.size)

    def __iter__(self):
        order = list(range(self.count))
        if self.shuffle:
            self.rng.shuffle(order)
        for i in range(0, self.count, self.size):
            yield {'partitions': order[i:i + self.size]}


def _plan(loss) -> DataParallelPlan:
    plan = getattr(loss, 'executor', None)
    if not isinstance(plan, DataParallelPlan):
        raise TypeError('this loss does not run on a cluster; make it with '
                        'micrograd.distributed.data_parallel')
    return plan


def batches(loss, partitions: int = 1, shuffle: bool = True, seed=0):
    """Minibatches of whole partitions, for `micrograd.train.fit`: a step
    is `partitions` partitions; each epoch visits them all, shuffled by
    `seed`. `len()` is the steps of one epoch."""
    return _plan(loss).batches(partitions, shuffle, seed)


def stats(loss) -> dict:
    """The last step: partitions, tasks (one per worker holding some of
    them, or per partition for streamed data, plus the sums; streamed data
    adds the tasks that read it), the parameters' bytes and the bytes sent
    of them (in every task while that is at most EMBED_BYTES, else once to
    each worker; the gradient sums coming back are as large as the
    parameters), whether the data is persisted, and its bytes."""
    plan = _plan(loss)
    return dict(plan.last, persisted=plan.persisted, data_bytes=plan.nbytes)


def release(loss) -> None:
    """Free the loss's data and graphs on the cluster."""
    _plan(loss).release()


def _near(holders) -> dict:
    """submit's arguments to run a task only on one of `holders`, if any
    (the step watches for a lost one)."""
    return {'workers': list(holders), 'allow_other_workers': False} \
        if holders else {}


class _WorkerLost(RuntimeError):
    """A worker that held a partition of the step is gone."""


def _lost_errors():
    """The exceptions of a lost worker or lost data (a step is rerun); an
    error of the data's source or of the graph is raised at once."""
    import asyncio
    import concurrent.futures
    from distributed.comm import CommClosedError
    from distributed.scheduler import KilledWorker
    return (KilledWorker, CommClosedError, concurrent.futures.CancelledError,
            asyncio.CancelledError, _WorkerLost)


def _blocks(name, value, node, count):
    """The row blocks of one data entry, as Delayed objects; and its bytes
    (None when unknown)."""
    dask, da, _ = _dask()
    if isinstance(value, Value):
        raise TypeError(f"data_parallel: data '{name}' is a Value; give its "
                        'array (a Dask array or an in-memory array)')
    ndim = len(node.placeholder or node.shape)
    if isinstance(value, da.Array):
        if value.ndim != ndim:
            raise ValueError(f"data_parallel: data '{name}' has shape "
                             f'{value.shape}; placeholder expects '
                             f'{node.placeholder}')
        value = value.rechunk({i: -1 for i in range(1, value.ndim)})
        size = None if any(np.isnan(c) for c in value.chunks[0]) else \
            value.nbytes
        return list(value.to_delayed().reshape(-1)), size
    if hasattr(value, 'to_delayed') and hasattr(value, 'npartitions'):
        # not optimised: an optimised frame of fewer columns may fuse files
        # into fewer partitions than the frame of the other entry
        return list(value.to_delayed(optimize_graph=False)), None
    if hasattr(value, 'shape') and hasattr(value, 'dtype'):
        value = np.asarray(value)
        per = max(1, -(-len(value) // count)) if value.ndim else 1
        return _blocks(name, da.from_array(value, chunks=(per,) + tuple(
            value.shape[1:])), node, count)
    raise TypeError(f"data_parallel: data '{name}' must be a Dask array, a "
                    'Dask DataFrame or Series, or an array; got '
                    f'{type(value).__name__}')


# ------------------------------------------------------------ the workers

class _Run:
    """What a task needs to find or build its worker's graph."""

    def __init__(self, id, build, rows, threads, shapes):
        self.id, self.build, self.rows, self.threads = id, build, rows, threads
        self.shapes = shapes


_GRAPHS = OrderedDict()          # run id -> _Replica, on each worker
_GRAPHS_LOCK = threading.Lock()
KEEP_RUNS = 4                    # the graphs of this many runs are kept


def _partition(names, dtypes, *blocks):
    """One partition: {placeholder name: NumPy array of its dtype, aligned}.

    A block that came from another worker may lie at any byte offset in
    the message it arrived in; NumPy's matmul copies an unaligned operand
    before each product (W1: every chunk's rows, 3 MB, faulted in anew),
    so such a block is copied once, here."""
    out = {}
    for name, dtype, block in zip(names, dtypes, blocks):
        array = block.to_numpy() if hasattr(block, 'to_numpy') else block
        out[name] = np.require(array, dtype=dtype, requirements='A')
    rows = {name: len(a) for name, a in out.items()}
    if len(set(rows.values())) > 1:
        raise ValueError('data_parallel: a partition has different numbers '
                         f'of rows in its entries: {rows}')
    return out


class _Replica:
    """A worker's copy of the graph, chunked, kept for the run."""

    def __init__(self, run):
        built = run.build()
        self.root = built[0] if isinstance(built, tuple) else built
        self.leaves = [n for n in self.root.topo()
                       if n.op is None and n.requires_grad]
        shapes = [tuple(p.shape) for p in self.leaves]
        if shapes != run.shapes:
            raise ValueError('data_parallel: build() made other parameters '
                             f'on a worker ({shapes}) than on the client '
                             f'({run.shapes}); it must make the same graph '
                             'every time')
        _, self.kind, width = batch_analysis(self.root)
        chunked(self.root, rows=run.rows, workers=run.threads)
        # the widest array of a chunk: malloc keeps a few of them for reuse
        self.memory = _ChunkMemory(self.root.executor.rows * max(width, 1),
                                   run.threads)
        self.lock = threading.Lock()

    def step(self, params, parts):
        """The loss sum, gradient sums and rows of these partitions, one
        after the other, malloc keeping the chunks' memory throughout."""
        result = 0.0, [None] * len(self.leaves), 0
        with self.lock, self.memory:
            for leaf, array in zip(self.leaves, params):
                leaf.data = array
            for part in parts:
                rows = len(next(iter(part.values())))
                if rows == 0:
                    continue
                self.root.forward(**part)
                scale = rows if self.kind == 'mean' else 1
                result = _add(result, (
                    self.root.data * scale,
                    [None if p.grad is None else p.grad * scale
                     for p in self.leaves], rows))
        return result


class _ChunkMemory:
    """`with memory:` a step on a worker: glibc's malloc serves arrays up to
    twice a chunk's widest array from its heap and keeps up to 16 of them
    (per thread) free for the next chunk; on exit the worker's own
    settings are back and the next free hands the memory to the system.

    Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536 (so that
    freed memory goes back to the system): with it every chunk's arrays
    are mapped and faulted in again (W1: 127,000 page faults, half the time
    of a step). The partitions themselves stay mapped apart and are given
    back when freed: a worker holds its partitions plus a few chunks, under
    any memory_limit (the kept memory is capped at 1/16 of it)."""
    _depth = 0
    _lock = threading.Lock()

    def __init__(self, chunk_bytes: int, threads: int):
        self.mmap = min(32 << 20, max(128 << 10, 2 * chunk_bytes))
        keep = 16 * threads * self.mmap
        limit = _memory_limit()
        if limit:
            keep = min(keep, limit // 16)
        self.trim = max(128 << 10, keep)
        self.mallopt = _mallopt()           # None: not glibc, nothing done

    def __enter__(self):
        with _ChunkMemory._lock:
            mallopt = self.mallopt
            if mallopt is not None and _ChunkMemory._depth == 0:
                # M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1
                mallopt(-3, self.mmap)
                mallopt(-1, self.trim)
            _ChunkMemory._depth += 1
        return self

    def __exit__(self, *exc):
        with _ChunkMemory._lock:
            _ChunkMemory._depth -= 1
            mallopt = self.mallopt
            if mallopt is not None and _ChunkMemory._depth == 0:
                mallopt(-3, _environ_int('MALLOC_MMAP_THRESHOLD_', 128 << 10))
                mallopt(-1, _environ_int('MALLOC_TRIM_THRESHOLD_', 128 << 10))


def _release_reader_memory(dask_worker=None) -> None:
    """Once a worker's partitions are loaded: Arrow's memory pool (where the
    Parquet and CSV readers work) hands back the memory it keeps for reuse;
    W1's workers held about 0.4x their partitions' size there, unused, for
    the whole run."""
    arrow = sys.modules.get('pyarrow')
    if arrow is not None:
        arrow.default_memory_pool().release_unused()


def _memory_limit() -> int | None:
    """This Dask worker's memory_limit in bytes (None: none or no worker)."""
    try:
        from distributed import get_worker
        return get_worker().memory_manager.memory_limit or None
    except (ImportError, ValueError, AttributeError):
        return None


def _replica(run) -> _Replica:
    with _GRAPHS_LOCK:
        replica = _GRAPHS.get(run.id)
        if replica is None:
            replica = _GRAPHS[run.id] = _Replica(run)
            while len(_GRAPHS) > KEEP_RUNS:
                _GRAPHS.popitem(last=False)
        return replica


def _partitions_step(run, params, *parts):
    """The task of a worker's partitions: (loss sum, gradient sums, rows)."""
    return _replica(run).step(params, parts)


def _add(a, b):
    """The sum of two partitions' results."""
    grads = [g if h is None else h if g is None else g + h
             for g, h in zip(a[1], b[1])]
    return a[0] + b[0], grads, a[2] + b[2]


def _forget(run_id):
    with _GRAPHS_LOCK:
        _GRAPHS.pop(run_id, None)
