"""Time a graph op by op: `micrograd.profile(root, **feeds)`.

Runs `root.forward(**feeds)` and `root.backward()` once with every op's
rules timed, and prints a table of time per op type, forward and backward
apart, with call counts and the bytes of the arrays each rule returned.
`python -m cProfile -s tottime` shows the same rules by name.
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict

from .engine import Value


class _Row:
    __slots__ = ('calls', 'seconds', 'bytes')

    def __init__(self):
        self.calls, self.seconds, self.bytes = 0, 0.0, 0


def _new_rows():
    return {'forward': _Row(), 'backward': _Row()}


def _timed(rule, row: _Row):
    """`rule`, counting its calls, time and the bytes it returns."""
    def timed_rule(*args, **kwargs):
        start = time.perf_counter()
        result = rule(*args, **kwargs)
        row.seconds += time.perf_counter() - start
        row.calls += 1
        for array in (result if isinstance(result, (tuple, list)) else (result,)):
            row.bytes += getattr(array, 'nbytes', 0) or 0
        return result
    timed_rule.__name__ = getattr(rule, '__name__', 'rule')
    return timed_rule


def profile(root: Value, file=None, **feeds) -> dict:
    """Run forward(**feeds) and backward() once, timing each op type; print
    the table to `file` (stdout by default; None-like False to skip) and
    return {op name: {'forward': (calls, s, bytes), 'backward': (...)}}.
    A compiled or chunked root is timed on the interpreted walk (the same
    rules, on the whole batch), then left compiled as it was."""
    ops = {node.op for node in root.topo() if node.op is not None}
    rows = defaultdict(_new_rows)
    saved = [(op, op.forward, op.backward) for op in ops]
    plan, root._plan = root._plan, None
    try:
        for op in ops:
            op.forward = _timed(op.forward, rows[op.name]['forward'])
            if op.backward is not None:
                op.backward = _timed(op.backward, rows[op.name]['backward'])
        start = time.perf_counter()
        root.forward(**feeds)
        middle = time.perf_counter()
        root.backward()
        end = time.perf_counter()
    finally:
        root._plan = plan
        for op, forward, backward in saved:
            op.forward, op.backward = forward, backward
    table = {name: {kind: (r.calls, r.seconds, r.bytes) for kind, r in row.items()}
             for name, row in rows.items()}
    if file is not False:
        print(format_table(table, middle - start, end - middle),
              file=file or sys.stdout)
    return table


def format_table(table: dict, forward_s: float, backward_s: float) -> str:
    """The profile as aligned text, the most expensive op first."""
    lines = [f"{'op':<14}{'calls':>7}{'forward ms':>12}{'backward ms':>13}"
             f"{'MB out':>10}{'share':>8}"]
    total = forward_s + backward_s
    order = sorted(table.items(), key=_cost, reverse=True)
    for name, kinds in order:
        (fc, fs, fb), (bc, bs, bb) = kinds['forward'], kinds['backward']
        lines.append(f'{name:<14}{fc:>7}{fs * 1e3:>12.2f}{bs * 1e3:>13.2f}'
                     f'{(fb + bb) / 2**20:>10.1f}'
                     f'{(fs + bs) / total if total else 0:>8.1%}')
    lines.append(f"{'walks':<14}{'':>7}{forward_s * 1e3:>12.2f}"
                 f'{backward_s * 1e3:>13.2f}   (forward and backward in all)')
    return '\n'.join(lines)


def _cost(item):
    kinds = item[1]
    return kinds['forward'][1] + kinds['backward'][1]
