"""The op table: one row per public differentiable function of micrograd,
per operator form (`x + y`, `2 ** x`, `ndarray @ x`, ...) and per Value
method (`x.exp()`, `x.T`, `x.sum(axis)`, ...).

Every test module runs over this one table (gradients, properties, the
array_api_strict run, the PyTorch cross-check, the profile names), and
`test_gradients.py` fails when an op of `micrograd.OPS` with a backward rule,
a public differentiable function or a differentiable Value method has no row.

A row says
- `fn(*values, **params)`: what is computed (returns one Value);
- `specs`: a hypothesis strategy of specs, a spec being a dict with the input
  `shapes` and the settings (axis, index, n, ...), and `examples`: fixed specs
  that every run checks (0-d, size-1, broadcasting, duplicates, ...);
- `sample(rng, shapes)`: how the input arrays are drawn, inside the op's
  domain (log positive, arcsin in (-0.9, 0.9), ...). Where the op is smooth
  at 0 and at ties, `with_specials` mixes in exact zeros (0.0, -0.0) and
  repeated elements, so rules are checked there too; where 0 or a tie is a
  kink (relu, abs, max, maximum, clip at its bounds) the row keeps away from
  it, and `KINKS` below checks the documented rule there instead;
- `make(rng, **spec)`: the Case (arrays + params) a spec stands for;
- `covers`: the names of the OPS it exercises (checked against its graph),
  `public`: the public functions it calls, `uses`: the Value methods;
- `torch(T, *tensors, **params)`: the PyTorch equivalent (T is the module);
- `strict`: None, or why the row is left out of the array_api_strict run.

How to add an op: write its block in the module of its kind under
micrograd/ops/ (the math as a comment, `NAME_forward`, `NAME_backward`
returning one gradient per input, the `Op` record with its kind, the public
function marked `@public`), then one `add_row` here: the function, a
hypothesis strategy of specs and fixed examples (0-d, size-1 and
broadcasting shapes), a sampler inside the op's domain (`with_specials` where
it is smooth at 0 and at ties, away from its kinks and jumps otherwise), and
the PyTorch equivalent. Every test module then checks it; add a second row
with `uses=[NAME]` if it is a Value method.
"""
from __future__ import annotations

import builtins
import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import numpy as np

import micrograd as mg
from micrograd import ops as mg_ops


@dataclass(frozen=True)
class Case:
    """Concrete inputs: the differentiable arrays and everything else."""
    arrays: tuple
    params: dict


@dataclass(frozen=True)
class Row:
    name: str
    fn: Callable
    covers: tuple
    sample: Callable
    specs: Any
    examples: tuple
    make: Callable
    torch: Callable | None
    public: tuple = ()
    uses: tuple = ()
    strict: str | None = None

    def bind(self, params: dict) -> Callable:
        """fn with its settings filled in: f(*values) -> Value."""
        def f(*values):
            return self.fn(*values, **params)
        f.__name__ = self.name
        return f

    def cases(self):
        """Hypothesis strategy of Cases: a spec, then arrays from a seed."""
        return st.tuples(self.specs, st.integers(0, 2**32 - 1)).map(
            lambda spec_seed: self.case(*spec_seed))

    def case(self, spec: dict, seed: int = 0) -> Case:
        return self.make(np.random.default_rng(seed), **spec)

    def example_cases(self):
        return [self.case(spec, seed) for seed, spec in enumerate(self.examples)]

    def __repr__(self):
        return f'Row({self.name!r})'


# ---------------------------------------------------------------- samplers
# sample(rng, shapes) -> list of float64 arrays, one per shape

def uniform(lo, hi):
    def sample(rng, shapes):
        return [np.asarray(rng.uniform(lo, hi, s), dtype=np.float64)
                for s in shapes]
    sample.__name__ = f'uniform({lo}, {hi})'
    return sample


def away_from(points, margin, lo=-2.0, hi=2.0):
    """Uniform on [lo, hi] minus a `margin` around each of `points`."""
    def sample(rng, shapes):
        out = []
        for s in shapes:
            flat = rng.uniform(lo, hi, int(np.prod(s, dtype=int)))
            while True:
                bad = np.zeros(flat.shape, bool)
                for p in points:
                    bad |= np.abs(flat - p) < margin
                if not bad.any():
                    break
                flat[bad] = rng.uniform(lo, hi, int(bad.sum()))
            out.append(flat.reshape(s))
        return out
    sample.__name__ = f'away_from({points}, {margin})'
    return sample


def distinct(rng, shapes):
    """All elements of all arrays distinct, at least 0.08 apart: no ties
    anywhere, even after broadcasting."""
    sizes = [int(np.prod(s, dtype=int)) for s in shapes]
    total = builtins.sum(sizes)
    values = ((rng.permutation(total) - total / 2) * 0.1 +
              rng.uniform(-0.01, 0.01, total))
    out, start = [], 0
    for s, n in zip(shapes, sizes):
        out.append(values[start:start + n].reshape(s))
        start += n
    return out


def positive_then_any(rng, shapes):
    """A positive base and any exponent (x ** y with a Value exponent)."""
    return (uniform(0.5, 2.0)(rng, shapes[:1]) +
            with_specials(uniform(-2.0, 2.0))(rng, shapes[1:]))


def any_then_nonzero(rng, shapes):
    """A numerator (exact zeros too) and a denominator away from 0."""
    return (with_specials(uniform(-2.0, 2.0))(rng, shapes[:1]) +
            away_from((0.0,), 0.5)(rng, shapes[1:]))


def with_specials(sample, share=0.3):
    """`sample`, with about `share` of each array's elements replaced by
    exact zeros (0.0 and -0.0) and by copies of other elements of the same
    array (ties, equal elements): for ops that are smooth there, whose rules
    must not fall into a kink or a 0 * inf there."""
    def special(rng, shapes):
        out = []
        for a in sample(rng, shapes):
            a = np.array(a, dtype=np.float64)
            flat = a.reshape(-1)                          # a view of a
            if flat.size:
                pick = rng.random(flat.size) < share
                kind = rng.integers(0, 3, flat.size)
                copies = flat[rng.integers(0, flat.size, flat.size)]
                flat[pick & (kind == 0)] = 0.0
                flat[pick & (kind == 1)] = -0.0
                flat[pick & (kind == 2)] = copies[pick & (kind == 2)]
            out.append(a)
        return out
    special.__name__ = f'with_specials({sample.__name__})'
    return special


ANY = with_specials(uniform(-2.0, 2.0))
POSITIVE = uniform(0.2, 3.0)
OPEN_UNIT = with_specials(uniform(-0.9, 0.9))
NONZERO = away_from((0.0,), 0.1)


def default_make(sample):
    """Case with arrays drawn for spec['shapes']; the rest are params."""
    def make(rng, shapes, **params):
        return Case(tuple(sample(rng, shapes)), params)
    return make


# ---------------------------------------------------------------- spec strategies

def broadcastable(n, max_dims=4, max_side=4):
    """Specs with n mutually broadcastable shapes (0-d, size-1 and size-0
    sides included)."""
    def spec(r):
        return {'shapes': r.input_shapes}
    return st.one_of(
        hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0,
                                          max_dims=max_dims, min_side=1,
                                          max_side=max_side),
        hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0,
                                          max_dims=max_dims, min_side=0,
                                          max_side=max_side)).map(spec)


def shapes_spec(*shapes, **params):
    return {'shapes': tuple(shapes), **params}


UNARY_EXAMPLES = (shapes_spec((2, 3)), shapes_spec(()), shapes_spec((1,)),
                  shapes_spec((1, 1, 1)), shapes_spec((3, 1, 2)),
                  shapes_spec((0, 3)))
BINARY_EXAMPLES = (shapes_spec((3, 1), (3, 4)), shapes_spec((), (2, 3)),
                   shapes_spec((2, 3), ()), shapes_spec((2, 1, 3), (4, 1)),
                   shapes_spec((1,), ()), shapes_spec((), ()),
                   shapes_spec((4,), (3, 4)), shapes_spec((1, 4), (3, 1)),
                   shapes_spec((2, 3), (2, 3)), shapes_spec((0, 1), (1, 3)))


