"""Non-temporal (streaming) stores for outputs larger than the last-level cache.

An ordinary store to a line that is not in cache first reads the line from memory (read for
ownership), so a loop that reads one array and writes another moves three arrays' worth of bytes, not
two. A non-temporal store (``vmovntps``) writes whole lines straight to memory without reading them,
and leaves them out of the cache: a win only when the output is too large to be read again from cache
anyway. On the AVX-512 machine, two lanes, alternating in one process: ReLU forward of 32 x 64 x 112 x
112 (103 MB in, 103 MB out) 6.5-6.7 -> 4.6-4.8 ms, forward + backward 16.4 -> 11.9 (PyTorch 6.4 and 16.1);
at 3.2 Mi elements (12.8 MB, inside the 32 MiB L3) streaming lost, 0.32 -> 0.40 ms, so kernels stream only
from ``BYTES`` of output.

Numba has no way to ask for such a store, so the vector code is a Numba intrinsic that emits the
LLVM IR: one ``<LINE / itemsize x T>`` load or two, a compare and select, and one store of a whole
cache line marked ``!nontemporal``, which x86 lowers to ``vmovntps``/``vmovntpd`` (the store must be
line-aligned: ``aligned_span`` gives the part of a range that is). Streaming stores are weakly
ordered, so a range that used them ends with ``fence()`` (``sfence``) before another thread may
read what it wrote. ``available()`` is False off x86 or with Numba's JIT disabled (the tests'
NUMBA_DISABLE_JIT pass), and the kernels then use ordinary stores.
"""
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .jit import host_features, jit_inline

LINE = 64  # bytes of a cache line, and of one streaming store
# Output bytes from which a kernel streams. A ReLU then a 2x2 max pooling, alternating in one process:
# 19 MB of output 1.60 -> 1.74 ms (the pooling read part of the output from the L3 that streaming skipped),
# 25.7 MB 2.26 -> 2.21, 103 MB 10.4 -> 8.9
BYTES = 24 << 20


_AVAILABLE = bool(host_features().get("sse2"))  # x86 (and Numba's JIT on)


def available():
    """Whether streaming stores run here."""
    return _AVAILABLE


def wanted(out):
    """Whether a kernel writing all of ``out`` (float32 or float64) should stream it."""
    return _AVAILABLE and out.nbytes >= BYTES and out.dtype.kind == "f" and out.itemsize in (4, 8)


@jit_inline
def aligned_span(out, stream):
    """``(start, stop)``: the part of ``range(len(out))`` (out: a contiguous 1-d array) that
    streaming stores of a whole line each cover, ``out[start]`` line-aligned and ``stop - start`` a
    multiple of a line's elements; ``(n, n)`` when ``stream`` is False, so that a kernel's ordinary
    loop over ``range(start)`` covers everything."""
    n = out.shape[0]
    if not stream:
        return n, n
    width = LINE // out.itemsize
    start = min(n, ((LINE - out.ctypes.data % LINE) % LINE) // out.itemsize)
    return start, start + (n - start) // width * width


def _select_intrinsic(nan_passes):
    """An intrinsic ``(test, values, out, i)``: ``out[i:i + w] = values[i:i + w]`` where the test
    passes, else 0, for the ``w = LINE / itemsize`` elements of one line (``out[i]`` line-aligned,
    one streaming store). The test is ``not test <= 0`` when ``nan_passes`` (ReLU: NaN passes through),
    else ``test > 0`` (ReLU's gradient: 0 where the output is NaN)."""
    @intrinsic
    def select(typingctx, test, values, out, i):
        arrays = (test, values, out)
        if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" and a.dtype == out.dtype
                   and isinstance(a.dtype, types.Float) for a in arrays):
            return None  # the code below reads and writes whole lines of contiguous arrays of one dtype
        sig = types.void(test, values, out, i)

        def codegen(context, builder, signature, args):
            element = context.get_value_type(signature.args[2].dtype)
            vector = ir.VectorType(element, LINE * 8 // signature.args[2].dtype.bitwidth)

            def line(k):
                array = context.make_array(signature.args[k])(context, builder, args[k])
                return builder.bitcast(builder.gep(array.data, [args[3]]), vector.as_pointer())

            # ReLU passes x as both: LLVM merges the two loads
            t = builder.load(line(0), align=signature.args[0].dtype.bitwidth // 8)
            v = builder.load(line(1), align=signature.args[1].dtype.bitwidth // 8)
            zero = ir.Constant(vector, None)
            fails = (builder.fcmp_ordered if nan_passes else builder.fcmp_unordered)("<=", t, zero)
            store = builder.store(builder.select(fails, zero, v), line(2), align=LINE)
            store.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
            return context.get_dummy_value()

        return sig, codegen
    return select


relu_line = _select_intrinsic(nan_passes=True)
relu_grad_line = _select_intrinsic(nan_passes=False)


@intrinsic
def _sfence(typingctx):
    def codegen(context, builder, signature, args):
        fence = builder.module.declare_intrinsic("llvm.x86.sse.sfence", fnty=ir.FunctionType(ir.VoidType(), []))
        builder.call(fence, [])
        return context.get_dummy_value()
    return types.void(), codegen


@jit_inline
def fence():
    """Orders the streaming stores before it before every later store (``sfence``)."""
    _sfence()
