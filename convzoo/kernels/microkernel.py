"""A register-blocked float32 product tile, written as LLVM vector code: the inner loop of ``direct.py``.

Numba cannot keep a tile of sums in vector registers from ordinary loops: written with scalars or a
small array, the tile went through memory on every step (6-7 GFLOP/s on one core of the AVX-512
machine, against OpenBLAS's 80-96). So the tile is a Numba intrinsic that emits the LLVM IR itself:
``mr x nv`` accumulators of ``<VEC x float>`` held as loop phis, one ``llvm.fma`` per accumulator
and step, a row of weights loaded as ``nv`` vectors and each input value broadcast.

The tile is a direct convolution's: ``mr`` output positions of one row by ``nv * VEC`` output
channels. Its input values are found through a table of offsets (step ``s``, a channel and tap, reads
``x[x0 + rows[s] + i * step]`` for position i), so nothing is gathered into columns first. On one core
of the AVX-512 machine (peak about 118 GFLOP/s) tiles of 4 positions ran LeNet-5's second conv (6 ->
16 channels, 5x5, rows of 10 outputs) at batch 64 in 0.36 ms: 86 GFLOP/s of the conv's own
multiply-adds, 103 with the positions computed past each row's end (PyTorch's oneDNN, one thread:
0.33 ms); written with contiguous stores of 10 positions (no transpose), a prototype reached 117.

Two more tiles on the same plan: ``tile`` of a ``position_key`` turns the roles around (a vector of consecutive
positions by broadcast weights of a few channels), and ``reduce_tile`` sums a weight gradient's
products over positions as vectors of partial sums (a vector of positions of the input and of the
output gradient a step, one sum a tap and channel).

Each element sums its products in order of s, with fused multiply-adds (as OpenBLAS's kernels do).
``available()`` is False without a vector unit these tiles know (AVX-512, or AVX2 with FMA) or with
Numba's JIT disabled (the tests' NUMBA_DISABLE_JIT pass); the planner then never picks ``direct``.
"""
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from .jit import host_features


def _vector_width():
    features = host_features()
    if features.get("avx512f"):
        return 16
    if features.get("avx2") and features.get("fma"):
        return 8
    return 0


VEC = _vector_width()


def available():
    """Whether the tiles run here."""
    return VEC > 0


def accumulators():
    """The vector registers a tile may hold as sums (AVX-512 has 32, AVX2 16; the rest hold the
    weights' row and the broadcast values)."""
    return 16 if VEC == 16 else 12


def registers():
    """The vector registers of the unit the tiles run on (AVX-512 32, AVX2 16)."""
    return 32 if VEC == 16 else 16


def tile_key(mr, nv, step):
    """The first argument of ``tile`` for tiles of ``mr`` positions by ``nv * VEC`` channels
    reading every ``step``-th input value: three tuples of zeros whose lengths are those numbers. A
    tuple's length is part of its Numba type, so each tile shape compiles its own specialisation of a
    caller that passes the key along, and Numba's cache keeps it (a closure over a tile made per shape
    was compiled again in every process: 0.5-1 s a shape)."""
    return (0,) * mr, (0,) * nv, (0,) * step


def position_key(np_, mc):
    """The first argument of ``tile`` for tiles of ``np_ * VEC`` positions by ``mc`` channels
    (as ``tile_key``: tuples of zeros whose lengths are those numbers, plus a marker of the kind)."""
    return (0,) * np_, (0,) * mc, ()


