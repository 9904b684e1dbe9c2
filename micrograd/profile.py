"""Time a graph op by op: `micrograd.profile(root, **feeds)`.

Runs `root.forward(**feeds)` and `root.backward()` once to warm up, then
`repeats` times with every rule call timed, on what the root runs: the
interpreted walk, or a fresh copy of its executor (the compiled code, the
chunked steps). It prints a table of the median time per op type, forward
and backward rules apart, with call counts and the bytes of the arrays the
rules returned, and an `engine` row for the rest of the step (walking,
feeding, fitting gradients, adding chunks up): the share column adds up to
100% of the step. With chunks on several workers the rule times are summed
over the threads (they can exceed the step's wall time).

Before every clock read the backend synchronises the device
(`Backend.synchronize`): CuPy and PyTorch on CUDA queue their kernels and
return at once, so a rule's time is its kernels' time. On Dask the
forward and backward times include computing the root and the gradients;
a rule's time is the time to add its tasks to the graph.

The rules are timed through copies of the graph's `Op` records, which the
graph's nodes point at while it runs; the library's records are never
changed. `python -m cProfile -s tottime` shows the same rules by name.
"""
from __future__ import annotations

import copy
import statistics
import sys
import threading
import time
from collections import defaultdict

from .engine import Value

KINDS = ('forward', 'backward')


def _timed(rule, times: dict, name: str, kind: str, lock, synchronize):
    """`rule`, adding its calls, time and the bytes it returns to
    times[name, kind] = [calls, seconds, bytes] (of the current run). The
    device is synchronised before each clock read (GPU kernels run after
    the call that queues them returns)."""
    def timed_rule(*args, **kwargs):
        synchronize()
        start = time.perf_counter()
        result = rule(*args, **kwargs)
        synchronize()
        seconds = time.perf_counter() - start
        out = 0
        for array in (result if isinstance(result, (tuple, list))
                      else (result,)):
            out += getattr(array, 'nbytes', 0) or 0
        with lock:
            entry = times[name, kind]
            entry[0] += 1
            entry[1] += seconds
            entry[2] += out
        return result
    timed_rule.__name__ = getattr(rule, '__name__', 'rule')
    timed_rule.__qualname__ = timed_rule.__name__
    return timed_rule


def profile(root: Value, file=None, repeats: int = 5, **feeds) -> dict:
    """Time forward(**feeds) and backward() by op type: one warm-up run,
    then the median of `repeats` runs. Prints the table to `file` (stdout
    by default; False to skip) and returns {op name: {'forward': (calls,
    seconds, bytes), 'backward': (...)}} (calls and bytes of one run).
    A root with an executor (compile, chunked) is timed on a copy of it;
    the root keeps its own executor."""
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f'profile: repeats must be a positive int, got '
                         f'{repeats!r}')
    topo = root.topo()
    synchronize = root.bk.synchronize
    lock = threading.Lock()
    times = defaultdict(lambda: [0, 0.0, 0])
    timed = {}                          # op record -> its timed copy
    for node in topo:
        if node.op is not None and node.op not in timed:
            op = copy.copy(node.op)     # (not registered in OPS)
            op.forward = _timed(op.forward, times, op.name, 'forward', lock,
                                synchronize)
            if op.backward is not None:
                op.backward = _timed(op.backward, times, op.name,
                                     'backward', lock, synchronize)
            timed[node.op] = op
    originals = [(node, node.op) for node in topo if node.op is not None]
    executor = root.executor
    runs, walls = [], []
    try:
        for node, op in originals:
            node.op = timed[op]
        if executor is not None:        # the same executor, on timed rules
            root.executor = executor.rebuild()
        for run in range(repeats + 1):  # run 0: warm-up (writes the code)
            times.clear()
            synchronize()
            start = time.perf_counter()
            root.forward(**feeds)
            synchronize(root.data)      # (lazy arrays: computed here)
            middle = time.perf_counter()
            root.backward()
            synchronize(*[n.grad for n in topo if n.grad is not None])
            end = time.perf_counter()
            if run:
                runs.append({key: tuple(v) for key, v in times.items()})
                walls.append((middle - start, end - middle))
    finally:
        for node, op in originals:
            node.op = op
        root.executor = executor
    names = sorted({op.name for op in timed.values()})
    table = {name: {kind: (runs[-1].get((name, kind), (0, 0.0, 0))[0],
                           statistics.median(
                               r.get((name, kind), (0, 0.0, 0))[1]
                               for r in runs),
                           runs[-1].get((name, kind), (0, 0.0, 0))[2])
                    for kind in KINDS} for name in names}
    walks = tuple(statistics.median(w[i] for w in walls) for i in (0, 1))
    if file is not False:
        print(format_table(table, *walks), file=file or sys.stdout)
    return table


def format_table(table: dict, forward_s: float, backward_s: float) -> str:
    """The profile as aligned text, the most expensive op first, then the
    engine's own time (the step's time the rules do not account for) and
    the step's times. The shares add up to 100%."""
    rules = [sum(kinds[kind][1] for kinds in table.values()) for kind in KINDS]
    engine = [wall - spent for wall, spent in zip((forward_s, backward_s),
                                                   rules)]
    if min(engine) < 0:     # backward rules ran in forward() (chunked)
        engine = [max(sum(engine), 0.0), 0.0]
    total = sum(rules) + sum(engine)
    lines = [f"{'op':<14}{'calls':>7}{'forward ms':>12}{'backward ms':>13}"
             f"{'MB out':>10}{'share':>8}"]
    order = sorted(table.items(), key=_cost, reverse=True)
    for name, kinds in order:
        (fc, fs, fb), (bc, bs, bb) = kinds['forward'], kinds['backward']
        lines.append(f'{name:<14}{fc:>7}{fs * 1e3:>12.2f}{bs * 1e3:>13.2f}'
                     f'{(fb + bb) / 2**20:>10.1f}'
                     f'{(fs + bs) / total if total else 0:>8.1%}')
    lines.append(f"{'engine':<14}{'':>7}{engine[0] * 1e3:>12.2f}"
                 f'{engine[1] * 1e3:>13.2f}{"":>10}'
                 f'{sum(engine) / total if total else 0:>8.1%}')
    lines.append(f"{'walks':<14}{'':>7}{forward_s * 1e3:>12.2f}"
                 f'{backward_s * 1e3:>13.2f}   (forward() and backward(): '
                 'the medians)')
    return '\n'.join(lines)


def _cost(item):
    kinds = item[1]
    return kinds['forward'][1] + kinds['backward'][1]
