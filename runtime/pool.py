"""The native worker pool: the threads that run a graph function together with the caller.

Workers are native threads started once per process (pthread_create from JIT-compiled code),
so no Python runs between the threads of one inference: `run(fn, table, n, barrier)` is one
ctypes call (which releases the GIL) that publishes the job and runs thread 0's share; workers
1..n-1 run theirs, and the call returns once each of them is back from the graph function (so
that the caller may unload its code).

A job is published like a seqlock: the generation word is made odd, the job's fields are
written, and the generation is made even again; a worker that read the fields while they
changed reads them again. Idle workers spin briefly (back-to-back inferences find them awake)
and then sleep on a futex of the generation word, which the caller wakes only if somebody
sleeps. After fork() the child has no workers: the pool restarts in the new process."""

from __future__ import annotations

import ctypes
import os
import threading

SPINS = 20000  # pause-loop iterations (~100-200 us) before a worker sleeps

_IR = r"""
@gen = internal global i32 0
@sleepers = internal global i32 0
@job_fn = internal global ptr null
@job_table = internal global ptr null
@job_n = internal global i64 0
@job_bar = internal global ptr null
@finished = internal global i64 0   ; workers back from the current job's function

declare i32 @pthread_create(ptr, ptr, ptr, ptr)
declare i64 @syscall(i64, ...)
declare void @llvm.x86.sse2.pause()

define internal void @futex(ptr %addr, i32 %op, i32 %val) {
  %r = call i64 (i64, ...) @syscall(i64 202, ptr %addr, i32 %op, i32 %val, ptr null, ptr null, i32 0)
  ret void
}

define internal ptr @worker(ptr %arg) {
entry:
  %tid = ptrtoint ptr %arg to i64
  br label %wait

wait:
  %seen = phi i32 [ 0, %entry ], [ %g1, %ran ], [ %seen, %woke ], [ %seen, %spin_more ], [ %seen, %read ]
  %spins = phi i32 [ 0, %entry ], [ 0, %ran ], [ 0, %woke ], [ %spins1, %spin_more ], [ 0, %read ]
  %g1 = load atomic i32, ptr @gen acquire, align 4
  %odd = and i32 %g1, 1
  %stable = icmp eq i32 %odd, 0
  %new = icmp ne i32 %g1, %seen
  %ready = and i1 %stable, %new
  br i1 %ready, label %read, label %idle

idle:
  %spins1 = add i32 %spins, 1
  %more = icmp slt i32 %spins1, SPINS
  br i1 %more, label %spin_more, label %sleep

spin_more:
  call void @llvm.x86.sse2.pause()
  br label %wait

sleep:
  %s0 = atomicrmw add ptr @sleepers, i32 1 seq_cst
  %gs = load atomic i32, ptr @gen seq_cst, align 4
  %same = icmp eq i32 %gs, %seen
  br i1 %same, label %do_sleep, label %woke

do_sleep:
  call void @futex(ptr @gen, i32 128, i32 %seen)   ; FUTEX_WAIT_PRIVATE while gen == seen
  br label %woke

woke:
  %s1 = atomicrmw sub ptr @sleepers, i32 1 seq_cst
  br label %wait

read:
  %fn = load ptr, ptr @job_fn, align 8
  %table = load ptr, ptr @job_table, align 8
  %n = load i64, ptr @job_n, align 8
  %bar = load ptr, ptr @job_bar, align 8
  %g2 = load atomic i32, ptr @gen acquire, align 4
  %torn = icmp ne i32 %g1, %g2
  br i1 %torn, label %wait, label %check

check:
  %mine = icmp slt i64 %tid, %n
  br i1 %mine, label %run, label %ran

run:
  call void %fn(ptr %table, i64 %tid, i64 %n, ptr %bar)
  %f = atomicrmw add ptr @finished, i64 1 release
  br label %ran

ran:
  br label %wait
}

define i32 @ovcc_pool_start(i64 %workers) {
entry:
  %handle = alloca i64, align 8
  br label %loop
loop:
  %i = phi i64 [ 1, %entry ], [ %next, %ok ]
  %done = icmp sgt i64 %i, %workers
  br i1 %done, label %exit, label %body
body:
  %arg = inttoptr i64 %i to ptr
  %rc = call i32 @pthread_create(ptr %handle, ptr null, ptr @worker, ptr %arg)
  %failed = icmp ne i32 %rc, 0
  %next = add i64 %i, 1
  br i1 %failed, label %fail, label %ok
ok:
  br label %loop
fail:
  ret i32 %rc
exit:
  ret i32 0
}

define void @ovcc_pool_run(ptr %fn, ptr %table, i64 %n, ptr %bar) {
entry:
  store atomic i64 0, ptr @finished seq_cst, align 8
  %a = atomicrmw add ptr @gen, i32 1 seq_cst     ; odd: fields being written
  store ptr %fn, ptr @job_fn, align 8
  store ptr %table, ptr @job_table, align 8
  store i64 %n, ptr @job_n, align 8
  store ptr %bar, ptr @job_bar, align 8
  %b = atomicrmw add ptr @gen, i32 1 seq_cst     ; even: published
  %s = load atomic i32, ptr @sleepers seq_cst, align 4
  %any = icmp ne i32 %s, 0
  br i1 %any, label %wake, label %go
wake:
  call void @futex(ptr @gen, i32 129, i32 2147483647)   ; FUTEX_WAKE_PRIVATE, everyone
  br label %go
go:
  call void %fn(ptr %table, i64 0, i64 %n, ptr %bar)
  %others = sub i64 %n, 1
  br label %join
join:   ; every worker has returned from the function (its code may be unloaded after this call)
  %back = load atomic i64, ptr @finished acquire, align 8
  %all = icmp sge i64 %back, %others
  br i1 %all, label %out, label %pause
pause:
  call void @llvm.x86.sse2.pause()
  br label %join
out:
  ret void
}
"""

RUN_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
_LOCK = threading.Lock()
_POOL: tuple[int, int, object, object] | None = None  # (pid, workers, library, run function)


def _build(workers: int):
    import llvmlite.binding as llvm

    from codegen.target import host
    from runtime.jit import _jit

    ir = _IR.replace("SPINS", str(SPINS))
    mod = llvm.parse_assembly(ir)
    mod.verify()
    tm = host().machine()
    obj = tm.emit_object(mod)
    lib = llvm.JITLibraryBuilder().add_object_img(obj).export_symbol("ovcc_pool_start") \
        .export_symbol("ovcc_pool_run").link(_jit(), f"ovcc_pool_{os.getpid()}_{workers}")
    start = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64)(lib["ovcc_pool_start"])
    if start(workers) != 0:
        raise OSError("cannot start the native worker threads (pthread_create failed)")
    return lib, RUN_FN(lib["ovcc_pool_run"])


def runner(threads: int):
    """The pool's run function for jobs of up to `threads` threads (the caller is thread 0);
    None when one thread is asked for."""
    global _POOL
    if threads <= 1:
        return None
    with _LOCK:
        pid = os.getpid()
        if _POOL is None or _POOL[0] != pid or _POOL[1] < threads - 1:
            # first use in this process, or more threads than the pool has (a larger pool
            # replaces it; the old one's workers stay asleep)
            workers = max(threads - 1, (os.cpu_count() or 1) - 1)
            lib, run = _build(workers)
            _POOL = (pid, workers, lib, run)
        return _POOL[3]


__all__ = ["runner"]