@intrinsic
def tile(typingctx, key, x, x0, rows, w, w0, ldw, c, c0, ldc, k, positions, channels):
    """``tile(key, x, x0, rows, w, w0, ldw, c, c0, ldc, k, positions, channels)``: a product tile of a
    direct convolution, ``c[c0 + j*ldc + i] = sum over s < k of x[x0 + rows[s] + i*step] * w[w0 + s*ldw + j]``
    for i below the tile's positions and ``positions``, j below its channels and ``channels`` (x, w, c:
    flat float32 arrays; rows: int64). Two kinds, by key:

    - ``tile_key(mr, nv, step)``: ``mr`` positions by ``nv*VEC`` channels, x's values broadcast and w's
      rows loaded as vectors, the sums stored channel-major (the vectors of sums transposed in registers,
      then one masked store of mr positions per channel);
    - ``position_key(np, mc)``: ``np*VEC`` consecutive positions (step 1) by ``mc`` channels, the roles
      swapped for few channels (an input gradient onto 3 or 6 of them left 10-13 of the other kind's 16
      vector lanes empty): x's runs loaded as vectors, w's values broadcast, each channel's sums stored
      as they are, masked past ``positions`` (no transpose).

    Every index read must be in bounds (all of the tile's, whatever positions and channels say): nothing
    is checked."""
    if not isinstance(key, types.BaseTuple) or len(key.types) != 3 \
            or not all(isinstance(t, types.BaseTuple) for t in key.types):
        return None
    shape = tuple(len(t.types) for t in key.types)
    products = _channel_products if shape[2] else _position_products
    sig = types.void(key, x, types.int64, rows, w, types.int64, types.int64, c, types.int64, types.int64,
                     types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        _, _, x0, _, _, w0, ldw, _, c0, ldc, steps, positions, channels = args
        x_ptr, rows_ptr, w_ptr, c_ptr = _pointers(context, builder, signature, args,
                                                  ((1, x0), (3, None), (4, w0), (7, c0)))
        products(builder, shape, x_ptr, rows_ptr, w_ptr, c_ptr, ldw, ldc, steps, positions, channels)
        return context.get_dummy_value()

    return sig, codegen


def _channel_products(builder, shape, x_ptr, rows_ptr, w_ptr, c_ptr, ldw, ldc, steps, positions, channels):
    """``tile``'s code for ``tile_key`` tiles."""
    mr, nv, step = shape
    vec_n = VEC
    f32, i64, i32, vec, _, fma = _vector_unit(builder)

    def body(s, acc):
        w_row = builder.gep(w_ptr, [builder.mul(s, ldw)])
        w_vec = [_load_vector(builder, w_row, v) for v in range(nv)]
        x_row = builder.gep(x_ptr, [builder.load(builder.gep(rows_ptr, [s]))])
        new = []
        for i in range(mr):
            value = _splat(builder, builder.load(builder.gep(x_row, [ir.Constant(i64, i * step)])), vec_n)
            new.extend(builder.call(fma, [value, w_vec[v], acc[i * nv + v]]) for v in range(nv))
        return new

    results = _sum_loop(builder, steps, mr * nv, vec, body)
    # position i, channel j goes to c[c0 + j*ldc + i]: each vector of sums (one position's
    # channels) is transposed in registers (``_transposed``; a tile of mr positions that is not a power
    # of two goes through the next one, padded with zeros), then each channel's run of positions is
    # one masked store (the positions past ``positions`` (at most mr), the channels past ``channels``
    # are not written)
    runs = 1 << (mr - 1).bit_length()
    short = ir.VectorType(f32, runs)
    store = _masked_store(builder, short)
    inside = _below(builder, positions, runs)
    none = ir.Constant(ir.VectorType(ir.IntType(1), runs), [0] * runs)
    per = vec_n // runs
    padding = [ir.Constant(vec, [0.0] * vec_n)] * (runs - mr)
    for v in range(nv):
        for q, vector in enumerate(_transposed(builder, [results[i * nv + v] for i in range(mr)] + padding, vec_n)):
            for sub in range(per):
                channel = v * vec_n + q * per + sub
                run = builder.shuffle_vector(vector, ir.Constant(vec, ir.Undefined),
                                             ir.Constant(ir.VectorType(i32, runs),
                                                         [sub * runs + t for t in range(runs)]))
                mask = builder.select(builder.icmp_signed("<", ir.Constant(i64, channel), channels),
                                      inside, none)
                target = builder.gep(c_ptr, [builder.mul(ir.Constant(i64, channel), ldc)])
                builder.call(store, [run, builder.bitcast(target, short.as_pointer()),
                                     ir.Constant(i32, 4), mask])


def _position_products(builder, shape, x_ptr, rows_ptr, w_ptr, c_ptr, ldw, ldc, steps, positions, channels):
    """``tile``'s code for ``position_key`` tiles."""
    np_, mc, _ = shape
    vec_n = VEC
    _, i64, i32, vec, vptr, fma = _vector_unit(builder)

    def body(s, acc):
        x_row = builder.gep(x_ptr, [builder.load(builder.gep(rows_ptr, [s]))])
        x_vec = [_load_vector(builder, x_row, p) for p in range(np_)]
        w_row = builder.gep(w_ptr, [builder.mul(s, ldw)])
        new = []
        for j in range(mc):
            value = _splat(builder, builder.load(builder.gep(w_row, [ir.Constant(i64, j)])), vec_n)
            new.extend(builder.call(fma, [x_vec[p], value, acc[j * np_ + p]]) for p in range(np_))
        return new

    results = _sum_loop(builder, steps, mc * np_, vec, body)
    store = _masked_store(builder, vec)
    none = ir.Constant(ir.VectorType(ir.IntType(1), vec_n), [0] * vec_n)
    for p in range(np_):
        inside = _below(builder, positions, vec_n, p * vec_n)
        for j in range(mc):
            result = results[j * np_ + p]
            mask = builder.select(builder.icmp_signed("<", ir.Constant(i64, j), channels), inside, none)
            target = builder.gep(c_ptr, [builder.add(builder.mul(ir.Constant(i64, j), ldc),
                                                     ir.Constant(i64, p * vec_n))])
            builder.call(store, [result, builder.bitcast(target, vptr), ir.Constant(i32, 4), mask])


def reduce_key(taps, mc):
    """The first argument of ``reduce_tile``: ``taps`` taps by ``mc`` channels (tuples of zeros, as
    ``tile_key``, and two empty ones to tell the kind)."""
    return (0,) * taps, (0,) * mc, (), ()


@intrinsic
def reduce_tile(typingctx, key, x, x0, dx, g, g0, ldg, table, k, out, o0, ldo):
    """``reduce_tile(key, x, x0, dx, g, g0, ldg, table, k, out, o0, ldo)`` for ``key = reduce_key(T, M)``:

        out[o0 + (j*ldo + t)*VEC + i] += sum over s < k of
                                         x[x0 + table[s, 0] + t*dx + i] * g[g0 + table[s, 1] + j*ldg + i]

    for t < T, j < M, i < VEC (i < table[s, 2] in step s): a weight gradient's sums over positions, VEC
    positions a step (runs of them found through ``table``: x's and g's offsets and the count, at most
    VEC), each of the T*M sums a vector of VEC partial sums in a register, added into out's vector (the
    caller adds its lanes up). Every load is masked to the step's count, so nothing past it is read."""
    if not isinstance(key, types.BaseTuple) or len(key.types) != 4 \
            or not all(isinstance(t, types.BaseTuple) for t in key.types):
        return None
    taps, mc = (len(t.types) for t in key.types[:2])
    vec_n = VEC
    sig = types.void(key, x, types.int64, types.int64, g, types.int64, types.int64, table, types.int64, out,
                     types.int64, types.int64)

    def codegen(context, builder, signature, args):
        _, _, x0, dx, _, g0, ldg, _, steps, _, o0, ldo = args
        x_ptr, g_ptr, t_ptr, o_ptr = _pointers(context, builder, signature, args,
                                               ((1, x0), (4, g0), (7, None), (9, o0)))
        _, i64, i32, vec, vptr, fma = _vector_unit(builder)
        bits = ir.VectorType(ir.IntType(1), vec_n)
        load = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vptr, i32, bits, vec]),
                                              f"llvm.masked.load.v{vec_n}f32.p0")
        zero = ir.Constant(vec, [0.0] * vec_n)

        def body(s, acc):
            row = builder.gep(t_ptr, [builder.mul(s, ir.Constant(i64, 3))])
            xs, gs, count = (builder.load(builder.gep(row, [ir.Constant(i64, i)])) for i in range(3))
            mask = _below(builder, count, vec_n)
            x_row, g_row = builder.gep(x_ptr, [xs]), builder.gep(g_ptr, [gs])
            align = ir.Constant(i32, 4)
            x_vec = [builder.call(load, [builder.bitcast(builder.gep(x_row, [builder.mul(ir.Constant(i64, t), dx)]),
                                                         vptr), align, mask, zero]) for t in range(taps)]
            g_vec = [builder.call(load, [builder.bitcast(builder.gep(g_row, [builder.mul(ir.Constant(i64, j), ldg)]),
                                                         vptr), align, mask, zero]) for j in range(mc)]
            return [builder.call(fma, [x_vec[t], g_vec[j], acc[t * mc + j]]) for t in range(taps) for j in range(mc)]

        results = _sum_loop(builder, steps, taps * mc, vec, body)
        for t in range(taps):
            for j in range(mc):
                at = builder.mul(builder.add(builder.mul(ir.Constant(i64, j), ldo), ir.Constant(i64, t)),
                                 ir.Constant(i64, vec_n))
                target = builder.bitcast(builder.gep(o_ptr, [at]), vptr)
                builder.store(builder.fadd(builder.load(target, align=4), results[t * mc + j]), target, align=4)
        return context.get_dummy_value()

    return sig, codegen


