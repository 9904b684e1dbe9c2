"""The executor interface: what runs a root's forward() and backward()
instead of the engine's interpreted walk (see `Executor`), and `no_grad`.

    loss.executor = SomeExecutor(loss)   # micrograd.compile / chunked do this
    loss.forward(**feeds); loss.backward()   # used the same way as ever
    loss.executor = None                 # back to the interpreted walk
"""
from __future__ import annotations

import threading


class Executor:
    """What runs a root's `forward()` and `backward()` instead of the
    interpreted walk: `root.executor = ex` (`compile`, `chunked` and
    `profile` make them). The engine calls it under the root's lock, with
    the requires_grad flags up to date (`prepare(root)` returns their
    `epoch`, which the executor keeps; once a leaf's flag changes the
    engine replaces it by what its `rebuild()` returns):

    `forward(feeds, grads)` feeds the named leaves (`checks.check_feeds`,
    `checks.feed`) and computes the root's data. `grads` says whether a
    backward is expected (the root needs a gradient and `no_grad` is off):
    an executor that gets the gradients more cheaply together with the
    value (chunked) may fill them now; returns whether it did.
    `backward(seed)` fills `.grad` of the leaves and the root from `seed`
    (None: ones), for the data of the last forward.
    `source()`: the code it runs, for an executor that writes code.
    An executor's error is retraced on the interpreted walk, which names
    the op; with `detect_anomaly` on, the interpreted walk runs instead.
    """
    epoch = -1

    def forward(self, feeds: dict, grads: bool) -> bool:
        raise NotImplementedError

    def backward(self, seed) -> None:
        raise NotImplementedError

    def rebuild(self) -> Executor:
        return self

    def source(self) -> str | None:
        return None


class no_grad:
    """`with micrograd.no_grad(): loss.forward(**feeds)`: the value only.
    Tells the executors that no backward follows (in this thread): a
    chunked loss then computes no gradients. A later `backward()` still
    works (a chunked one then runs its forward again)."""
    _state = threading.local()

    def __enter__(self):
        self.saved = getattr(no_grad._state, 'on', False)
        no_grad._state.on = True

    def __exit__(self, *exc):
        no_grad._state.on = self.saved

    @staticmethod
    def active() -> bool:
        return getattr(no_grad._state, 'on', False)


class step_follows:
    """`with step_follows(optimiser, root) as then: root.forward(**feeds)`:
    tells root's executor (in this thread) that `root.backward()` and
    `optimiser.step()` follow this forward (`Optimiser.minimize`). One that
    can run all three at once (a small fused graph: fuse.py) does, and sets
    `then.done`; the caller then skips the backward and the step."""
    _state = threading.local()

    def __init__(self, optimiser, root):
        self.optimiser, self.root, self.done = optimiser, root, False

    def __enter__(self):
        self.saved = getattr(step_follows._state, 'then', None)
        step_follows._state.then = self
        return self

    def __exit__(self, *exc):
        step_follows._state.then = self.saved

    @staticmethod
    def current() -> step_follows | None:
        return getattr(step_follows._state, 'then', None)