@st.composite
def reduction_specs(draw):
    """A shape, an axis (None, int, negative int, tuple), keepdims."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1,
                                  max_side=4))
    nd = len(shape)
    axes = [st.none()]
    if nd:
        axes += [st.integers(-nd, nd - 1), hnp.valid_tuple_axes(nd)]
    return {'shapes': (shape,), 'axis': draw(st.one_of(axes)),
            'keepdims': draw(st.booleans())}


REDUCTION_EXAMPLES = (
    shapes_spec((2, 3), axis=None, keepdims=False),
    shapes_spec((2, 3), axis=1, keepdims=True),
    shapes_spec((2, 3, 4), axis=-1, keepdims=False),
    shapes_spec((2, 3, 4), axis=(0, 2), keepdims=True),
    shapes_spec((2, 3, 4), axis=(-1, 0), keepdims=False),
    shapes_spec((), axis=None, keepdims=False),
    shapes_spec((), axis=None, keepdims=True),
    shapes_spec((1,), axis=0, keepdims=False),
    shapes_spec((3, 1), axis=(-2,), keepdims=False),
    shapes_spec((2, 3), axis=(), keepdims=False),
    shapes_spec((5,), axis=None, keepdims=True))


@st.composite
def softmax_specs(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1,
                                  max_side=4))
    nd = len(shape)
    axis = draw(st.one_of(st.integers(-nd, nd - 1),
                          hnp.valid_tuple_axes(nd, min_size=1)))
    return {'shapes': (shape,), 'axis': axis}


SOFTMAX_EXAMPLES = (shapes_spec((2, 3), axis=-1), shapes_spec((4,), axis=0),
                    shapes_spec((1,), axis=0), shapes_spec((2, 3, 2), axis=1),
                    shapes_spec((2, 3, 2), axis=(0, 2)),
                    shapes_spec((3, 1), axis=-1))

MATMUL_SIGNATURE = '(m?,n),(n,p?)->(m?,p?)'
MATMUL_SPECS = hnp.mutually_broadcastable_shapes(
    signature=MATMUL_SIGNATURE, min_dims=0, max_dims=2, min_side=1,
    max_side=4).map(lambda r: {'shapes': r.input_shapes})
MATMUL_EXAMPLES = (shapes_spec((3,), (3,)), shapes_spec((3,), (3, 2)),
                   shapes_spec((2, 3), (3,)), shapes_spec((2, 3), (3, 4)),
                   shapes_spec((5, 2, 3), (3, 4)),
                   shapes_spec((2, 1, 2, 3), (3, 3, 2)),
                   shapes_spec((3,), (2, 3, 4)), shapes_spec((2, 2, 3), (3,)),
                   shapes_spec((1, 1), (1, 1)), shapes_spec((1,), (1,)))


@st.composite
def tensordot_specs(draw):
    """x: free axes, then the contracted ones in reverse; y: the contracted
    ones, then free axes (x's last axis meets y's first)."""
    n = draw(st.integers(0, 2))
    side = st.integers(1, 3)
    free_x = tuple(draw(st.lists(side, max_size=2)))
    free_y = tuple(draw(st.lists(side, max_size=2)))
    k = tuple(draw(st.lists(side, min_size=n, max_size=n)))
    return {'shapes': (free_x + k[::-1], k + free_y), 'axes': n}


TENSORDOT_EXAMPLES = (shapes_spec((2,), (3,), axes=0), shapes_spec((), (2,), axes=0),
                      shapes_spec((2, 3), (3, 4), axes=1),
                      shapes_spec((3,), (3,), axes=1),
                      shapes_spec((2, 4, 3), (3, 4, 5), axes=2),
                      shapes_spec((4, 3), (3, 4), axes=2),
                      shapes_spec((2, 1), (1, 2), axes=1))

EINSUM_SUBSCRIPTS = (
    'ij,jk->ik', 'ij,jk', 'i,i->', 'i,j->ij', 'ij->ji', 'ij->', 'i->',
    'bij,bjk->bik', 'ij,j->i', 'ij,jk->k',   # i: only x has it, summed
    'ij,k->ik',                              # j summed in x alone, k in y
    'ijk->kj', 'ij,ij->ij', 'abc,cd,de->abe', ',ij->ij', 'ba,ac->cb')


@st.composite
def einsum_specs(draw):
    subscripts = draw(st.sampled_from(EINSUM_SUBSCRIPTS))
    return einsum_spec(subscripts, draw(st.lists(
        st.integers(1, 3), min_size=5, max_size=5)))


def einsum_spec(subscripts, sides=(2, 3, 4, 1, 2)):
    inputs = subscripts.split('->')[0].split(',')
    letters = sorted(set(''.join(inputs)))
    size = {c: sides[i % len(sides)] for i, c in enumerate(letters)}
    return {'shapes': tuple(tuple(size[c] for c in sub) for sub in inputs),
            'subscripts': subscripts}


@st.composite
def reshape_specs(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1,
                                  max_side=4))
    target = list(draw(st.permutations(shape)))
    target = [n for n in target if n != 1 or draw(st.booleans())]
    for _ in range(draw(st.integers(0, 2))):
        target.insert(draw(st.integers(0, len(target))), 1)
    if target and draw(st.booleans()):   # one side given as -1
        target[draw(st.integers(0, len(target) - 1))] = -1
    if draw(st.booleans()) and len(target) >= 2:   # merge two sides
        target = [int(np.prod(target[:2])) if -1 not in target[:2] else -1,
                  *target[2:]]
    return {'shapes': (shape,), 'shape': tuple(target)}


RESHAPE_EXAMPLES = (shapes_spec((2, 3), shape=(3, 2)),
                    shapes_spec((2, 3), shape=(6,)),
                    shapes_spec((2, 3, 4), shape=(4, -1)),
                    shapes_spec((), shape=(1, 1)), shapes_spec((1,), shape=()),
                    shapes_spec((1, 1), shape=()),
                    shapes_spec((0, 3), shape=(3, 0)))


@st.composite
def transpose_specs(draw, allow_none=True):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1,
                                  max_side=4))
    nd = len(shape)
    if allow_none and draw(st.booleans()):
        return {'shapes': (shape,), 'axes': None}
    axes = draw(st.permutations(range(nd)))
    axes = tuple(a - nd if draw(st.booleans()) else a for a in axes)
    return {'shapes': (shape,), 'axes': axes}


TRANSPOSE_EXAMPLES = (shapes_spec((2, 3), axes=(1, 0)),
                      shapes_spec((2, 3, 4), axes=(2, 0, 1)),
                      shapes_spec((2, 3, 4), axes=(-1, 0, -2)),
                      shapes_spec((2, 3, 4), axes=None),
                      shapes_spec((), axes=()), shapes_spec((1,), axes=(0,)),
                      shapes_spec((3, 1), axes=None))


@st.composite
def expand_dims_specs(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1,
                                  max_side=4))
    nd = len(shape)
    if draw(st.booleans()):
        axis = draw(st.integers(-(nd + 1), nd))
    else:
        k = draw(st.integers(1, 2))
        axis = draw(hnp.valid_tuple_axes(nd + k, min_size=k, max_size=k))
    return {'shapes': (shape,), 'axis': axis}


EXPAND_DIMS_EXAMPLES = (shapes_spec((2, 3), axis=0), shapes_spec((2, 3), axis=-1),
                        shapes_spec((), axis=0), shapes_spec((3,), axis=(0, 2)),
                        shapes_spec((2, 3), axis=(-1, 1)))


@st.composite
def squeeze_specs(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1,
                                  max_side=2))
    ones = [i for i, n in enumerate(shape) if n == 1]
    nd = len(shape)
    choice = draw(st.integers(0, 2))
    if choice == 0 or not ones:
        axis = None
    elif choice == 1:
        a = draw(st.sampled_from(ones))
        axis = a - nd if draw(st.booleans()) else a
    else:
        axis = tuple(draw(st.lists(st.sampled_from(ones), unique=True)))
    return {'shapes': (shape,), 'axis': axis}


SQUEEZE_EXAMPLES = (shapes_spec((1, 3, 1), axis=None),
                    shapes_spec((1, 3, 1), axis=0),
                    shapes_spec((1, 3, 1), axis=(0, -1)),
                    shapes_spec((), axis=None), shapes_spec((1,), axis=None),
                    shapes_spec((2, 3), axis=()))


@st.composite
def broadcast_to_specs(draw):
    target = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1,
                                   max_side=4))
    keep = draw(st.integers(0, len(target)))
    shape = tuple(1 if draw(st.booleans()) else n
                  for n in target[len(target) - keep:])
    return {'shapes': (shape,), 'shape': target}


BROADCAST_TO_EXAMPLES = (shapes_spec((3, 1), shape=(2, 3, 4)),
                         shapes_spec((), shape=(2, 3)),
                         shapes_spec((1,), shape=(1,)),
                         shapes_spec((4,), shape=(3, 4)),
                         shapes_spec((1, 1), shape=(2, 3)),
                         shapes_spec((2,), shape=(0, 2)))


@st.composite
def concatenate_specs(draw):
    base = list(draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                      max_side=3)))
    nd = len(base)
    axis = draw(st.integers(-nd, nd - 1))
    sizes = draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    shapes = []
    for n in sizes:
        base[axis] = n
        shapes.append(tuple(base))
    return {'shapes': tuple(shapes), 'axis': axis}


CONCATENATE_EXAMPLES = (shapes_spec((2, 3), (1, 3), (4, 3), axis=0),
                        shapes_spec((2, 3), (2, 1), axis=-1),
                        shapes_spec((3,), axis=0),
                        shapes_spec((1,), (1,), (0,), (2,), axis=0),
                        shapes_spec((2, 1, 2), (2, 3, 2), axis=1))


@st.composite
def stack_specs(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1,
                                  max_side=3))
    nd = len(shape)
    k = draw(st.integers(1, 4))
    return {'shapes': (shape,) * k, 'axis': draw(st.integers(-(nd + 1), nd))}


STACK_EXAMPLES = (shapes_spec((2, 3), (2, 3), (2, 3), axis=0),
                  shapes_spec((2, 3), (2, 3), axis=-1),
                  shapes_spec((), (), axis=0), shapes_spec((1,), axis=1),
                  shapes_spec((3,), (3,), (3,), (3,), axis=-2))


@st.composite
def split_specs(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                  max_side=6))
    nd = len(shape)
    axis = draw(st.integers(-nd, nd - 1))
    n = shape[axis]
    if draw(st.booleans()):
        parts = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    else:
        parts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return {'shapes': (shape,), 'parts': parts, 'axis': axis}


SPLIT_EXAMPLES = (shapes_spec((6,), parts=3, axis=0),
                  shapes_spec((2, 6), parts=[1, 3, 3, 5], axis=-1),
                  shapes_spec((4, 2), parts=[0, 2], axis=0),
                  shapes_spec((1, 3), parts=1, axis=0),
                  shapes_spec((3, 4, 2), parts=2, axis=1))


# getitem specs: the index is a param; arrays in it are NumPy arrays

def _intp(values):
    return np.asarray(values, dtype=np.intp)


@st.composite
def basic_index_specs(draw):
    """ints (negative too), slices (any step), None, Ellipsis."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                  max_side=4))
    index = draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True,
                                   allow_ellipsis=True))
    return {'shapes': (shape,), 'index': index}


