"""The op library: one block per op, forward and backward side by side.

A block is a comment with the math, `NAME_forward(xp, *inputs, **meta)`,
`NAME_backward(xp, g, out, *inputs, need, **meta)`, the `Op` record that
says what kind of op it is, and the public function, marked `@public`
(which exports it from micrograd, and with `method=True` makes it a Value
method too). Adding an op is one such block, in the module of its kind,
plus one row of the op table (tests/op_table.py).

`xp` is the graph's backend (an Array API namespace plus a small shim), `g`
the upstream gradient, `out` the op's output. Arrays come positionally,
metadata (axis, shape, ...) by keyword. A backward rule returns one
gradient per input, computing only those `need` (one boolean per input)
asks for, None for the others. A gradient only has to broadcast against
its input: the engine sums or broadcasts it to the input's shape.
"""
from .common import EXPORTS
from .arithmetic import *   # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .reduce import *       # noqa: F401,F403
from .shape import *        # noqa: F401,F403
from .logic import *        # noqa: F401,F403
from .contract import *     # noqa: F401,F403
from . import namespace     # noqa: E402  (the ops as an xp, for create_graph)

__all__ = list(EXPORTS)     # the @public functions, exported by micrograd
