"""The benchmark workloads of DESIGN.md section 4, one framework per process.

    python benchmarks/workloads.py w1 micrograd --rows 1500000 --steps 5
    python benchmarks/workloads.py w2 numpy
    python benchmarks/workloads.py w3 torch
    python benchmarks/workloads.py w1 micrograd --profile   # + per-op table

Prints one JSON line: seconds per step (median over the timed steps, after
one warm-up step), peak memory above the data (MiB), the part of it that is
the framework's libraries once imported (MiB), page faults per step (memory
the system had to hand over again), and the final loss.

The memory of the libraries is read by importing them (LIBRARIES) after the
data and before the framework's model is built; the peak above the data is
unchanged by it (the model would import them anyway), and the peak above
data and libraries, peak_mib - libraries_mib, is the step's own working
memory: its arrays, and what the framework's first step compiles or
initialises (Numba's code generator, XLA, a traced graph).
Frameworks: micrograd, numpy (hand-written forward and backward), torch,
jax (jit) and tensorflow (tf.function), the last three where installed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))

QUANTILES = np.linspace(0.1, 0.9, 9)


def rss_mib() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# what each framework imports (micrograd_fused: Numba, which imports
# llvmlite and SciPy); the same rule for every framework
LIBRARIES = {'micrograd': ['micrograd'], 'micrograd_whole': ['micrograd'],
             'micrograd_interpreted': ['micrograd'],
             'micrograd_rebuild': ['micrograd'],
             'micrograd_fused': ['micrograd', 'micrograd.fuse', 'numba'],
             'numpy': [], 'torch': ['torch'], 'jax': ['jax', 'jax.numpy'],
             'tensorflow': ['tensorflow']}


def import_libraries(framework: str) -> float:
    """Import the framework's libraries; the memory that took (MiB)."""
    before = rss_mib()
    for name in LIBRARIES.get(framework, []):
        __import__(name)
    return rss_mib() - before


# ---------------------------------------------------------------- W1

def w1_data(rows: int, features: int = 100):
    """X float32 (rows, 100) ~ N(0, 1); y = X @ w + (1 + |X0|) * t3 noise;
    X drawn in place, y in blocks, so that making the data costs no more
    memory than holding it (a block's temporary X would otherwise be the
    peak above the data of any framework that needs less)."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal(features) / 10).astype(np.float32)
    X = np.empty((rows, features), dtype=np.float32)
    y = np.empty(rows, dtype=np.float32)
    for start in range(0, rows, 100_000):
        stop = min(rows, start + 100_000)
        rng.standard_normal(dtype=np.float32, out=X[start:stop])
        noise = rng.standard_t(3, stop - start).astype(np.float32)
        y[start:stop] = X[start:stop] @ w + (1 + np.abs(X[start:stop, 0])) * noise
    return X, y


def w1_params():
    rng = np.random.default_rng(1)
    W1 = (rng.uniform(-1, 1, (100, 32)) / np.sqrt(100)).astype(np.float32)
    W2 = (rng.uniform(-1, 1, (32, 9)) / np.sqrt(32)).astype(np.float32)
    return [W1, np.zeros(32, np.float32), W2, np.zeros(9, np.float32)]


def adam_numpy(params, grads, state, lr=0.01, b1=0.9, b2=0.999, eps=1e-8):
    state['t'] = t = state.get('t', 0) + 1
    for i, (p, g) in enumerate(zip(params, grads)):
        m = state.setdefault(('m', i), np.zeros_like(p))
        v = state.setdefault(('v', i), np.zeros_like(p))
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        p -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)


def w1_micrograd(X, y, steps, chunk=int(os.environ.get('CHUNK', -1)),
                 fuse=False):
    import micrograd
    from micrograd import Value, losses
    from micrograd.optim import Adam
    W1, b1, W2, b2 = [Value(p, dtype='float32') for p in w1_params()]
    x = Value(shape=(None, 100), name='x', dtype='float32', requires_grad=False)
    t = Value(shape=(None,), name='y', dtype='float32', requires_grad=False)
    loss = losses.pinball((x @ W1 + b1).relu() @ W2 + b2, t, QUANTILES)
    opt = Adam(wrt=[W1, b1, W2, b2], learning_rate=0.01)
    if chunk:
        micrograd.chunked(loss, rows=None if chunk < 0 else chunk, workers=2,
                          fuse=fuse)
        # malloc keeps the chunks' memory: for the life of this process
        w1_micrograd.memory = micrograd.keep_freed_memory()
        w1_micrograd.memory.__enter__()
    else:
        micrograd.compile(loss, fuse=fuse)

    def step():
        loss.forward(x=X, y=y)
        loss.backward()
        opt.step()
        return float(loss.data)
    step.loss, step.feeds = loss, {'x': X, 'y': y}     # for --profile
    return step


def w1_micrograd_whole(X, y, steps):
    return w1_micrograd(X, y, steps, chunk=0)


def w1_micrograd_fused(X, y, steps):
    return w1_micrograd(X, y, steps, fuse=True)


def w1_numpy(X, y, steps):
    params, state = w1_params(), {}
    tau = QUANTILES.astype(np.float32)

    def step():
        W1, b1, W2, b2 = params
        h = X @ W1
        h += b1
        np.maximum(h, 0, out=h)
        pred = h @ W2
        pred += b2
        r = y[:, None] - pred
        loss = np.mean(np.maximum(tau * r, (tau - 1) * r))
        # d loss / d pred = -(tau - (r < 0)) / r.size
        g = ((r < 0) - tau).astype(np.float32) / np.float32(r.size)
        gW2, gb2 = h.T @ g, g.sum(0)
        gh = g @ W2.T
        gh *= h > 0
        gW1, gb1 = X.T @ gh, gh.sum(0)
        adam_numpy(params, [gW1, gb1, gW2, gb2], state)
        return float(loss)
    return step


def w1_torch(X, y, steps):
    import torch
    torch.set_num_threads(int(os.environ.get('THREADS', '2')))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    params = [torch.tensor(p, requires_grad=True) for p in w1_params()]
    opt = torch.optim.Adam(params, lr=0.01)
    tau = torch.tensor(QUANTILES, dtype=torch.float32)

    def step():
        W1, b1, W2, b2 = params
        opt.zero_grad()
        r = yt[:, None] - (torch.relu(Xt @ W1 + b1) @ W2 + b2)
        loss = torch.mean(tau * torch.relu(r) + (1 - tau) * torch.relu(-r))
        loss.backward()
        opt.step()
        return loss.item()
    return step


def tensorflow(threads):
    """TensorFlow, with `threads` threads inside an op and one between."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return tf