BASIC_INDEX_EXAMPLES = (
    shapes_spec((3, 4), index=(1, slice(None, None, -1))),
    shapes_spec((3, 4), index=(Ellipsis, None, 2)),
    shapes_spec((2, 3, 4), index=(slice(1, None), -1)),
    shapes_spec((5,), index=slice(4, 0, -2)),
    shapes_spec((3,), index=0), shapes_spec((), index=()),
    shapes_spec((), index=None), shapes_spec((), index=Ellipsis),
    shapes_spec((1, 1), index=(0, None, slice(None))),
    shapes_spec((4, 3), index=(slice(1, 3), slice(None, None, 2))))


@st.composite
def int_array_index_specs(draw):
    """One 1-D integer array (negative entries, at least one duplicate) on
    one axis, full slices elsewhere: what every backend supports."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                  max_side=4))
    axis = draw(st.integers(0, len(shape) - 1))
    n = shape[axis]
    idx = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))
    idx = draw(st.permutations(idx + [idx[0]]))        # a duplicate
    index = (slice(None),) * axis + (_intp(idx),)
    if draw(st.booleans()):
        index += (slice(None),) * (len(shape) - axis - 1)
    if len(index) == 1 and draw(st.booleans()):
        index = index[0]
    return {'shapes': (shape,), 'index': index}


INT_ARRAY_INDEX_EXAMPLES = (
    shapes_spec((4,), index=_intp([0, 2, 2, -1, 3])),
    shapes_spec((3, 4), index=(slice(None), _intp([1, 1, 3, -4]))),
    shapes_spec((3, 4), index=(_intp([2, -1, 0]),)),
    shapes_spec((2, 3, 2), index=(slice(None), _intp([0, 0, 0]), slice(None))),
    shapes_spec((1,), index=_intp([0, 0])))


@st.composite
def advanced_index_specs(draw):
    """Integer arrays of any shape, several of them, mixed with ints and
    slices: NumPy's full advanced indexing, duplicates included."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                  max_side=4))
    kind = draw(st.sampled_from(['all axes', '2-D', 'int and array']))
    if kind == 'all axes':
        index = draw(hnp.integer_array_indices(
            shape, result_shape=hnp.array_shapes(min_dims=0, max_dims=2,
                                                 min_side=1, max_side=4)))
        index = tuple(_intp(i) for i in index)
    elif kind == '2-D' or len(shape) == 1:
        n = shape[0]
        idx = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=3))
        idx = idx + idx[::-1]                             # duplicates
        index = (_intp(idx).reshape(2, -1), Ellipsis)
    else:
        n = shape[1]
        idx = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4))
        index = (draw(st.integers(-shape[0], shape[0] - 1)),
                 _intp(idx + [idx[-1]]))
    return {'shapes': (shape,), 'index': index}


ADVANCED_INDEX_EXAMPLES = (
    shapes_spec((3,), index=_intp([[0, 1], [1, 1]])),
    shapes_spec((3, 4), index=(_intp([0, 2, 0]), _intp([1, 1, 1]))),
    shapes_spec((3, 4), index=(1, _intp([3, 0, 3]))),
    shapes_spec((2, 3, 4), index=(_intp([1, 1]), slice(None), _intp([0, 0]))),
    shapes_spec((2, 3, 4), index=(0, slice(None), _intp([2, 2, -1]))),
    shapes_spec((3, 2), index=(_intp([[0], [2]]), _intp([1, 1, 0]))))


@st.composite
def mask_index_specs(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                  max_side=4))
    k = draw(st.integers(1, len(shape)))
    if len(shape) > k and draw(st.booleans()):   # a slice, then the mask
        mask = draw(hnp.arrays(np.bool_, shape[1:k + 1]))
        return {'shapes': (shape,), 'index': (slice(None), mask)}
    mask = draw(hnp.arrays(np.bool_, shape[:k]))
    return {'shapes': (shape,), 'index': mask}


MASK_INDEX_EXAMPLES = (
    shapes_spec((2, 3), index=np.array([[True, False, True],
                                        [False, False, True]])),
    shapes_spec((3, 2), index=np.array([False, True, True])),
    shapes_spec((2, 3), index=(slice(None), np.array([True, False, True]))),
    shapes_spec((2,), index=np.array([False, False])))


# ---------------------------------------------------------------- row builders

ROWS: list[Row] = []


def _in_ops(fn) -> bool:
    """Is fn defined in the op library (micrograd.ops and its modules)?"""
    module = getattr(fn, '__module__', '') or ''
    return module == mg_ops.__name__ or module.startswith(mg_ops.__name__ + '.')


def add_row(name, fn, covers, *, sample=ANY, specs=None, examples=(),
            make=None, torch=None, public=None, uses=(), strict=None):
    if public is None:
        public = (fn,) if _in_ops(fn) else ()
    row = Row(name=name, fn=fn, covers=tuple(covers), sample=sample,
              specs=specs, examples=tuple(examples),
              make=make or default_make(sample), torch=torch,
              public=tuple(public), uses=tuple(uses), strict=strict)
    assert all(r.name != name for r in ROWS), name
    ROWS.append(row)
    return row


REFLECTED_ARRAY_STRICT = (
    "array_api_strict's operators raise TypeError on a non-Array operand "
    "instead of returning NotImplemented, so `strict_array + Value` never "
    "reaches Value.__radd__ (NumPy reaches it through __array_ufunc__)")
# ---- arithmetic: functions and operators, two broadcastable inputs

def _pow_num(x, p):
    return x ** p


def _rpow_num(x, c):
    return c ** x


def _radd_num(x, c):
    return c + x


def _rsub_num(x, c):
    return c - x


def _rmul_num(x, c):
    return c * x


def _rdiv_num(x, c):
    return c / x


for fname, op, opname, sample, tname in (
        ('add', operator.add, '+', ANY, 'add'),
        ('sub', operator.sub, '-', ANY, 'sub'),
        ('mul', operator.mul, '*', ANY, 'mul'),
        ('div', operator.truediv, '/', any_then_nonzero, 'div'),
        ('pow', operator.pow, '**', positive_then_any, 'pow')):
    tfn = (lambda T, x, y, _t=tname: getattr(T, _t)(x, y))
    add_row(f'{fname}(x, y)', getattr(mg, fname), [fname], sample=sample,
            specs=broadcastable(2), examples=BINARY_EXAMPLES, torch=tfn)
    add_row(f'x {opname} y', op, [fname], sample=sample,
            specs=broadcastable(2), examples=BINARY_EXAMPLES, torch=tfn,
            uses=[f'__{op.__name__}__'])

add_row('neg(x)', mg.neg, ['neg'], specs=broadcastable(1),
        examples=UNARY_EXAMPLES, torch=lambda T, x: T.neg(x))
add_row('-x', operator.neg, ['neg'], specs=broadcastable(1),
        examples=UNARY_EXAMPLES, torch=lambda T, x: -x, uses=['__neg__'])


@st.composite
def pow_number_specs(draw):
    spec = draw(broadcastable(1))
    spec['p'] = draw(st.sampled_from([2, 3, -1, -2, 0, 1, 0.5, -0.5, 1.5,
                                      2.5, 3.0]))
    return spec


def _pow_number_make(rng, shapes, p):
    """A power 0, 1, 2, 3 takes any x, exact zeros too; a negative integer
    power any x away from 0; others a positive x."""
    integral = float(p).is_integer()
    sample = (ANY if integral and p >= 0 else away_from((0.0,), 0.2)
              if integral else uniform(0.3, 2.0))
    return Case(tuple(sample(rng, shapes)), {'p': p})


add_row('x ** number', _pow_num, ['pow'], specs=pow_number_specs(),
        examples=tuple(dict(s, p=p) for s in UNARY_EXAMPLES[:3]
                       for p in (3, 0.5, -1)),
        make=_pow_number_make, torch=lambda T, x, p: T.pow(x, p),
        uses=['__pow__'])


def _with_constant(specs, low, high):
    @st.composite
    def with_c(draw):
        spec = draw(specs)
        spec['c'] = draw(st.floats(low, high))
        return spec
    return with_c()


for name, fn, opname, dunder, sample, low, tfn in (
        ('number + x', _radd_num, 'add', '__radd__', ANY, -3.0,
         lambda T, x, c: c + x),
        ('number - x', _rsub_num, 'sub', '__rsub__', ANY, -3.0,
         lambda T, x, c: c - x),
        ('number * x', _rmul_num, 'mul', '__rmul__', ANY, -3.0,
         lambda T, x, c: c * x),
        ('number / x', _rdiv_num, 'div', '__rtruediv__',
         away_from((0.0,), 0.5), -3.0, lambda T, x, c: c / x),
        ('number ** x', _rpow_num, 'pow', '__rpow__', ANY, 0.5,
         lambda T, x, c: T.pow(c, x))):
    add_row(name, fn, [opname], sample=sample,
            specs=_with_constant(broadcastable(1), low, 3.0),
            examples=tuple(dict(s, c=2.5) for s in UNARY_EXAMPLES),
            torch=tfn, uses=[dunder])


