"""TensorFlow functional control flow (While, If and their stateless forms) and TensorLists.

The `ov` dialect has no loop op, so a While loop is unrolled at conversion time: its condition
function is converted with the current loop variables and must fold to a constant (as it does
for Keras RNN layers and other loops over a static length), then the body function is
converted once per iteration. An If takes the branch its folded condition picks, or computes
both and selects when the condition depends on the data. TensorLists
(TensorArrays) are conversion-time lists of tensors, indexed by folded indices and stacked
with a Concat."""

from __future__ import annotations

import numpy as np

from compiler.frontends.tensorflow.graph import TfContext, call_function, tf_op
from dialects.errors import ConversionError

MAX_ITERATIONS = 4096  # iterations one While may be unrolled into


class TensorList:
    """A TensorList during conversion: its items (None where not yet written) and, for a list
    made from a tensor, that tensor (items are read from it lazily)."""

    def __init__(self, items: list, source=None):
        self.items, self.source = items, source

    def get(self, ctx: TfContext, i: int):
        if not -len(self.items) <= i < len(self.items):
            raise ConversionError(f"TensorList index {i} is out of range for {len(self.items)} items")
        if self.items[i] is None:
            if self.source is None:
                raise ConversionError(f"TensorList item {i} is read before it is written")
            self.items[i] = ctx.b.out("Gather", [self.source, ctx.i64(i % len(self.items)), ctx.i64(0)], batch_dims=0)
        return self.items[i]


def _index(ctx: TfContext, v, what: str) -> int:
    k = ctx.known(v)
    if k is None:
        raise ConversionError(f"{what} must be known at conversion time (loops are unrolled)")
    return int(np.asarray(k).reshape(-1)[0])


def _list(v) -> TensorList:
    if not isinstance(v, TensorList):
        raise ConversionError("expected a TensorList")
    return v


@tf_op("TensorListReserve")
def _reserve(ctx: TfContext, node, ins):
    n = ctx.known(ins[1])
    count = int(np.asarray(n).reshape(-1)[0]) if n is not None else -1
    return TensorList([None] * max(count, 0))


@tf_op("EmptyTensorList")
def _empty(ctx: TfContext, node, ins):
    return TensorList([])


@tf_op("TensorListFromTensor")
def _from_tensor(ctx: TfContext, node, ins):
    n = ctx.shape(ins[0])[0] if ctx.rank(ins[0]) else None
    if n is None:
        raise ConversionError("a TensorList made from a tensor needs a static first dimension (loops are "
                              "unrolled: give the inputs static shapes with input=)")
    return TensorList([None] * n, source=ins[0])


@tf_op("TensorListGetItem")
def _get_item(ctx: TfContext, node, ins):
    return _list(ins[0]).get(ctx, _index(ctx, ins[1], "the TensorList index"))


@tf_op("TensorListSetItem")
def _set_item(ctx: TfContext, node, ins):
    lst = _list(ins[0])
    i = _index(ctx, ins[1], "the TensorList index")
    items = list(lst.items)
    if i >= len(items):  # a list reserved with an unknown size grows
        items.extend([None] * (i + 1 - len(items)))
    items[i] = ins[2]
    return TensorList(items, lst.source)


@tf_op("TensorListPushBack")
def _push_back(ctx: TfContext, node, ins):
    lst = _list(ins[0])
    return TensorList([*lst.items, ins[1]], lst.source)


@tf_op("TensorListLength")
def _length(ctx: TfContext, node, ins):
    return ctx.const(np.int32(len(_list(ins[0]).items)))


@tf_op("TensorListStack")
def _stack(ctx: TfContext, node, ins):
    lst = _list(ins[0])
    if not lst.items:
        raise ConversionError("stacking an empty TensorList")
    items = [ctx.b.out("Unsqueeze", [lst.get(ctx, i), ctx.i64(0)]) for i in range(len(lst.items))]
    return items[0] if len(items) == 1 else ctx.b.out("Concat", items, axis=0)


def unroll_while(ctx, cond, body, state: list) -> list:
    """Run a loop at conversion time: `cond(state, i)` must fold to a constant, `body(state, i)`
    gives the next state."""
    for it in range(MAX_ITERATIONS + 1):
        known = ctx.known(cond(state, it)[0])
        if known is None:
            raise ConversionError("the loop condition is not known at conversion time (loops are unrolled; "
                                  "give the inputs static shapes with input=)")
        if not bool(np.asarray(known).reshape(-1)[0]):
            return state
        if it == MAX_ITERATIONS:
            break
        state = body(state, it)
    raise ConversionError(f"the loop runs more than {MAX_ITERATIONS} iterations")


@tf_op("While", "StatelessWhile")
def _while(ctx: TfContext, node, ins):
    cond, body = node.attr["cond"].func.name, node.attr["body"].func.name
    return unroll_while(ctx, lambda s, i: call_function(ctx, cond, s, f"{node.name}/cond_{i}/"),
                        lambda s, i: call_function(ctx, body, s, f"{node.name}/iteration_{i}/"), list(ins))


def select_branches(ctx, cond, then_fn, else_fn) -> list:
    """Both branches computed and their results selected by `cond` (a data-dependent branch of
    pure functions: what the branch not taken computes is discarded)."""
    from xdsl.ir import SSAValue

    if ctx.dtype(cond) != np.bool_ or any(d != 1 for d in ctx.shape(cond)):
        raise ConversionError("a data-dependent condition must be a single boolean")
    if ctx.rank(cond):
        cond = ctx.b.out("Reshape", [cond, ctx.i64([])], special_zero=False)
    then, other = then_fn(), else_fn()
    out = []
    for t, e in zip(then, other):
        if not (isinstance(t, SSAValue) and isinstance(e, SSAValue)) or ctx.dtype(t) != ctx.dtype(e):
            raise ConversionError("the branches of a data-dependent condition give different kinds of results")
        out.append(ctx.b.out("Select", [cond, t, e]))
    return out


@tf_op("If", "StatelessIf")
def _if(ctx: TfContext, node, ins):
    then_f, else_f = node.attr["then_branch"].func.name, node.attr["else_branch"].func.name
    known = ctx.known(ins[0])
    if known is None:
        return select_branches(ctx, ins[0], lambda: call_function(ctx, then_f, list(ins[1:]), f"{node.name}/then/"),
                               lambda: call_function(ctx, else_f, list(ins[1:]), f"{node.name}/else/"))
    taken = bool(np.asarray(known).reshape(-1)[0])
    return call_function(ctx, then_f if taken else else_f, list(ins[1:]), f"{node.name}/{'then' if taken else 'else'}/")