def jax_float64():
    """JAX with float64 enabled (W2 and W3 run in float64, as NumPy)."""
    import jax
    import jax.numpy  # noqa: F401  (jax.numpy as an attribute)
    jax.config.update('jax_enable_x64', True)
    return jax


def adam_update(sqrt, params, grads, state, t, lr=0.01, b1=0.9, b2=0.999,
                eps=1e-8):
    """The Adam step of adam_numpy, written functionally (JAX, TensorFlow)."""
    m, v = state
    m = [b1 * mi + (1 - b1) * g for mi, g in zip(m, grads)]
    v = [b2 * vi + (1 - b2) * g * g for vi, g in zip(v, grads)]
    params = [p - lr * (mi / (1 - b1 ** t)) / (sqrt(vi / (1 - b2 ** t)) + eps)
              for p, mi, vi in zip(params, m, v)]
    return params, (m, v)


def w1_jax(X, y, steps):
    import jax
    import jax.numpy as jnp
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    tau = jnp.asarray(QUANTILES, dtype=jnp.float32)

    def loss_fn(params):
        W1, b1, W2, b2 = params
        r = yj[:, None] - (jax.nn.relu(Xj @ W1 + b1) @ W2 + b2)
        return jnp.mean(tau * jax.nn.relu(r) + (1 - tau) * jax.nn.relu(-r))

    @jax.jit
    def update(params, state, t):
        loss, grads = jax.value_and_grad(loss_fn)(params)
        params, state = adam_update(jnp.sqrt, params, grads, state, t)
        return params, state, loss

    params = [jnp.asarray(p) for p in w1_params()]
    box = [params, ([jnp.zeros_like(p) for p in params],
                    [jnp.zeros_like(p) for p in params]), 0]

    def step():
        box[2] += 1
        box[0], box[1], loss = update(box[0], box[1], float(box[2]))
        return float(loss)
    return step


def w1_tensorflow(X, y, steps):
    tf = tensorflow(int(os.environ.get('THREADS', '2')))
    Xt, yt = tf.constant(X), tf.constant(y)
    tau = tf.constant(QUANTILES, dtype=tf.float32)
    params = [tf.Variable(p) for p in w1_params()]
    slots = [[tf.Variable(tf.zeros_like(p)) for p in params] for _ in range(2)]
    t = tf.Variable(0.0)

    @tf.function
    def update():
        W1, b1, W2, b2 = params
        with tf.GradientTape() as tape:
            r = yt[:, None] - (tf.nn.relu(Xt @ W1 + b1) @ W2 + b2)
            loss = tf.reduce_mean(tau * tf.nn.relu(r)
                                  + (1 - tau) * tf.nn.relu(-r))
        grads = tape.gradient(loss, params)
        t.assign_add(1.0)
        state = [[s.read_value() for s in ss] for ss in slots]
        new, (m, v) = adam_update(tf.sqrt, params, grads, state, t)
        for var, value in zip(params + slots[0] + slots[1], new + m + v):
            var.assign(value)
        return loss

    def step():
        return float(update())
    return step


