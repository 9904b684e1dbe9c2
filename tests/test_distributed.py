"""Data-parallel training on a dask.distributed LocalCluster (2 worker
processes, 1 thread each, loopback only): the same numbers as `chunked` on
one machine, a fixed task graph per step, a killed worker, data larger than
a worker's memory, Parquet input, minibatches of partitions."""
import functools
import os
import resource
import sys
import threading
import types

import numpy as np
import pytest

distributed = pytest.importorskip('distributed')
da = pytest.importorskip('dask.array')

from micrograd import Value, chunked, losses, nn                 # noqa: E402
from micrograd.checks import FeedError                            # noqa: E402
from micrograd.distributed import (batches, data_parallel, release,  # noqa
                                   stats, _release_reader_memory)
from micrograd.optim import Adam                                  # noqa: E402
from micrograd.train import fit                                   # noqa: E402

MEMORY_LIMIT = 320 * 2**20           # per worker


@pytest.fixture(scope='module')
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host='127.0.0.1',
        dashboard_address=':0', memory_limit=MEMORY_LIMIT)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def quantile_graph(features=5, hidden=8, dtype='float64'):
    """The graph `build` makes: a small quantile MLP (module level, so that
    functools.partial of it pickles by reference)."""
    model = nn.TensorMLP(features, [hidden, 3], rng=0, dtype=dtype)
    x = Value(shape=(None, features), name='x', requires_grad=False,
              dtype=dtype)
    y = Value(shape=(None,), name='y', requires_grad=False, dtype=dtype)
    return losses.pinball(model(x), y, (0.1, 0.5, 0.9)), model


def rows(n, features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features))
    return X, X @ rng.standard_normal(features) + rng.standard_t(3, n)


def reference(build, X, y, steps, lr=0.01):
    """Losses and parameters per step of `chunked` on all rows in memory."""
    loss, model = build()
    chunked(loss, rows=97)
    opt = Adam(model.parameters(), learning_rate=lr)
    out = []
    for _ in range(steps):
        loss.forward(x=X, y=y)
        opt.step()
        out.append((float(loss.data), [p.data.copy()
                                       for p in model.parameters()]))
    return out


