"""Hypothesis draws shared by the kernel tests: a 2-D window geometry whose padded input holds at
least one window (the input itself may be smaller than the kernel)."""
from hypothesis import strategies as st


def padded_2d(draw, max_pad, max_extra):
    """(sizes, kernel, stride, dilation, pads): kernels 1-5, strides 1-3, dilations 1-2, each pad
    0..max_pad, and each input up to max_extra past the smallest the padded windows allow."""
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple((draw(st.integers(0, max_pad)), draw(st.integers(0, max_pad))) for _ in range(2))
    sizes = tuple(max(1, d * (k - 1) + 1 - b - a + draw(st.integers(0, max_extra)))
                  for k, d, (b, a) in zip(kernel, dilation, pads))
    return sizes, kernel, stride, dilation, pads
