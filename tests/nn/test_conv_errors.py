"""Bad input to the convolution ops: a ValueError/TypeError that names the argument and echoes the value."""
import numpy as np
import pytest

import convzoo
import convzoo.nn.functional as F

X = np.ones((2, 6, 8, 8), dtype=np.float32)
W = np.ones((4, 3, 3, 3), dtype=np.float32)


@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(input=np.ones((6, 8), np.float32), weight=W), ValueError, r"input of shape \(N, C, H, W\).*received shape \(6, 8\)"),
    (dict(input=np.ones((1, 2, 6, 8, 8), np.float32), weight=W), ValueError, r"received shape \(1, 2, 6, 8, 8\)"),
    (dict(weight=np.ones((4, 3, 3), np.float32)), ValueError, r"weight of shape.*received shape \(4, 3, 3\)"),
    (dict(weight=np.ones((4, 4, 3, 3), np.float32)), ValueError, r"C=8 .*received \(2, 6, 8, 8\)"),
    (dict(groups=4, weight=np.ones((4, 1, 3, 3), np.float32)), ValueError, r"C=4 .*received \(2, 6, 8, 8\)"),
    (dict(groups=4, weight=np.ones((6, 1, 3, 3), np.float32), input=np.ones((2, 4, 8, 8), np.float32)),
     ValueError, r"out_channels \(6\) must be divisible by groups \(4\)"),
    (dict(groups=0), ValueError, r"groups must be a positive int; received 0"),
    (dict(groups=2.0), ValueError, r"groups must be a positive int; received 2.0"),
    (dict(stride=0), ValueError, r"stride must be positive; received 0"),
    (dict(stride=(1, -2)), ValueError, r"stride must be positive; received \(1, -2\)"),
    (dict(stride=(1, 2, 3)), TypeError, r"stride must be an int or a tuple of 2 ints; received \(1, 2, 3\)"),
    (dict(stride=1.5), TypeError, r"stride must be an int or a tuple of 2 ints; received 1.5"),
    # equal to the warm-up's 1 and hashed alike: the cache of validated calls must tell them apart
    (dict(stride=1.0), TypeError, r"stride must be an int or a tuple of 2 ints; received 1.0"),
    (dict(stride=True), TypeError, r"stride must be an int or a tuple of 2 ints; received True"),
    (dict(padding=(1.0, 1)), TypeError, r"padding must be 'valid', 'same', an int.*received \(1.0, 1\)"),
    (dict(dilation=0), ValueError, r"dilation must be positive; received 0"),
    (dict(padding=-1), ValueError, r"padding must be non-negative; received -1"),
    (dict(padding=((1, -1), (0, 0))), ValueError, r"padding must be non-negative; received \(\(1, -1\), \(0, 0\)\)"),
    (dict(padding="full"), ValueError, r"padding must be 'valid', 'same' or numbers; received 'full'"),
    (dict(padding=None), TypeError, r"padding must be 'valid', 'same', an int.*received None"),
    (dict(padding_mode="mirror"), ValueError, r"padding_mode must be one of zeros, reflect, replicate, circular, "
                                              r"symmetric; received 'mirror'"),
    (dict(padding=8, padding_mode="reflect"), ValueError, r"reflect padding \(8, 8\) must be smaller than the input "
                                                          r"size 8"),
    (dict(weight=np.ones((4, 3, 11, 11), np.float32)), ValueError, r"output would be empty.*\(2, 6, 8, 8\)"),
    (dict(dilation=5), ValueError, r"output would be empty.*dilated kernel \(11, 11\)"),
    (dict(input="image"), TypeError, r"input must be a Tensor or a NumPy array; received str"),
    (dict(input=np.array([["a"]])), TypeError, r"input must have a floating dtype.*<U1"),
    (dict(input=np.ones((2, 6, 8, 8), dtype=np.int64)), TypeError, r"input must have a floating dtype.*int64"),
    (dict(input=np.ones((2, 6, 8, 8), dtype=np.float64)), TypeError,
     r"input dtype float64 does not match weight dtype float32"),
    (dict(bias=np.ones(3, np.float32)), ValueError, r"bias must have shape \(4,\); received \(3,\)"),
    (dict(bias=np.ones(4, np.float64)), TypeError, r"input dtype float32 does not match bias dtype float64"),
])
def test_conv2d_bad_input(kwargs, error, pattern):
    F.conv2d(X, W, groups=2, stride=1, padding=(1, 1), dilation=1)  # a valid call of these shapes first
    args = dict(input=X, weight=W, groups=2)
    args.update(kwargs)
    with pytest.raises(error, match=pattern):
        F.conv2d(**args)


U = np.ones((1, 4, 5, 5), dtype=np.float32)
WT = np.ones((4, 2, 3, 3), dtype=np.float32)


@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(stride=2, output_padding=2), ValueError,
     r"output_padding must be smaller than either stride or dilation; received output_padding=\(2, 2\), "
     r"stride=\(2, 2\), dilation=\(1, 1\)"),
    (dict(output_padding=-1), ValueError, r"output_padding must be >= 0; received -1"),
    (dict(padding="same", output_padding=1, stride=2), ValueError, r"output_padding must be 0 with padding='same'"),
    (dict(padding=4), ValueError, r"output would be empty.*\(1, 4, 5, 5\)"),
    (dict(input=np.ones((1, 3, 5, 5), np.float32)), ValueError, r"C=4 .*received \(1, 3, 5, 5\)"),
    (dict(groups=3), ValueError, r"in_channels \(4\) must be divisible by groups \(3\)"),
    (dict(output_size=(20, 20)), ValueError, r"output_size \(20, 20\) is not reachable"),
    (dict(output_size=(7,)), TypeError, r"output_size must be an int or a tuple of 2 ints; received \(7,\)"),
    (dict(padding=3, padding_mode="reflect"), ValueError, r"reflect padding of the output \(3, 3\) must be smaller "
                                                          r"than the input size 1"),
    (dict(padding_mode="wrap"), ValueError, r"padding_mode must be one of.*received 'wrap'"),
    (dict(stride=1.0), TypeError, r"stride must be an int or a tuple of 2 ints; received 1.0"),
    (dict(output_padding=False), TypeError, r"output_padding must be an int or a tuple of 2 ints; received False"),
])
def test_conv_transpose2d_bad_input(kwargs, error, pattern):
    F.conv_transpose2d(U, WT, stride=1, padding=0, output_padding=0)  # a valid call of these shapes first
    args = dict(input=U, weight=WT)
    args.update(kwargs)
    with pytest.raises(error, match=pattern):
        F.conv_transpose2d(**args)


def test_errors_are_raised_before_any_work_and_survive_python_O():
    # validation is explicit code, not assert: a Tensor input gives the same message
    with pytest.raises(ValueError, match="divisible by groups"):
        F.conv1d(convzoo.tensor(np.ones((1, 4, 9), np.float32)), np.ones((3, 2, 3), np.float32), groups=2)


def test_conv1d_and_conv3d_name_their_own_layout():
    with pytest.raises(ValueError, match=r"conv1d expects input of shape \(N, C, L\)"):
        F.conv1d(np.ones((2, 3, 4, 5), np.float32), np.ones((2, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"conv3d expects input of shape \(N, C, D, H, W\)"):
        F.conv3d(np.ones((2, 3, 4), np.float32), np.ones((2, 3, 3, 3, 3), np.float32))