def assert_same(loss, model, expected, rtol):
    assert float(loss.data) == pytest.approx(expected[0], rel=rtol)
    for p, q in zip(model.parameters(), expected[1]):
        np.testing.assert_allclose(p.data, q, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize('dtype,rtol', [('float64', 1e-6), ('float32', 1e-4)])
def test_same_numbers_as_one_machine_every_step(client, dtype, rtol):
    build = functools.partial(quantile_graph, dtype=dtype)
    X, y = rows(1003)
    X, y = X.astype(dtype), y.astype(dtype)
    expected = reference(build, X, y, 6)
    data = {'x': da.from_array(X, chunks=(150, 5)),
            'y': da.from_array(y, chunks=150)}        # 7 partitions, uneven
    loss, model = data_parallel(build, data, client, rows=64)
    opt = Adam(model.parameters(), learning_rate=0.01)
    for step in range(6):
        loss.forward()
        opt.step()
        assert_same(loss, model, expected[step], rtol)
    assert stats(loss)['persisted'] is True
    release(loss)


def test_a_step_has_the_same_tasks_at_step_1_and_step_10(client):
    X, y = rows(800)
    loss, model = data_parallel(quantile_graph, {'x': X, 'y': y}, client,
                                partitions=5)
    opt = Adam(model.parameters(), learning_rate=0.01)
    counts = []
    for step in range(10):
        with distributed.get_task_stream(client) as ts:
            loss.forward()
        opt.step()
        counts.append(len(ts.data))
    # one task per worker for all its partitions, then one sum: nothing
    # grows, and the tasks do not grow with the partitions either
    assert counts == [2 + 1] * 10
    assert stats(loss)['tasks'] == 3
    assert stats(loss)['partitions'] == 5
    release(loss)


def test_a_minibatch_runs_only_on_the_workers_holding_its_partitions(client):
    X, y = rows(800)
    expected = reference(quantile_graph, X[:200], y[:200], 1)
    loss, model = data_parallel(quantile_graph, {'x': X, 'y': y}, client,
                                partitions=8)
    with distributed.get_task_stream(client) as ts:
        loss.forward(partitions=[0, 1])     # both on the first worker
    assert len(ts.data) == 1
    assert stats(loss)['tasks'] == 1
    assert float(loss.data) == pytest.approx(expected[0][0], rel=1e-6)
    release(loss)


def test_a_killed_worker_costs_a_retry_not_the_run(client):
    X, y = rows(1000)
    expected = reference(quantile_graph, X, y, 6)
    loss, model = data_parallel(quantile_graph, {'x': X, 'y': y}, client,
                                partitions=6)
    opt = Adam(model.parameters(), learning_rate=0.01)
    for step in range(6):
        if step == 2:               # between steps
            kill(client, 0)
        if step == 4:               # during a step
            client.wait_for_workers(2, timeout=180)  # the nanny's new one
            timer = threading.Timer(0.05, kill, (client, 1))
            timer.start()
        loss.forward()
        opt.step()
        assert_same(loss, model, expected[step], 1e-6)
    timer.join()
    client.wait_for_workers(2, timeout=180)
    release(loss)


def kill(client, which):
    """End the process of a worker at once (its nanny starts a new one)."""
    victim = sorted(client.scheduler_info()['workers'])[which]
    try:
        client.run(os._exit, 1, workers=[victim])
    except Exception:           # the worker never answers: it is gone
        pass


def linear_graph():
    w = Value(np.zeros(20, np.float32), name=None)
    x = Value(shape=(None, 20), name='x', requires_grad=False, dtype='float32')
    y = Value(shape=(None,), name='y', requires_grad=False, dtype='float32')
    return ((x @ w - y) ** 2).mean(), w


def _peak_rss() -> int:
    """This process's peak resident memory, in bytes. VmHWM, not ru_maxrss:
    a spawned worker's ru_maxrss starts at its parent's size at the fork."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_data_larger_than_a_worker_memory_is_read_from_source(client):
    # 378 MB of float32 rows, made again from the source at each step, while
    # a worker may hold 320 MiB: X is all 0.5, y = row index % 7
    n = 4_500_000
    X = da.full((n, 20), 0.5, dtype=np.float32, chunks=(250_000, 20))
    y = (da.arange(n, chunks=250_000) % 7).astype(np.float32)
    assert X.nbytes + y.nbytes > MEMORY_LIMIT
    loss, w = data_parallel(linear_graph, {'x': X, 'y': y}, client)
    for _ in range(2):
        loss.forward()
    assert stats(loss)['persisted'] is False
    assert stats(loss)['partitions'] == 18
    # at w = 0 the loss is mean(y^2), the gradient -2 * 0.5 * mean(y)
    counts = np.bincount(np.arange(n) % 7)
    mean_y = (counts * np.arange(7)).sum() / n
    assert float(loss.data) == pytest.approx(
        (counts * np.arange(7) ** 2).sum() / n, rel=1e-6)
    np.testing.assert_allclose(w.grad, np.full(20, -mean_y), rtol=1e-6)
    peaks = client.run(_peak_rss)
    assert max(peaks.values()) < MEMORY_LIMIT
    release(loss)


def test_parquet_input(client, tmp_path):
    pd = pytest.importorskip('pandas')
    dd = pytest.importorskip('dask.dataframe')
    X, y = rows(900)
    names = [f'f{i}' for i in range(5)]
    frame = pd.DataFrame(X, columns=names).assign(target=y)
    folder = tmp_path / 'rows'
    folder.mkdir()
    for i, start in enumerate(range(0, 900, 250)):
        frame.iloc[start:start + 250].to_parquet(folder / f'part-{i}.parquet')
    expected = reference(quantile_graph, X, y, 3)
    ddf = dd.read_parquet(str(folder))
    ran, run = [], client.run
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(client, 'run', lambda f, *a, **k: (ran.append(f),
                                                         run(f, *a, **k))[1])
        loss, model = data_parallel(quantile_graph, {'x': ddf[names],
                                                     'y': ddf['target']},
                                    client)
    assert _release_reader_memory in ran    # Arrow's pool, once loaded
    opt = Adam(model.parameters(), learning_rate=0.01)
    for step in range(3):
        loss.forward()
        opt.step()
        assert_same(loss, model, expected[step], 1e-6)
    assert stats(loss)['partitions'] == 4
    release(loss)


def test_the_readers_memory_is_handed_back(monkeypatch):
    released = []

    class Pool:
        def release_unused(self):
            released.append(True)
    monkeypatch.setitem(sys.modules, 'pyarrow', types.SimpleNamespace(
        default_memory_pool=Pool))
    _release_reader_memory()
    assert released == [True]
    monkeypatch.delitem(sys.modules, 'pyarrow')
    _release_reader_memory()                # no Arrow in this process
    assert released == [True]


def test_minibatches_of_partitions_are_seeded(client):
    X, y = rows(600)
    runs = []
    for seed in (3, 3, 4):
        loss, model = data_parallel(quantile_graph, {'x': X, 'y': y}, client,
                                    partitions=6)
        history = fit(loss, Adam(model.parameters(), learning_rate=0.01),
                      batches(loss, partitions=2, seed=seed), epochs=2,
                      progress=False)
        assert history.steps == 6
        runs.append(history.loss)
        release(loss)
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_batches_visit_every_partition_each_epoch():
    from micrograd.distributed import Batches
    b = Batches(7, 3, True, seed=0)
    for _ in range(3):
        seen = [i for feeds in b for i in feeds['partitions']]
        assert sorted(seen) == list(range(7)) and len(b) == 3


def test_bad_input_is_named(client):
    X, y = rows(100)
    with pytest.raises(FeedError, match=r"missing \['y'\]"):
        data_parallel(quantile_graph, {'x': X}, client)
    with pytest.raises(ValueError, match='different numbers of partitions'):
        data_parallel(quantile_graph, {
            'x': da.from_array(X, chunks=(50, 5)),
            'y': da.from_array(y, chunks=20)}, client)
    loss, _ = data_parallel(quantile_graph, {'x': X, 'y': y}, client)
    with pytest.raises(FeedError, match='lives on the cluster'):
        loss.forward(x=X)
    with pytest.raises(FeedError, match='partitions must be'):
        loss.forward(partitions=[99])
    release(loss)
    loss, model = data_parallel(quantile_graph, {'x': X, 'y': y}, client)
    model.parameters()[0].requires_grad = False
    with pytest.raises(ValueError, match='changed after data_parallel'):
        loss.forward()
    release(loss)


def demo(*args, cwd, subprocess=False):
    """The demo's stdout, in this process or (to start its own cluster)
    in a new one."""
    import contextlib
    import io
    import sys
    args = ['quantile', *map(str, args)]
    if subprocess:
        import subprocess
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        done = subprocess.run([sys.executable, '-m', 'micrograd.demo', *args],
                              cwd=cwd, env=dict(os.environ, PYTHONPATH=root),
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        return done.stdout
    from micrograd.demo import main
    old, out, err = os.getcwd(), io.StringIO(), io.StringIO()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            assert main(args) == 0, err.getvalue()
    finally:
        os.chdir(old)
    return out.getvalue()


def table(stdout):
    """The held-out table: the lines after 'held-out rows'."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if 'held-out rows' in line)
    return lines[start:start + 11]


COMMON = ['--steps', 8, '--validate-every', 4, '--dtype', 'float64',
          '--hidden', 8, '--rows', 3000, '--features', 4]


def test_the_demo_on_a_scheduler_prints_the_same_table(client, tmp_path):
    alone = demo(*COMMON, '--out', 'a', cwd=tmp_path)
    on_cluster = demo(*COMMON, '--out', 'b', '--dask',
                      client.scheduler.address, cwd=tmp_path)
    assert 'on 2 Dask workers, 4 partitions' in on_cluster
    assert table(on_cluster) == table(alone)
    assert (tmp_path / 'b' / 'quantile_model.npz').exists()


def test_the_demo_reads_parquet_rows_on_the_cluster(client, tmp_path):
    pd = pytest.importorskip('pandas')
    X, y = rows(3000, features=4, seed=2)
    folder = tmp_path / 'rows'
    folder.mkdir()
    frame = pd.DataFrame(X, columns=['a', 'b', 'c', 'd']).assign(t=y)
    for i, start in enumerate(range(0, 3000, 1000)):
        frame.iloc[start:start + 1000].to_parquet(folder / f'{i}.parquet')
    alone = demo(*COMMON, '--parquet', folder, '--target', 't', '--out', 'a',
                 cwd=tmp_path)
    assert 'coverage' in alone and len(table(alone)) == 11
    # the fitted rows stay on the workers; the table is printed the same way
    parquet = demo(*COMMON, '--parquet', folder, '--target', 't', '--out',
                   'c', '--dask', client.scheduler.address, cwd=tmp_path)
    assert 'on 2 Dask workers, 3 partitions' in parquet
    assert len(table(parquet)) == 11 and 'coverage' in table(parquet)[1]


def test_the_demo_starts_a_local_cluster(tmp_path):
    out = demo('--steps', 3, '--rows', 500, '--features', 3, '--hidden', 4,
               '--dask', 'local:2', '--out', 'b', cwd=tmp_path,
               subprocess=True)
    assert 'on 2 Dask workers, 4 partitions' in out
    assert len(table(out)) == 11 and 'coverage' in table(out)[1]


def _faults() -> int:
    """This process's minor page faults so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def test_a_worker_reuses_the_memory_of_its_chunks(client):
    # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536: freed
    # arrays go back to the system, and each chunk's arrays (here 1 MiB
    # each, 13 chunks a partition) would be faulted in again, page by page
    X, y = rows(400_000)
    loss, model = data_parallel(quantile_graph, {'x': X, 'y': y}, client,
                                partitions=2)
    loss.forward()
    before = client.run(_faults)
    for _ in range(3):
        loss.forward()
    after = client.run(_faults)
    per_step = max(after[w] - before[w] for w in before) / 3
    chunk_pages = 2**20 // 4096
    # a chunk's arrays are faulted in at most once a step, not 13 times
    assert per_step < 4 * chunk_pages, per_step
    release(loss)


def test_a_partition_that_arrived_unaligned_is_aligned_once():
    # a block received from another worker can start at an odd byte of its
    # message; matmul would copy it before every product
    import pandas as pd
    from micrograd.distributed import _partition
    X, y = rows(50)
    buffer = bytearray(X.astype(np.float32).nbytes + 1)
    odd = np.frombuffer(buffer, np.float32, offset=1).reshape(50, 5)
    odd[...] = X
    assert not odd.flags.aligned
    for block in (odd, pd.DataFrame(odd, copy=False)):   # array or frame
        part = _partition(['x', 'y'], [np.dtype('float32')] * 2, block,
                          pd.Series(y.astype(np.float32)))
        assert part['x'].flags.aligned and part['y'].flags.aligned
        np.testing.assert_array_equal(part['x'], X.astype(np.float32))
        assert part['x'].dtype == part['y'].dtype == np.float32


def test_persisted_partitions_are_spread_evenly(client):
    X, y = rows(8000)
    for partitions in (8, 7):
        loss, model = data_parallel(quantile_graph, {'x': X, 'y': y}, client,
                                    partitions=partitions)
        plan = loss.executor
        held = client.who_has(plan.parts)
        counts = sorted(sum(1 for f in plan.parts if w in held[f.key])
                        for w in client.scheduler_info()['workers'])
        assert counts == [partitions // 2, partitions - partitions // 2]
        # neighbours share a worker: the first sums need no transfer
        first = [held[f.key][0] for f in plan.parts]
        assert first == sorted(first)
        release(loss)


def test_large_parameters_are_scattered_once_not_sent_in_each_task(
        client, monkeypatch):
    import micrograd.distributed as md
    X, y = rows(600)
    expected = reference(quantile_graph, X, y, 3)
    loss, model = data_parallel(quantile_graph, {'x': X, 'y': y}, client,
                                partitions=4)
    opt = Adam(model.parameters(), learning_rate=0.01)
    size = sum(p.data.nbytes for p in model.parameters())
    loss.forward()
    # in the tasks: one per worker (4 partitions, 2 workers)
    assert stats(loss)['parameter bytes sent'] == 2 * size
    monkeypatch.setattr(md, 'EMBED_BYTES', 0)
    loss, model = data_parallel(quantile_graph, {'x': X, 'y': y}, client,
                                partitions=4)
    opt = Adam(model.parameters(), learning_rate=0.01)
    for step in range(3):
        loss.forward()
        opt.step()
        assert_same(loss, model, expected[step], 1e-6)
    assert stats(loss)['parameter bytes sent'] == 2 * size     # one a worker
    release(loss)