# ndarray (op) Value: NumPy hands the Value the ufunc (__array_ufunc__)

def _array_left(op_function):
    def fn(x, c):
        return op_function(c, x)
    fn.__name__ = f'ndarray_{op_function.__name__}'
    return fn


def _constant_make(sample_c, sample_x):
    def make(rng, shapes):
        (c,), (x,) = sample_c(rng, shapes[:1]), sample_x(rng, shapes[1:])
        return Case((x,), {'c': c})
    return make


for opname, op, sample_c, sample_x, specs, examples, tfn in (
        ('add', operator.add, ANY, ANY, broadcastable(2), BINARY_EXAMPLES,
         lambda T, x, c: c + x),
        ('sub', operator.sub, ANY, ANY, broadcastable(2), BINARY_EXAMPLES,
         lambda T, x, c: c - x),
        ('mul', operator.mul, ANY, ANY, broadcastable(2), BINARY_EXAMPLES,
         lambda T, x, c: c * x),
        ('div', operator.truediv, ANY, away_from((0.0,), 0.5),
         broadcastable(2), BINARY_EXAMPLES, lambda T, x, c: c / x),
        ('pow', operator.pow, uniform(0.5, 2.0), ANY, broadcastable(2),
         BINARY_EXAMPLES, lambda T, x, c: T.pow(c, x)),
        ('matmul', operator.matmul, ANY, ANY, MATMUL_SPECS, MATMUL_EXAMPLES,
         lambda T, x, c: c @ x)):
    symbol = {'add': '+', 'sub': '-', 'mul': '*', 'div': '/', 'pow': '**',
              'matmul': '@'}[opname]
    add_row(f'ndarray {symbol} x', _array_left(op), [opname], specs=specs,
            examples=examples, make=_constant_make(sample_c, sample_x),
            torch=tfn, uses=['__array_ufunc__'], strict=REFLECTED_ARRAY_STRICT)


def _list_matmul(x, c):
    return c @ x      # a list has no __matmul__: Value.__rmatmul__


def _list_make(rng, shapes):
    case = _constant_make(ANY, ANY)(rng, shapes)
    return Case(case.arrays, {'c': case.params['c'].tolist()})


add_row('nested list @ x', _list_matmul, ['matmul'], specs=MATMUL_SPECS,
        examples=MATMUL_EXAMPLES, make=_list_make,
        torch=lambda T, x, c: T.as_tensor(c, dtype=x.dtype) @ x,
        uses=['__rmatmul__'])


def _x_times_array(x, c):
    return x * c


add_row('x * ndarray', _x_times_array, ['mul'], specs=broadcastable(2),
        examples=BINARY_EXAMPLES, make=_constant_make(ANY, ANY),
        torch=lambda T, x, c: x * c, uses=['__mul__'])


# ---- elementwise functions of one input, and their Value methods

UNARY = (  # name, domain, torch name
    ('exp', ANY, 'exp'), ('log', POSITIVE, 'log'),
    ('log1p', uniform(-0.8, 3.0), 'log1p'), ('expm1', ANY, 'expm1'),
    ('sqrt', POSITIVE, 'sqrt'), ('tanh', ANY, 'tanh'),
    ('sigmoid', with_specials(uniform(-4.0, 4.0)), 'sigmoid'),
    ('softplus', with_specials(uniform(-4.0, 4.0)), 'nn.functional.softplus'),
    ('relu', NONZERO, 'relu'), ('abs', NONZERO, 'abs'),
    ('sin', with_specials(uniform(-3.0, 3.0)), 'sin'),
    ('cos', with_specials(uniform(-3.0, 3.0)), 'cos'),
    ('arctanh', OPEN_UNIT, 'atanh'), ('arcsin', OPEN_UNIT, 'asin'),
    ('arcsinh', with_specials(uniform(-3.0, 3.0)), 'asinh'))


def torch_function(T, dotted):
    """T's function at a dotted name ('nn.functional.softplus')."""
    for part in dotted.split('.'):
        T = getattr(T, part)
    return T


for name, sample, tname in UNARY:
    tfn = (lambda T, x, _t=tname: torch_function(T, _t)(x))
    add_row(f'{name}(x)', getattr(mg, name), [name], sample=sample,
            specs=broadcastable(1), examples=UNARY_EXAMPLES, torch=tfn)
    add_row(f'x.{name}()', operator.methodcaller(name), [name], sample=sample,
            specs=broadcastable(1), examples=UNARY_EXAMPLES, torch=tfn,
            uses=[name])

add_row('abs(x) builtin', builtins.abs, ['abs'], sample=NONZERO,
        specs=broadcastable(1), examples=UNARY_EXAMPLES,
        torch=lambda T, x: T.abs(x), uses=['__abs__'])

# astype: float64 to float128 is exact, so central differences still hold
add_row('astype(x, float128)', lambda x: mg.astype(x, 'float128'), ['astype'],
        specs=broadcastable(1), examples=UNARY_EXAMPLES,
        torch=lambda T, x: x.to(T.float64), public=[mg.astype],
        strict='array_api_strict has no float128')
add_row('astype(x, float64)', lambda x: mg.astype(x, 'float64'), ['astype'],
        specs=broadcastable(1), examples=UNARY_EXAMPLES,
        torch=lambda T, x: x.to(T.float64), public=[mg.astype])
add_row('x.astype(float128)', lambda x: x.astype('float128'), ['astype'],
        specs=broadcastable(1), examples=UNARY_EXAMPLES,
        torch=lambda T, x: x.to(T.float64), uses=['astype'],
        strict='array_api_strict has no float128')

for name in ('maximum', 'minimum'):
    add_row(f'{name}(x, y)', getattr(mg, name), [name], sample=distinct,
            specs=broadcastable(2), examples=BINARY_EXAMPLES,
            torch=(lambda T, x, y, _n=name: getattr(T, _n)(x, y)))


def _where(x, y, cond):
    return mg.where(cond, x, y)


def _where_make(rng, shapes):
    cond = rng.random(shapes[0]) < 0.5
    return Case(tuple(ANY(rng, shapes[1:])), {'cond': np.asarray(cond)})


def _where_greater(x, y):
    return mg.where(x > y, x, y)


add_row('where(cond, x, y)', _where, ['where'], specs=broadcastable(3),
        examples=(shapes_spec((2, 3), (2, 3), (2, 3)),
                  shapes_spec((3, 1), (1, 4), ()),
                  shapes_spec((), (2,), (3, 1)),
                  shapes_spec((2, 1), (), (1,))),
        make=_where_make, torch=lambda T, x, y, cond: T.where(cond, x, y),
        public=[mg.where])
add_row('where(x > y, x, y)', _where_greater, ['where', 'greater'],
        sample=distinct, specs=broadcastable(2), examples=BINARY_EXAMPLES,
        torch=lambda T, x, y: T.where(x > y, x, y), public=[mg.where],
        uses=['__gt__'])

CLIP_BOUNDS = ((-0.5, 0.5), (None, 0.3), (-0.3, None), (0.2, 1.0),
               (-1.5, -1.0))


@st.composite
def clip_specs(draw):
    lo, hi = draw(st.sampled_from(CLIP_BOUNDS))
    return dict(draw(broadcastable(1)), lo=lo, hi=hi)


def _clip_make(rng, shapes, lo, hi):
    bounds = tuple(b for b in (lo, hi) if b is not None)
    return Case(tuple(away_from(bounds, 0.05)(rng, shapes)),
                {'lo': lo, 'hi': hi})


def _clip_method(x, lo, hi):
    return x.clip(lo, hi)


CLIP_EXAMPLES = tuple(dict(s, lo=lo, hi=hi) for s in UNARY_EXAMPLES[:4]
                      for lo, hi in CLIP_BOUNDS[:3])
add_row('clip(x, lo, hi)', mg.clip, ['clip'], specs=clip_specs(),
        examples=CLIP_EXAMPLES, make=_clip_make,
        torch=lambda T, x, lo, hi: T.clamp(x, lo, hi))
add_row('x.clip(lo, hi)', _clip_method, ['clip'], specs=clip_specs(),
        examples=CLIP_EXAMPLES, make=_clip_make,
        torch=lambda T, x, lo, hi: T.clamp(x, lo, hi), uses=['clip'])


def _checked_probabilities(x):
    return mg_ops.check_values(mg.sigmoid(x), 'lie in [0, 1]', 'x')


add_row('check_values(sigmoid(x))', _checked_probabilities,
        ['check_values', 'sigmoid'], specs=broadcastable(1),
        examples=UNARY_EXAMPLES, torch=lambda T, x: T.sigmoid(x), public=[])


def _times_one_hot(x, labels):
    """Labels as a Value of x's dtype (a placeholder's, in a model)."""
    labels = mg.Value(labels, dtype=x.dtype, requires_grad=False)
    return x * mg.one_hot(labels, x.shape[-1])


def _one_hot_make(rng, shapes):
    (x,) = ANY(rng, shapes)
    labels = rng.integers(0, shapes[0][-1], shapes[0][:-1])
    return Case((x,), {'labels': np.asarray(labels, dtype=np.intp)})


