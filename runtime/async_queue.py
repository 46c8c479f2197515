"""AsyncInferQueue: a pool of infer requests that runs jobs as requests become free, as
OpenVINO's `AsyncInferQueue` does. Each job is `start_async(inputs, userdata)`; the queue's
callback runs as `callback(request, userdata)` on the request's thread once the job's results
are in. An exception in a callback does not stop the queue: it is kept and raised by the next
`wait_all()` (after every job has finished)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from dialects.errors import InputError
from runtime.compiled import InferRequest


class AsyncInferQueue:
    def __init__(self, compiled: Any, jobs: int = 0):
        if jobs < 0:
            raise InputError(f"AsyncInferQueue: jobs must be 0 (the optimal count) or more, not {jobs}")
        if jobs == 0:
            get = getattr(compiled, "get_property", None)
            jobs = int(get("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) if get is not None else 1
        self._requests = [compiled.create_infer_request() for _ in range(jobs)]
        self._idle = list(range(jobs))
        self._cond = threading.Condition()
        self._callback: Any = None
        self._errors: list[BaseException] = []
        for i, r in enumerate(self._requests):
            r._on_done = lambda i=i: self._release(i)
            r.set_callback(self._run_callback)

    def _run_callback(self, request: InferRequest, userdata: Any) -> None:
        cb = self._callback
        if cb is None:
            return
        try:
            cb(request, userdata)
        except BaseException as e:  # kept for wait_all; the queue goes on
            with self._cond:
                self._errors.append(e)

    def _release(self, i: int) -> None:
        with self._cond:
            self._idle.append(i)
            self._cond.notify_all()

    def set_callback(self, callback: Any) -> None:
        if callback is not None and not callable(callback):
            raise InputError(f"set_callback needs a callable, not {type(callback).__name__}")
        self._callback = callback

    def get_idle_request_id(self) -> int:
        """The id of a free request, waiting for one if all are busy."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._idle))
            return self._idle[0]

    def is_ready(self) -> bool:
        """True when a request is free (start_async would not wait)."""
        with self._cond:
            return bool(self._idle)

    def start_async(self, inputs: Any = None, userdata: Any = None) -> None:
        """Run one job on the first free request (waiting for one if all are busy)."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._idle))
            i = self._idle.pop(0)
        req = self._requests[i]
        try:
            req.wait()  # joins the thread of its previous job
        except BaseException as e:  # that job's error: wait_all reports it
            with self._cond:
                self._errors.append(e)
        try:
            req.start_async(inputs, userdata)
        except BaseException:
            self._release(i)
            raise

    def wait_all(self) -> None:
        """Wait until every job has finished; raise the first inference or callback error."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._idle) == len(self._requests))
        first: BaseException | None = None
        for r in self._requests:
            try:
                r.wait()
            except BaseException as e:
                first = first or e
        with self._cond:
            errors, self._errors = self._errors, []
        first = first or (errors[0] if errors else None)
        if first is not None:
            raise first

    @property
    def userdata(self) -> list[Any]:
        return [r.userdata for r in self._requests]

    def __getitem__(self, i: int) -> InferRequest:
        return self._requests[i]

    def __len__(self) -> int:
        return len(self._requests)

    def __iter__(self) -> Iterator[InferRequest]:
        return iter(self._requests)


__all__ = ["AsyncInferQueue"]