# ---------------------------------------------------------------- W2

W2_DTYPE = ['float64']          # --dtype: W2's data and parameters


def moons():
    from micrograd.demo import make_moons
    return tuple(a.astype(W2_DTYPE[0]) for a in make_moons(100, 0.1, 0))


def w2_params():
    rng = np.random.default_rng(0)
    sizes = [2, 16, 16, 1]
    return [p.astype(W2_DTYPE[0]) for i in range(3) for p in (
        rng.uniform(-1, 1, (sizes[i], sizes[i + 1])) / np.sqrt(sizes[i]),
        np.zeros(sizes[i + 1]))]


def w2_micrograd(steps, compiled=True, fuse=False):
    import micrograd
    from micrograd import Value, losses
    from micrograd.optim import SGD
    X, y = moons()
    ps = [Value(p, dtype=W2_DTYPE[0]) for p in w2_params()]
    h = Value(X, requires_grad=False, dtype=W2_DTYPE[0])
    for i in range(3):
        h = h @ ps[2 * i] + ps[2 * i + 1]
        h = h.relu() if i < 2 else h.reshape(-1)
    loss = losses.hinge(h, y) + 1e-4 * sum((p * p).sum() for p in ps[::2])
    opt = SGD(wrt=ps, learning_rate=0.5)
    if compiled:
        micrograd.compile(loss, fuse=fuse)

    def step():         # forward, backward, opt.step(): one call if fused
        return opt.minimize(loss)
    step.loss, step.feeds, step.optimiser = loss, {}, opt
    return step


def w2_micrograd_fused(steps):
    return w2_micrograd(steps, fuse=True)


def w2_micrograd_interpreted(steps):
    return w2_micrograd(steps, compiled=False)


def w2_numpy(steps):
    X, y = moons()
    ps = w2_params()

    def step():
        W1, b1, W2, b2, W3, b3 = ps
        h1 = np.maximum(X @ W1 + b1, 0)
        h2 = np.maximum(h1 @ W2 + b2, 0)
        s = (h2 @ W3 + b3).reshape(-1)
        margin = 1 - y * s
        loss = np.mean(np.maximum(margin, 0)) + 1e-4 * sum(
            (W * W).sum() for W in (W1, W2, W3))
        gs = (-(y * (margin > 0)) / len(y)).reshape(-1, 1)
        gW3, gb3 = h2.T @ gs + 2e-4 * W3, gs.sum(0)
        g2 = (gs @ W3.T) * (h2 > 0)
        gW2, gb2 = h1.T @ g2 + 2e-4 * W2, g2.sum(0)
        g1 = (g2 @ W2.T) * (h1 > 0)
        gW1, gb1 = X.T @ g1 + 2e-4 * W1, g1.sum(0)
        for p, g in zip(ps, (gW1, gb1, gW2, gb2, gW3, gb3)):
            p -= 0.5 * g
        return float(loss)
    return step


def w2_torch(steps):
    import torch
    torch.set_num_threads(1)
    X, y = moons()
    Xt, yt = torch.tensor(X), torch.tensor(y)
    ps = [torch.tensor(p, requires_grad=True) for p in w2_params()]
    opt = torch.optim.SGD(ps, lr=0.5)

    def step():
        opt.zero_grad()
        h = Xt
        for i in range(3):
            h = h @ ps[2 * i] + ps[2 * i + 1]
            h = torch.relu(h) if i < 2 else h.reshape(-1)
        loss = torch.relu(1 - yt * h).mean() + 1e-4 * sum(
            (p * p).sum() for p in ps[::2])
        loss.backward()
        opt.step()
        return loss.item()
    return step


def w2_jax(steps):
    jax = jax_float64()
    jnp = jax.numpy
    X, y = (jnp.asarray(a) for a in moons())

    def loss_fn(ps):
        h = X
        for i in range(3):
            h = h @ ps[2 * i] + ps[2 * i + 1]
            h = jax.nn.relu(h) if i < 2 else h.reshape(-1)
        return jnp.mean(jax.nn.relu(1 - y * h)) + 1e-4 * sum(
            (p * p).sum() for p in ps[::2])

    @jax.jit
    def update(ps):
        loss, grads = jax.value_and_grad(loss_fn)(ps)
        return [p - 0.5 * g for p, g in zip(ps, grads)], loss

    box = [[jnp.asarray(p) for p in w2_params()]]

    def step():
        box[0], loss = update(box[0])
        return float(loss)
    return step