def _torch_times_one_hot(T, x, labels):
    hot = T.nn.functional.one_hot(labels.long(), x.shape[-1])
    return x * hot.to(x.dtype)


add_row('x * one_hot(labels, classes)', _times_one_hot, ['mul', 'one_hot'],
        specs=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                               max_side=4).map(lambda s: {'shapes': (s,)}),
        examples=(shapes_spec((3, 4)), shapes_spec((2,)),
                  shapes_spec((2, 1, 3)), shapes_spec((1, 1))),
        make=_one_hot_make, torch=_torch_times_one_hot, public=[])


# ---- reductions

def torch_reduce(reducer):
    """A torch reduction with NumPy's axis conventions (None: all axes;
    (): no axis, where torch would reduce all)."""
    def reduce(T, x, axis, keepdims):
        axes = tuple(range(x.ndim)) if axis is None else axis
        if axes == ():
            return x * 1
        return getattr(T, reducer)(x, dim=axes, keepdim=keepdims)
    return reduce


def _reduce_method(name):
    def fn(x, axis, keepdims):
        return getattr(x, name)(axis, keepdims)
    fn.__name__ = f'method_{name}'
    return fn


for name, sample, reducer in (('sum', ANY, 'sum'), ('mean', ANY, 'mean'),
                              ('max', distinct, 'amax'),
                              ('min', distinct, 'amin'),
                              ('logsumexp', ANY, 'logsumexp')):
    tfn = torch_reduce(reducer)
    add_row(f'{name}(x, axis, keepdims)', getattr(mg, name), [name],
            sample=sample, specs=reduction_specs(),
            examples=REDUCTION_EXAMPLES, torch=tfn)
    add_row(f'x.{name}(axis, keepdims)', _reduce_method(name), [name],
            sample=sample, specs=reduction_specs(),
            examples=REDUCTION_EXAMPLES, torch=tfn, uses=[name])


def torch_softmax(T, x, axis):
    dims = axis if isinstance(axis, tuple) else (axis,)
    return T.exp(x - T.logsumexp(x, dim=dims, keepdim=True))


def torch_log_softmax(T, x, axis):
    if isinstance(axis, int):
        return T.log_softmax(x, dim=axis)
    return x - T.logsumexp(x, dim=axis, keepdim=True)


def _axis_method(name):
    def fn(x, axis):
        return getattr(x, name)(axis)
    fn.__name__ = f'method_{name}'
    return fn


for name, tfn in (('softmax', torch_softmax),
                  ('log_softmax', torch_log_softmax)):
    add_row(f'{name}(x, axis)', getattr(mg, name), [name],
            sample=with_specials(uniform(-3.0, 3.0)), specs=softmax_specs(),
            examples=SOFTMAX_EXAMPLES, torch=tfn)
    add_row(f'x.{name}(axis)', _axis_method(name), [name],
            sample=with_specials(uniform(-3.0, 3.0)), specs=softmax_specs(),
            examples=SOFTMAX_EXAMPLES, torch=tfn, uses=[name])


# ---- linear algebra

add_row('matmul(x, y)', mg.matmul, ['matmul'], specs=MATMUL_SPECS,
        examples=MATMUL_EXAMPLES, torch=lambda T, x, y: T.matmul(x, y))
add_row('x @ y', operator.matmul, ['matmul'], specs=MATMUL_SPECS,
        examples=MATMUL_EXAMPLES, torch=lambda T, x, y: x @ y,
        uses=['__matmul__'])


def torch_tensordot(T, x, y, axes):
    n = axes
    if n == 0:
        return T.tensordot(x, y, dims=0)
    return T.tensordot(x, y, dims=(list(range(x.ndim - 1, x.ndim - 1 - n, -1)),
                                   list(range(n))))


add_row('tensordot(x, y, axes)', mg.tensordot, ['tensordot'],
        specs=tensordot_specs(), examples=TENSORDOT_EXAMPLES,
        torch=torch_tensordot)


def _einsum(*operands, subscripts):
    return mg.einsum(subscripts, *operands)


add_row('einsum(subscripts, *xs)', _einsum, ['einsum'], specs=einsum_specs(),
        examples=tuple(einsum_spec(s) for s in EINSUM_SUBSCRIPTS),
        torch=lambda T, *xs, subscripts: T.einsum(subscripts, *xs),
        public=[mg.einsum])


# ---- shape

def _reshape_method(x, shape):
    return x.reshape(*shape)


def _transpose_method(x, axes):
    return x.transpose(*axes) if axes is not None else x.transpose()


def _T(x):
    return x.T


def _torch_permute(T, x, axes):
    return x.permute(tuple(range(x.ndim - 1, -1, -1)) if axes is None
                     else tuple(axes))


def _expanded_shape(shape, axis):
    return np.expand_dims(np.empty(shape), axis).shape


def _squeezed_shape(shape, axis):
    return np.squeeze(np.empty(shape), axis).shape


add_row('reshape(x, shape)', mg.reshape, ['reshape'], specs=reshape_specs(),
        examples=RESHAPE_EXAMPLES,
        torch=lambda T, x, shape: T.reshape(x, shape))
add_row('x.reshape(*shape)', _reshape_method, ['reshape'],
        specs=reshape_specs(), examples=RESHAPE_EXAMPLES,
        torch=lambda T, x, shape: T.reshape(x, shape), uses=['reshape'])
add_row('transpose(x, axes)', mg.transpose, ['transpose'],
        specs=transpose_specs(), examples=TRANSPOSE_EXAMPLES,
        torch=_torch_permute)
add_row('x.transpose(*axes)', _transpose_method, ['transpose'],
        specs=transpose_specs(), examples=TRANSPOSE_EXAMPLES,
        torch=_torch_permute, uses=['transpose'])
add_row('x.T', _T, ['transpose'], specs=broadcastable(1),
        examples=UNARY_EXAMPLES,
        torch=lambda T, x: x.permute(tuple(range(x.ndim - 1, -1, -1))),
        uses=['T'])
add_row('expand_dims(x, axis)', mg.expand_dims, ['expand_dims'],
        specs=expand_dims_specs(), examples=EXPAND_DIMS_EXAMPLES,
        torch=lambda T, x, axis: x.reshape(_expanded_shape(x.shape, axis)))
add_row('x.expand_dims(axis)', _axis_method('expand_dims'), ['expand_dims'],
        specs=expand_dims_specs(), examples=EXPAND_DIMS_EXAMPLES,
        torch=lambda T, x, axis: x.reshape(_expanded_shape(x.shape, axis)),
        uses=['expand_dims'])
add_row('squeeze(x, axis)', mg.squeeze, ['squeeze'], specs=squeeze_specs(),
        examples=SQUEEZE_EXAMPLES,
        torch=lambda T, x, axis: x.reshape(_squeezed_shape(x.shape, axis)))
add_row('x.squeeze(axis)', _axis_method('squeeze'), ['squeeze'],
        specs=squeeze_specs(), examples=SQUEEZE_EXAMPLES,
        torch=lambda T, x, axis: T.squeeze(
            x, dim=tuple(range(x.ndim)) if axis is None else axis),
        uses=['squeeze'])
add_row('broadcast_to(x, shape)', mg.broadcast_to, ['broadcast_to'],
        specs=broadcast_to_specs(), examples=BROADCAST_TO_EXAMPLES,
        torch=lambda T, x, shape: T.broadcast_to(x, shape))


def _concatenate(*xs, axis):
    return mg.concatenate(list(xs), axis=axis)


def _stack(*xs, axis):
    return mg.stack(xs, axis=axis)


def _split_reversed(split):
    """The pieces joined in reverse order: each piece's gradient must come
    from its own place of the upstream gradient."""
    def fn(x, parts, axis):
        return mg.concatenate(split(x, parts, axis)[::-1], axis=axis)
    fn.__name__ = f'{split.__name__}_reversed'
    return fn


def _split_method(x, parts, axis):
    return x.split(parts, axis)


def _torch_split_reversed(T, x, parts, axis):
    pieces = T.tensor_split(x, parts if isinstance(parts, int)
                            else list(parts), dim=axis)
    return T.cat(pieces[::-1], dim=axis)


add_row('concatenate(xs, axis)', _concatenate, ['concatenate'],
        specs=concatenate_specs(), examples=CONCATENATE_EXAMPLES,
        torch=lambda T, *xs, axis: T.cat(xs, dim=axis),
        public=[mg.concatenate])
add_row('stack(xs, axis)', _stack, ['stack'], specs=stack_specs(),
        examples=STACK_EXAMPLES,
        torch=lambda T, *xs, axis: T.stack(xs, dim=axis), public=[mg.stack])
add_row('split(x, parts, axis)', _split_reversed(mg.split),
        ['getitem', 'concatenate'], specs=split_specs(),
        examples=SPLIT_EXAMPLES, torch=_torch_split_reversed,
        public=[mg.split])
add_row('x.split(parts, axis)', _split_reversed(_split_method),
        ['getitem', 'concatenate'], specs=split_specs(),
        examples=SPLIT_EXAMPLES, torch=_torch_split_reversed, uses=['split'])


def _subscript(x, index):
    return x[index]