def _pointers(context, builder, signature, args, arrays):
    """The data pointers of the array arguments ``arrays`` ((argument index, offset or None), ...), each
    advanced by its offset (an element index argument)."""
    pointers = []
    for index, offset in arrays:
        data = context.make_array(signature.args[index])(context, builder, args[index]).data
        pointers.append(data if offset is None else builder.gep(data, [offset]))
    return pointers


def _masked_store(builder, vec):
    """LLVM's masked store of vectors of type ``vec``: (value, pointer, alignment, mask)."""
    mask = ir.VectorType(ir.IntType(1), vec.count)
    return cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [vec, vec.as_pointer(), ir.IntType(32), mask]),
        f"llvm.masked.store.v{vec.count}f32.p0")


def _below(builder, limit, lanes, first=0):
    """The mask of ``lanes`` lanes whose index plus ``first`` is below ``limit`` (an int64 value)."""
    return builder.icmp_signed("<", ir.Constant(ir.VectorType(ir.IntType(64), lanes),
                                                [first + i for i in range(lanes)]), _splat(builder, limit, lanes))


def _vector_unit(builder):
    """The IR types the tiles use (float32, int64, int32, the vector of VEC float32 lanes and its pointer)
    and LLVM's fused multiply-add of such vectors."""
    f32 = ir.FloatType()
    vec = ir.VectorType(f32, VEC)
    return f32, ir.IntType(64), ir.IntType(32), vec, vec.as_pointer(), _fma(builder, vec)