def w2_tensorflow(steps):
    tf = tensorflow(1)
    X, y = (tf.constant(a) for a in moons())
    ps = [tf.Variable(p) for p in w2_params()]

    @tf.function
    def update():
        with tf.GradientTape() as tape:
            h = X
            for i in range(3):
                h = h @ ps[2 * i] + ps[2 * i + 1]
                h = tf.nn.relu(h) if i < 2 else tf.reshape(h, [-1])
            loss = tf.reduce_mean(tf.nn.relu(1 - y * h)) + 1e-4 * tf.add_n(
                [tf.reduce_sum(p * p) for p in ps[::2]])
        for p, g in zip(ps, tape.gradient(loss, ps)):
            p.assign_sub(0.5 * g)
        return loss

    def step():
        return float(update())
    return step


# ---------------------------------------------------------------- W3

W3_OPS = 500 * 3 + 1        # mul, add, tanh per round, then sum


def w3_micrograd(steps, rebuild=False, compiled=True, fuse=False):
    import micrograd
    from micrograd import Value
    x = Value(np.linspace(-1, 1, 16))

    def build():
        y = x
        for _ in range(500):
            y = (y * 1.0001 + 0.0001).tanh()
        return y.sum()
    loss = build()
    if compiled and not rebuild:
        micrograd.compile(loss, fuse=fuse)

    def step():
        nonlocal loss
        if rebuild:
            loss = build()
        else:
            loss.forward()
        loss.backward()
        return float(loss.data)
    step.loss, step.feeds = loss, {}
    return step


def w3_micrograd_fused(steps):
    return w3_micrograd(steps, fuse=True)


def w3_micrograd_rebuild(steps):
    return w3_micrograd(steps, rebuild=True)


def w3_micrograd_interpreted(steps):
    return w3_micrograd(steps, compiled=False)


def w3_numpy(steps):
    x = np.linspace(-1, 1, 16)

    def step():
        outs, y = [], x
        for _ in range(500):
            y = np.tanh(y * 1.0001 + 0.0001)
            outs.append(y)
        g = np.ones(16)
        for out in reversed(outs):
            g = g * (1 - out * out) * 1.0001
        return float(outs[-1].sum())
    return step


def w3_torch(steps):
    import torch
    torch.set_num_threads(1)
    x = torch.linspace(-1, 1, 16, dtype=torch.float64, requires_grad=True)

    def step():
        y = x
        for _ in range(500):
            y = torch.tanh(y * 1.0001 + 0.0001)
        loss = y.sum()
        x.grad = None
        loss.backward()
        return loss.item()
    return step


def w3_jax(steps):
    jax = jax_float64()
    jnp = jax.numpy

    def f(x):
        y = x
        for _ in range(500):
            y = jnp.tanh(y * 1.0001 + 0.0001)
        return y.sum()
    update = jax.jit(jax.value_and_grad(f))
    x = jnp.linspace(-1, 1, 16)

    def step():
        loss, grad = update(x)
        grad.block_until_ready()
        return float(loss)
    return step


def w3_tensorflow(steps):
    tf = tensorflow(1)
    x = tf.Variable(tf.linspace(tf.constant(-1.0, tf.float64), 1.0, 16))

    @tf.function
    def update():
        with tf.GradientTape() as tape:
            y = x
            for _ in range(500):
                y = tf.tanh(y * 1.0001 + 0.0001)
            loss = tf.reduce_sum(y)
        return loss, tape.gradient(loss, x)

    def step():
        loss, grad = update()
        return float(loss)
    return step


# ---------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('workload', choices=['w1', 'w2', 'w3'])
    p.add_argument('framework')
    p.add_argument('--rows', type=int, default=1_500_000)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--dtype', choices=['float32', 'float64'],
                   default='float64', help="W2's data and parameters")
    p.add_argument('--profile', action='store_true',
                   help='micrograd: also print the per-op time table')
    args = p.parse_args(argv)
    W2_DTYPE[0] = args.dtype
    make = globals().get(f'{args.workload}_{args.framework}')
    if make is None:
        sys.exit(f'no framework {args.framework!r} for {args.workload}')
    base = rss_mib()
    if args.workload == 'w1':
        X, y = w1_data(args.rows)
        base = rss_mib()
    libraries = import_libraries(args.framework)
    step = make(X, y, args.steps) if args.workload == 'w1' else \
        make(args.steps)
    step()                                    # warm-up
    times = []
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(args.steps):
        start = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - start)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    per_step = statistics.median(times)
    if args.workload == 'w3':
        per_step /= W3_OPS                    # per op
    result = json.dumps({'workload': args.workload,
                         'framework': args.framework, 'seconds': per_step,
                         'peak_mib': peak_mib() - base,
                         'libraries_mib': libraries,
                         'faults': faults / args.steps, 'loss': loss})
    if args.profile and hasattr(step, 'loss'):
        import micrograd
        micrograd.profile(step.loss, **step.feeds)
    print(result)


if __name__ == '__main__':
    main()