def torch_getitem(T, x, index):
    """x[index] in torch: directly where torch indexes as NumPy does, else
    (negative steps, ints beside arrays) as a gather of the flat positions
    NumPy's indexing picks, whose gradient torch accumulates."""
    items = index if isinstance(index, tuple) else (index,)
    arrays = [i for i in items if hasattr(i, 'shape')]
    ints = [i for i in items if isinstance(i, int)]
    negative_step = any(isinstance(i, slice) and (i.step or 1) < 0
                        for i in items)
    if not negative_step and not (arrays and ints):
        converted = tuple(T.as_tensor(i) if hasattr(i, 'shape') else i
                          for i in items)
        return x[converted if isinstance(index, tuple) else converted[0]]
    numpy_index = tuple(np.asarray(i) if hasattr(i, 'shape') else i
                        for i in items)
    positions = np.arange(int(np.prod(tuple(x.shape), dtype=int))).reshape(
        tuple(x.shape))[numpy_index if isinstance(index, tuple)
                        else numpy_index[0]]
    return x.reshape(-1)[T.as_tensor(np.array(positions, dtype=np.int64))]


add_row('x[basic index]', _subscript, ['getitem'], specs=basic_index_specs(),
        examples=BASIC_INDEX_EXAMPLES, torch=torch_getitem,
        uses=['__getitem__'])
add_row('getitem(x, basic index)', mg.getitem, ['getitem'],
        specs=basic_index_specs(), examples=BASIC_INDEX_EXAMPLES,
        torch=torch_getitem)
add_row('x[1-D int array]', _subscript, ['getitem'],
        specs=int_array_index_specs(), examples=INT_ARRAY_INDEX_EXAMPLES,
        torch=torch_getitem, uses=['__getitem__'])
add_row('x[int arrays]', _subscript, ['getitem'],
        specs=advanced_index_specs(), examples=ADVANCED_INDEX_EXAMPLES,
        torch=torch_getitem, uses=['__getitem__'])
add_row('x[boolean mask]', _subscript, ['getitem'], specs=mask_index_specs(),
        examples=MASK_INDEX_EXAMPLES, torch=torch_getitem,
        uses=['__getitem__'])


# ---- more elementwise functions

def away_from_integers(margin, lo=-3.0, hi=3.0):
    """Uniform on [lo, hi] away from the integers (floor, ceil, mod's
    jumps)."""
    return away_from(tuple(float(k) for k in range(int(lo) - 1, int(hi) + 2)),
                     margin, lo, hi)


MORE_UNARY = (  # name, domain, torch name
    ('arctan', ANY, 'atan'), ('sinh', ANY, 'sinh'), ('cosh', ANY, 'cosh'),
    ('tan', with_specials(uniform(-1.2, 1.2)), 'tan'),
    ('arccos', OPEN_UNIT, 'acos'), ('log2', POSITIVE, 'log2'),
    ('log10', POSITIVE, 'log10'), ('exp2', ANY, 'exp2'),
    ('sign', NONZERO, 'sign'), ('floor', away_from_integers(0.1), 'floor'),
    ('ceil', away_from_integers(0.1), 'ceil'))

for name, sample, tname in MORE_UNARY:
    tfn = (lambda T, x, _t=tname: torch_function(T, _t)(x))
    add_row(f'{name}(x)', getattr(mg, name), [name], sample=sample,
            specs=broadcastable(1), examples=UNARY_EXAMPLES, torch=tfn)
    add_row(f'x.{name}()', operator.methodcaller(name), [name], sample=sample,
            specs=broadcastable(1), examples=UNARY_EXAMPLES, torch=tfn,
            uses=[name])


def away_from_origin(rng, shapes):
    """Points (x, y) with both coordinates away from 0 (arctan2, hypot)."""
    return away_from((0.0,), 0.2)(rng, shapes)


def mod_operands(rng, shapes):
    """x away from the integers, y near +-1 or +-2: x / y stays away from
    the integers, where mod jumps."""
    (x,) = away_from_integers(0.15, -4.0, 4.0)(rng, shapes[:1])
    y = (rng.choice([-2.0, -1.0, 1.0, 2.0], size=shapes[1]) +
         rng.uniform(-0.01, 0.01, shapes[1]))
    return [x, np.asarray(y, dtype=np.float64)]


for name, sample, tname in (('arctan2', away_from_origin, 'atan2'),
                            ('hypot', away_from_origin, 'hypot'),
                            ('logaddexp', ANY, 'logaddexp'),
                            ('mod', mod_operands, 'remainder')):
    add_row(f'{name}(x, y)', getattr(mg, name), [name], sample=sample,
            specs=broadcastable(2), examples=BINARY_EXAMPLES,
            torch=(lambda T, x, y, _t=tname: getattr(T, _t)(x, y)))

add_row('x % y', operator.mod, ['mod'], sample=mod_operands,
        specs=broadcastable(2), examples=BINARY_EXAMPLES,
        torch=lambda T, x, y: T.remainder(x, y), uses=['__mod__'])


def _rmod_num(x, c):
    return c % x


add_row('number % x', _rmod_num, ['mod'], sample=away_from((0.0,), 0.5),
        specs=_with_constant(broadcastable(1), 0.05, 0.45),
        examples=tuple(dict(s, c=0.3) for s in UNARY_EXAMPLES),
        torch=lambda T, x, c: T.remainder(T.full_like(x, c), x),
        uses=['__rmod__'])


# ---- more reductions

def torch_prod(T, x, axis, keepdims):
    """torch.prod, one axis at a time (it takes a single dim)."""
    axes = tuple(range(x.ndim)) if axis is None else tuple(
        a % x.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    for a in sorted(axes, reverse=True):
        x = T.prod(x, dim=a, keepdim=True)
    if not keepdims and axes:
        x = x.reshape([n for i, n in enumerate(x.shape) if i not in axes])
    return x * 1


@st.composite
def ddof_specs(draw):
    """A reduction spec and a ddof (1 only where more than one element is
    reduced)."""
    spec = draw(reduction_specs())
    shape, axis = spec['shapes'][0], spec['axis']
    axes = range(len(shape)) if axis is None else (
        axis if isinstance(axis, tuple) else (axis,))
    n = int(np.prod([shape[a] for a in axes], dtype=int))
    spec['ddof'] = draw(st.sampled_from([0, 1])) if n > 1 else 0
    return spec


DDOF_EXAMPLES = tuple(dict(s, ddof=0) for s in REDUCTION_EXAMPLES) + (
    shapes_spec((2, 3), axis=None, ddof=1, keepdims=False),
    shapes_spec((2, 3, 4), axis=(0, 2), ddof=1, keepdims=True),
    shapes_spec((5,), axis=-1, ddof=1, keepdims=False))


def torch_moment(name):
    def moment(T, x, axis, ddof, keepdims):
        axes = tuple(range(x.ndim)) if axis is None else axis
        if axes == ():
            return x * 0                  # one element each: no spread
        return getattr(T, name)(x, dim=axes, correction=ddof, keepdim=keepdims)
    return moment


def _moment_method(name):
    def fn(x, axis, ddof, keepdims):
        return getattr(x, name)(axis, ddof, keepdims)
    fn.__name__ = f'method_{name}'
    return fn


PROD_SAMPLE = with_specials(away_from((0.0,), 0.5, -1.5, 1.5))
add_row('prod(x, axis, keepdims)', mg.prod, ['prod'], sample=PROD_SAMPLE,
        specs=reduction_specs(), examples=REDUCTION_EXAMPLES, torch=torch_prod)
add_row('x.prod(axis, keepdims)', _reduce_method('prod'), ['prod'],
        sample=PROD_SAMPLE, specs=reduction_specs(),
        examples=REDUCTION_EXAMPLES, torch=torch_prod, uses=['prod'])
for name in ('var', 'std'):
    add_row(f'{name}(x, axis, ddof, keepdims)', getattr(mg, name), [name],
            specs=ddof_specs(), examples=DDOF_EXAMPLES,
            torch=torch_moment(name))
    add_row(f'x.{name}(axis, ddof, keepdims)', _moment_method(name), [name],
            specs=ddof_specs(), examples=DDOF_EXAMPLES,
            torch=torch_moment(name), uses=[name])


@st.composite
def one_axis_specs(draw, allow_0d=True):
    """A shape and one axis (an int, negative too, or None: flattened)."""
    shape = draw(hnp.array_shapes(min_dims=0 if allow_0d else 1, max_dims=3,
                                  min_side=1, max_side=4))
    nd = len(shape)
    axes = [st.none()] + ([st.integers(-nd, nd - 1)] if nd else [])
    return {'shapes': (shape,), 'axis': draw(st.one_of(axes))}


ONE_AXIS_EXAMPLES = (shapes_spec((2, 3), axis=1), shapes_spec((2, 3), axis=0),
                     shapes_spec((2, 3, 4), axis=-2),
                     shapes_spec((2, 3), axis=None),
                     shapes_spec((1,), axis=0), shapes_spec((4,), axis=-1),
                     shapes_spec((3, 1), axis=1))


def _torch_along(function):
    def along(T, x, axis):
        return function(T, x.reshape(-1), 0) if axis is None else function(
            T, x, axis)
    return along


def _torch_cumsum(T, x, axis):
    return T.cumsum(x, dim=axis)


def _torch_sort(T, x, axis):
    return T.sort(x, dim=axis).values


add_row('cumsum(x, axis)', mg.cumsum, ['cumsum'], specs=one_axis_specs(),
        examples=ONE_AXIS_EXAMPLES + (shapes_spec((), axis=None),),
        torch=_torch_along(_torch_cumsum))
add_row('x.cumsum(axis)', _axis_method('cumsum'), ['cumsum'],
        specs=one_axis_specs(),
        examples=ONE_AXIS_EXAMPLES + (shapes_spec((), axis=None),),
        torch=_torch_along(_torch_cumsum), uses=['cumsum'])
add_row('sort(x, axis)', mg.sort, ['sort'], sample=distinct,
        specs=one_axis_specs(allow_0d=False), examples=ONE_AXIS_EXAMPLES,
        torch=_torch_along(_torch_sort))


# ---- einsum with ...

ELLIPSIS_SUBSCRIPTS = (  # subscripts, how many operands have ...
    ('...ij,...jk->...ik', 2), ('...ij,jk', 1), ('i...->...i', 1),
    ('...,...->...', 2), ('...i,...i', 2), ('ij...,jk->ik...', 1),
    ('...i,i->...', 1), ('a...b->b...a', 1),
    ('...ij->ji', 1))      # ... left out of the output: summed, as PyTorch


@st.composite
def ellipsis_specs(draw):
    """Subscripts with ..., the ... axes of each operand drawn mutually
    broadcastable (size-1 axes, fewer axes, none at all)."""
    subscripts, count = draw(st.sampled_from(ELLIPSIS_SUBSCRIPTS))
    batch = draw(hnp.mutually_broadcastable_shapes(
        num_shapes=count, min_dims=0, max_dims=2, min_side=1,
        max_side=3)).input_shapes
    return ellipsis_spec(subscripts, batch)


def ellipsis_spec(subscripts, batch, sides=(2, 3, 4)):
    inputs = subscripts.split('->')[0].split(',')
    letters = sorted(set(''.join(inputs).replace('.', '')))
    size = {c: sides[i % len(sides)] for i, c in enumerate(letters)}
    shapes, extra = [], iter(batch)
    for sub in inputs:
        head, _, tail = sub.partition('...')
        middle = next(extra) if '...' in sub else ()
        shapes.append(tuple(size[c] for c in head) + tuple(middle) +
                      tuple(size[c] for c in tail))
    return {'shapes': tuple(shapes), 'subscripts': subscripts}


ELLIPSIS_EXAMPLES = (
    ellipsis_spec('...ij,...jk->...ik', [(5, 1), (4,)]),
    ellipsis_spec('...ij,...jk->...ik', [(), (2,)]),
    ellipsis_spec('...ij,jk', [(2,)]), ellipsis_spec('i...->...i', [(3, 1)]),
    ellipsis_spec('...,...->...', [(3, 1), (4,)]),
    ellipsis_spec('...,...->...', [(), ()]),
    ellipsis_spec('...i,...i', [(1,), (3,)]),
    ellipsis_spec('ij...,jk->ik...', [(2,)]),
    ellipsis_spec('...i,i->...', [(1, 2)]),
    ellipsis_spec('a...b->b...a', [()]),
    ellipsis_spec('...ij->ji', [(2, 1)]))

add_row('einsum with ...', _einsum, ['einsum'], specs=ellipsis_specs(),
        examples=ELLIPSIS_EXAMPLES,
        torch=lambda T, *xs, subscripts: T.einsum(subscripts, *xs),
        public=[mg.einsum])


# ---- micrograd.linalg

def invertible(rng, shapes):
    """Matrices (..., n, n) far from singular: I * 1.5 plus off-diagonal
    elements in [-0.5, 0.5] (diagonally dominant for n <= 3), random rows
    negated (determinants of both signs)."""
    out = []
    for s in shapes:
        n = s[-1]
        a = 1.5 * np.eye(n) + rng.uniform(-0.5, 0.5, s)
        out.append(a * rng.choice([-1.0, 1.0], size=s[:-1] + (1,)))
    return out


def positive_definite(rng, shapes):
    """B B^T + n I: symmetric, eigenvalues >= n."""
    out = []
    for s in shapes:
        b = rng.uniform(-1.0, 1.0, s)
        out.append(b @ np.swapaxes(b, -1, -2) + s[-1] * np.eye(s[-1]))
    return out


def invertible_then_any(rng, shapes):
    return invertible(rng, shapes[:1]) + ANY(rng, shapes[1:])


@st.composite
def square_specs(draw):
    n = draw(st.integers(1, 3))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1,
                                  max_side=3))
    return {'shapes': (batch + (n, n),)}