def _load_vector(builder, row, k):
    """The k-th vector of VEC float32 values from the float pointer ``row`` (4-byte aligned)."""
    vec = ir.VectorType(ir.FloatType(), VEC)
    at = builder.gep(row, [ir.Constant(ir.IntType(64), VEC * k)])
    return builder.load(builder.bitcast(at, vec.as_pointer()), align=4)


def _fma(builder, vec):
    """LLVM's fused multiply-add of vectors of type ``vec``."""
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3),
                                          f"llvm.fma.v{vec.count}f32")


def _sum_loop(builder, steps, count, vec, body):
    """The loop ``for s in range(steps)`` over ``count`` vector sums of type ``vec`` held as loop phis,
    zero at the start: ``body(s, sums)`` emits one step's code and returns the new sums. Returns the sums
    after the loop (zero where ``steps`` <= 0), with the builder after it."""
    i64 = ir.IntType(64)
    zero = ir.Constant(vec, [0.0] * vec.count)
    entry = builder.block
    loop = builder.append_basic_block("tile.loop")
    done = builder.append_basic_block("tile.done")
    builder.cbranch(builder.icmp_signed(">", steps, ir.Constant(i64, 0)), loop, done)
    builder.position_at_end(loop)
    s = builder.phi(i64)
    s.add_incoming(ir.Constant(i64, 0), entry)
    sums = []
    for _ in range(count):
        phi = builder.phi(vec)
        phi.add_incoming(zero, entry)
        sums.append(phi)
    new = body(s, sums)
    end = builder.block
    after = builder.add(s, ir.Constant(i64, 1))
    s.add_incoming(after, end)
    for phi, value in zip(sums, new):
        phi.add_incoming(value, end)
    builder.cbranch(builder.icmp_signed("<", after, steps), loop, done)
    builder.position_at_end(done)
    results = []
    for value in new:
        result = builder.phi(vec)
        result.add_incoming(zero, entry)
        result.add_incoming(value, end)
        results.append(result)
    return results


def _splat(builder, value, lanes):
    """A vector of ``lanes`` copies of the scalar ``value``."""
    vector = ir.VectorType(value.type, lanes)
    first = builder.insert_element(ir.Constant(vector, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(first, ir.Constant(vector, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))


def _bit_reversed(k, bits):
    return int(format(k, f"0{bits}b")[::-1], 2) if bits else 0


def _transposed(builder, vectors, width):
    """mr vectors of ``width`` (mr a power of two up to width) -> mr vectors, the q-th holding
    element j of every input vector for j in its block of width / mr, input by input: block element
    e is input e % mr's element q * width / mr + e // mr. log2(mr) rounds of two-source shuffles
    (inputs in bit-reversed order, units of 1, 2, 4, ... elements taken alternately from a pair)."""
    mr = len(vectors)
    bits = mr.bit_length() - 1
    i32 = ir.IntType(32)
    xs = [vectors[_bit_reversed(k, bits)] for k in range(mr)]
    unit = 1
    while unit < mr:
        halves = ([], [])
        for half, blocks in zip(halves, (range(width // (2 * unit)), range(width // (2 * unit), width // unit))):
            for m in blocks:  # unit elements of the first vector, then the same of the second
                first = list(range(m * unit, (m + 1) * unit))
                half.extend(first + [width + e for e in first])
        new = [None] * mr
        for k in range(mr // 2):
            a, b = xs[k], xs[k + mr // 2]
            new[2 * k], new[2 * k + 1] = (builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(i32, width), mask))
                                          for mask in halves)
        xs, unit = new, unit * 2
    return xs
