"""Native function pointers to a program's callback steps: the steps that run Python code (a
custom op's `evaluate`) from inside the native program, through ctypes callbacks."""

from __future__ import annotations

import ctypes
import threading


class Callbacks:
    """Native function pointers to the program's callback steps (a custom op's Python code).

    An exception in the callback cannot cross the native frames: it is kept (per thread: the
    thread that runs step 0 of the program runs the serial callback steps) and raised when the
    program returns."""

    def __init__(self, slots) -> None:
        self._keep = []  # the ctypes thunks live as long as the program
        self.pointers: dict[int, int] = {}
        self._pending = threading.local()
        for i, slot in enumerate(slots):
            if slot.kind == "callback":
                thunk = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * slot.index)(self._wrap(slot.callback))
                self._keep.append(thunk)
                self.pointers[i] = ctypes.cast(thunk, ctypes.c_void_p).value

    def _wrap(self, fn):
        def call(*addresses: int) -> None:
            if getattr(self._pending, "error", None) is not None:
                return  # a callback before failed: the results are lost anyway
            try:
                fn(list(addresses))
            except BaseException as e:  # noqa: BLE001 - raised again by raise_pending, on the caller's thread
                self._pending.error = e
        return call

    def raise_pending(self) -> None:
        err = getattr(self._pending, "error", None)
        if err is not None:
            self._pending.error = None
            raise err


__all__ = ["Callbacks"]