SQUARE_EXAMPLES = (shapes_spec((3, 3)), shapes_spec((1, 1)),
                   shapes_spec((2, 2, 2)), shapes_spec((2, 1, 3, 3)))


@st.composite
def solve_specs(draw):
    """a (..., n, n) and b: (n,), or (..., n, k) with batches that
    broadcast."""
    n = draw(st.integers(1, 3))
    if draw(st.booleans()):
        batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1,
                                      max_side=3))
        return {'shapes': (batch + (n, n), (n,))}
    ba, bb = draw(hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=0, max_dims=2, min_side=1,
        max_side=3)).input_shapes
    return {'shapes': (ba + (n, n), bb + (n, draw(st.integers(1, 3))))}


SOLVE_EXAMPLES = (shapes_spec((3, 3), (3,)), shapes_spec((3, 3), (3, 2)),
                  shapes_spec((2, 3, 3), (3,)), shapes_spec((1, 1), (1,)),
                  shapes_spec((2, 1, 2, 2), (3, 2, 1)),
                  shapes_spec((2, 2), (4, 2, 3)))


def torch_solve(T, a, b):
    """torch.linalg.solve with NumPy's rule (b a vector only when 1-D):
    a (..., n, k) b with batches broadcast out first."""
    if b.ndim == 1:
        return T.linalg.solve(a, b)
    batch = T.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return T.linalg.solve(a.expand(batch + a.shape[-2:]),
                          b.expand(batch + b.shape[-2:]))


def _logabsdet(a):
    return mg.linalg.slogdet(a).logabsdet


def _symmetric(x, ns):
    """(x + x^T) / 2 over the last two axes."""
    axes = tuple(range(x.ndim - 2)) + (x.ndim - 1, x.ndim - 2)
    return (x + (mg.transpose(x, axes) if ns is mg else x.permute(axes))) * 0.5


def _cholesky_of_symmetric(a):
    return mg.linalg.cholesky(_symmetric(a, mg))


@st.composite
def norm_specs(draw):
    """axis None, one axis (vector norms) or two (Frobenius), keepdims."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1,
                                  max_side=4))
    nd = len(shape)
    axes = [st.none()]
    if nd:
        axes.append(st.integers(-nd, nd - 1))
    if nd >= 2:
        axes.append(hnp.valid_tuple_axes(nd, min_size=2, max_size=2))
    return {'shapes': (shape,), 'axis': draw(st.one_of(axes)),
            'keepdims': draw(st.booleans())}


NORM_EXAMPLES = (shapes_spec((3,), axis=None, keepdims=False),
                 shapes_spec((2, 3), axis=None, keepdims=True),
                 shapes_spec((2, 3), axis=1, keepdims=False),
                 shapes_spec((2, 3, 4), axis=(0, 2), keepdims=False),
                 shapes_spec((2, 3, 4), axis=(-1, -2), keepdims=True),
                 shapes_spec((), axis=None, keepdims=False),
                 shapes_spec((1,), axis=0, keepdims=True),
                 shapes_spec((3, 1), axis=-1, keepdims=False))


def torch_norm(T, x, axis, keepdims):
    if x.ndim == 0:
        return x.abs()
    return T.linalg.vector_norm(x, ord=2, dim=axis, keepdim=keepdims)


add_row('linalg.solve(a, b)', mg.linalg.solve, ['solve'],
        sample=invertible_then_any, specs=solve_specs(),
        examples=SOLVE_EXAMPLES, torch=torch_solve)
add_row('linalg.inv(a)', mg.linalg.inv, ['inv'], sample=invertible,
        specs=square_specs(), examples=SQUARE_EXAMPLES,
        torch=lambda T, a: T.linalg.inv(a))
add_row('linalg.det(a)', mg.linalg.det, ['det'], sample=invertible,
        specs=square_specs(), examples=SQUARE_EXAMPLES,
        torch=lambda T, a: T.linalg.det(a))
add_row('linalg.slogdet(a).logabsdet', _logabsdet, ['slogdet'],
        sample=invertible, specs=square_specs(), examples=SQUARE_EXAMPLES,
        torch=lambda T, a: T.linalg.slogdet(a).logabsdet)
add_row('linalg.cholesky((a + a^T) / 2)', _cholesky_of_symmetric,
        ['cholesky'], sample=positive_definite, specs=square_specs(),
        examples=SQUARE_EXAMPLES,
        torch=lambda T, a: T.linalg.cholesky(_symmetric(a, T)))
add_row('linalg.norm(x, axis, keepdims)', mg.linalg.norm, ['norm'],
        specs=norm_specs(), examples=NORM_EXAMPLES, torch=torch_norm)


# ---- scatter_add (getitem's transpose)

def _scatter_add(values, shape, index):
    return mg.scatter_add(shape, index, values)


def _torch_scatter_add(T, values, shape, index):
    """zeros(shape) with values added at NumPy's positions of [index]."""
    numpy_index = to_namespace(index, np.asarray)
    positions = np.arange(int(np.prod(shape, dtype=int))).reshape(shape)[
        numpy_index]
    flat = T.zeros(int(np.prod(shape, dtype=int)), dtype=values.dtype)
    return flat.index_add(0, T.as_tensor(positions.reshape(-1).copy()),
                          values.reshape(-1)).reshape(shape)


