"""Streaming (non-temporal) stores: ReLU and its gradient give the ordinary loops' bits when they stream,
on any alignment and length, serially and on lanes; only large float outputs stream."""
import numpy as np
import pytest

from convzoo.kernels import elementwise, streaming


def _relu_reference(x):
    # NaN passes, -0.0 and 0.0 become +0.0
    return np.where(np.isnan(x) | (x > 0), x, 0).astype(x.dtype)


@pytest.mark.parametrize("lanes", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 16, 31, 100, 4099])
@pytest.mark.parametrize("offset", [0, 1, 5])
def test_streamed_relu_and_gradient_match_the_reference(lanes, dtype, n, offset, monkeypatch):
    monkeypatch.setattr(streaming, "BYTES", 0)  # stream every output
    if lanes:
        monkeypatch.setattr(elementwise, "STREAM_GRAIN", 0)
    rng = np.random.default_rng(n + offset)
    # views starting `offset` elements into a buffer, so the output's alignment varies with the input's
    x = rng.standard_normal(n + offset).astype(dtype)[offset:]
    x[::5] = np.nan
    x[1::7] = -0.0
    x[2::11] = 0.0
    y = elementwise.relu(x)
    np.testing.assert_array_equal(y, _relu_reference(x))
    assert not np.signbit(y[x == 0]).any()
    g = rng.standard_normal(n).astype(dtype)
    into = np.empty(n + offset, dtype)[offset:]
    for grad in (elementwise.relu_backward(g, y), elementwise.relu_backward(g, y, into=into)):
        np.testing.assert_array_equal(grad, np.where(y > 0, g, 0))  # 0 where y is NaN
    np.testing.assert_array_equal(into, np.where(y > 0, g, 0))


def test_the_gradient_written_in_place_over_its_input_matches(monkeypatch):
    monkeypatch.setattr(streaming, "BYTES", 0)
    y = np.array([1, -1, np.nan, 0, 2] * 9, np.float32)
    g = np.arange(45, dtype=np.float32)
    expected = np.where(y > 0, g, 0)
    assert elementwise.relu_backward(g, y, into=g) is g
    np.testing.assert_array_equal(g, expected)


@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize("n", [0, 3, 16, 40, 1000])
@pytest.mark.parametrize("offset", [0, 1, 3, 15])
def test_aligned_span_is_the_line_aligned_whole_lines_part(itemsize, n, offset):
    dtype = np.float32 if itemsize == 4 else np.float64
    out = np.empty(n + offset, dtype)[offset:]
    start, stop = streaming.aligned_span(out, True)
    width = streaming.LINE // itemsize
    assert 0 <= start <= stop <= n
    assert (stop - start) % width == 0 and n - stop < width
    if start < n:
        assert (out.ctypes.data + start * itemsize) % streaming.LINE == 0
    assert start < width
    assert streaming.aligned_span(out, False) == (n, n)


def test_only_large_float_outputs_stream():
    small = np.empty(1024, np.float32)
    assert not streaming.wanted(small)
    large = np.empty(streaming.BYTES // 4, np.float32)
    assert streaming.wanted(large) == streaming.available()
    assert not streaming.wanted(np.empty(streaming.BYTES // 4, np.int32))


@pytest.mark.skipif(not streaming.available(), reason="streaming stores need Numba's JIT on x86")
def test_a_line_store_of_mixed_dtypes_does_not_compile():
    import numba

    @numba.njit
    def store(test, values, out):
        streaming.relu_line(test, values, out, 0)

    with pytest.raises(numba.core.errors.TypingError):
        store(np.ones(16, np.float32), np.ones(16, np.float64), np.empty(16, np.float32))
    out = np.empty(64, np.float32)
    start, _ = streaming.aligned_span(out, True)
    test = np.where(np.arange(64) % 3, 1, -1).astype(np.float32)
    store(test[start:], np.arange(64, dtype=np.float32)[start:], out[start:])
    np.testing.assert_array_equal(out[start:start + 16], np.where(test > 0, np.arange(64), 0)[start:start + 16])