def _scatter_spec(shape, index):
    values = np.zeros(shape)[index].shape
    return {'shapes': (values,), 'shape': shape, 'index': index}


SCATTER_ADD_EXAMPLES = (
    _scatter_spec((5,), np.array([0, 2, 2, 4])),
    _scatter_spec((3, 4), (slice(None), np.array([1, 1, 3]))),
    _scatter_spec((2, 3), (0, slice(1, 3))),
    _scatter_spec((2, 3), (slice(None, None, -1), None, 1)),
    _scatter_spec((4, 2), np.array([-1, 0, -1])),
    _scatter_spec((), ()))

add_row('scatter_add(shape, index, values)', _scatter_add, ['scatter_add'],
        specs=st.sampled_from(SCATTER_ADD_EXAMPLES),
        examples=SCATTER_ADD_EXAMPLES, torch=_torch_scatter_add,
        public=[mg.scatter_add])



# ---- take_rows: rows of w picked by integer indices (duplicates included)

def _take_rows(w, indices):
    return mg.take_rows(w, indices)


def _take_rows_make(rng, shapes):
    (w,) = ANY(rng, shapes[:1])
    indices = rng.integers(0, shapes[0][0], shapes[1])
    return Case((w,), {'indices': np.asarray(indices, dtype=np.int64)})


def _take_rows_spec(w_shape, index_shape):
    return {'shapes': (w_shape, index_shape)}


add_row('take_rows(w, indices)', _take_rows, ['take_rows'],
        specs=st.tuples(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1,
                                         max_side=4),
                        hnp.array_shapes(min_dims=0, max_dims=2, min_side=1,
                                         max_side=5)).map(
            lambda s: _take_rows_spec(*s)),
        examples=(_take_rows_spec((4, 3), (6,)), _take_rows_spec((1, 2), (3,)),
                  _take_rows_spec((5,), (2, 3)), _take_rows_spec((3, 2), ())),
        make=_take_rows_make, public=[mg.take_rows],
        torch=lambda T, w, indices: w[indices.long()])


# ---- dropout, its mask fixed: the generator is made afresh from a seed at
# every forward, so central differences see the mask the gradient used

class _FixedMask:
    training = True

    def __init__(self, seed):
        self.seed = seed

    @property
    def rng(self):
        return np.random.default_rng(self.seed)


def _dropout(x, p, seed):
    return mg_ops.dropout(x, p, _FixedMask(seed))


def _dropout_make(rng, shapes):
    (x,) = ANY(rng, shapes)
    return Case((x,), {'p': float(rng.choice([0.0, 0.25, 0.5])),
                       'seed': int(rng.integers(0, 100))})


def _torch_dropout(T, x, p, seed):
    keep = np.random.default_rng(seed).random(tuple(x.shape)) >= p
    return x * T.as_tensor(keep / (1 - p), dtype=x.dtype)


add_row('dropout(x, p) with a fixed mask', _dropout,
        ['dropout_mask', 'mul'], specs=broadcastable(1),
        examples=UNARY_EXAMPLES, make=_dropout_make, torch=_torch_dropout,
        public=[])

# ------------------------------------------------------- kinks and ties

@dataclass(frozen=True)
class Kink:
    """An op drawn at its kinks and ties, where central differences do not
    apply: `rule(arrays, params, u)` gives the gradients the README documents
    (relu and abs: 0 at 0; ties share equally; clip passes at its bounds)."""
    row: Row
    rule: Callable

    def __repr__(self):
        return f'Kink({self.row.name!r})'


def ties(rng, shapes):
    """Elements from a few values, -0.0 and 0.0 among them: ties and exact
    zeros everywhere, within and across the arrays."""
    return [rng.choice([-1.0, -0.0, 0.0, 0.5, 1.0], size=s) for s in shapes]


def sum_to(g, shape):
    """g summed over the axes broadcasting added or stretched to `shape`."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead)))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1),
                 keepdims=True).reshape(shape)


def _tie_split(wins):
    def rule(arrays, params, u):
        x, y = arrays
        bx, by = np.broadcast_arrays(x, y)
        tie = bx == by
        return [sum_to(np.where(tie, u / 2, np.where(wins(bx, by), u, 0.0)),
                       x.shape),
                sum_to(np.where(tie, u / 2, np.where(wins(by, bx), u, 0.0)),
                       y.shape)]
    return rule


def _tie_share(pick):
    def rule(arrays, params, u):
        (x,), axis = arrays, params['axis']
        axes = tuple(range(x.ndim)) if axis is None else tuple(
            a % x.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
        hit = x == pick(x, axis=axes, keepdims=True)
        g = u if params['keepdims'] else np.expand_dims(u, axes)
        return [hit * g / hit.sum(axis=axes, keepdims=True)]
    return rule


def _clip_at_bounds_make(rng, shapes, lo, hi):
    """x with about half of its elements exactly at a bound."""
    (x,) = uniform(-2.0, 2.0)(rng, shapes)
    bounds = [b for b in (lo, hi) if b is not None]
    at = rng.random(x.shape) < 0.5
    x = np.where(at, rng.choice(bounds, size=x.shape), x)
    return Case((np.asarray(x, dtype=np.float64),), {'lo': lo, 'hi': hi})


def _clip_rule(arrays, params, u):
    (x,), lo, hi = arrays, params['lo'], params['hi']
    inside = (x >= (-np.inf if lo is None else lo)) & (
        x <= (np.inf if hi is None else hi))
    return [u * inside]


def kink_row(name, fn, covers, torch, sample=ties, specs=None,
             examples=UNARY_EXAMPLES, make=None):
    return Row(name=name, fn=fn, covers=tuple(covers), sample=sample,
               specs=broadcastable(1) if specs is None else specs,
               examples=tuple(examples),
               make=make or default_make(sample), torch=torch)


KINKS = [
    Kink(kink_row('relu(x) at 0', mg.relu, ['relu'], lambda T, x: T.relu(x)),
         lambda arrays, params, u: [u * (arrays[0] > 0)]),
    Kink(kink_row('abs(x) at 0', mg.abs, ['abs'], lambda T, x: T.abs(x)),
         lambda arrays, params, u: [u * np.sign(arrays[0])]),
    Kink(kink_row('maximum(x, y) at ties', mg.maximum, ['maximum'],
                  lambda T, x, y: T.maximum(x, y), specs=broadcastable(2),
                  examples=BINARY_EXAMPLES), _tie_split(np.greater)),
    Kink(kink_row('minimum(x, y) at ties', mg.minimum, ['minimum'],
                  lambda T, x, y: T.minimum(x, y), specs=broadcastable(2),
                  examples=BINARY_EXAMPLES), _tie_split(np.less)),
    Kink(kink_row('max(x, axis) at ties', mg.max, ['max'],
                  torch_reduce('amax'), specs=reduction_specs(),
                  examples=REDUCTION_EXAMPLES), _tie_share(np.max)),
    Kink(kink_row('min(x, axis) at ties', mg.min, ['min'],
                  torch_reduce('amin'), specs=reduction_specs(),
                  examples=REDUCTION_EXAMPLES), _tie_share(np.min)),
    Kink(kink_row('clip(x, lo, hi) at its bounds', mg.clip, ['clip'],
                  lambda T, x, lo, hi: T.clamp(x, lo, hi), specs=clip_specs(),
                  examples=CLIP_EXAMPLES, make=_clip_at_bounds_make),
         _clip_rule),
]


# ---------------------------------------------------------------- what must be covered

NOT_DIFFERENTIABLE = {'greater', 'greater_equal', 'less', 'less_equal',
                      'equal', 'not_equal', 'stop_gradient', 'one_hot',
                      'isnan', 'isfinite', 'logical_not'}

def public_differentiable_functions() -> dict:
    """name -> function, for every public function of micrograd (aliases
    included) that is an op function of micrograd.ops with a gradient."""
    out = {}
    for name in mg.__all__:
        obj = getattr(mg, name)
        if (callable(obj) and _in_ops(obj)
                and obj.__name__ not in NOT_DIFFERENTIABLE
                and not isinstance(obj, type)):
            out[name] = obj
    return out


OPERATOR_METHODS = ('__add__', '__radd__', '__sub__', '__rsub__', '__mul__',
                    '__rmul__', '__truediv__', '__rtruediv__', '__pow__',
                    '__rpow__', '__matmul__', '__rmatmul__', '__neg__',
                    '__abs__', '__getitem__', '__array_ufunc__')


def differentiable_value_methods() -> set:
    """The Value attributes that compute a differentiable op: operators,
    `.T`, `transpose`, `reshape` and the op functions installed as methods."""
    import inspect
    functions = set(public_differentiable_functions().values())
    names = set(OPERATOR_METHODS) | {'T', 'transpose', 'reshape'}
    for name in dir(mg.Value):
        if inspect.getattr_static(mg.Value, name) in functions:
            names.add(name)
    return names


def to_namespace(obj, convert):
    """Apply `convert` to every ndarray in params (tuples and lists too)."""
    if isinstance(obj, np.ndarray):
        return convert(obj)
    if isinstance(obj, tuple):
        return tuple(to_namespace(o, convert) for o in obj)
    if isinstance(obj, list):
        return [to_namespace(o, convert) for o in obj]
    if isinstance(obj, dict):
        return {k: to_namespace(v, convert) for k, v in obj.items()}
    return obj


BY_NAME = {row.name: row for row in ROWS}
