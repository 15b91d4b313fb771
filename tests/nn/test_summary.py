"""model.summary and receptive_field: hand-computed values, and the empirical gradient support."""
import numpy as np
import pytest

import convzoo
from convzoo import nn


def rf(model, input_shape):
    return {layer.name: layer for layer in convzoo.receptive_field(model, input_shape)}


def lenet5():
    # LeNet-5 as convzoo.models builds it (conv 5x5 pad 2, pool 2, conv 5x5, pool 2, three Linear)
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def test_lenet5_by_hand():
    # conv1: r = 5, j = 1, field of output 0 = [-2, 2] (centre 0); pool: r = 5 + 1*1 = 6, j = 2, [-2, 3];
    # conv2: r = 6 + 4*2 = 14, [-2, 11]; pool: r = 14 + 1*2 = 16, j = 4, [-2, 13]
    fields = rf(lenet5(), (1, 28, 28))
    expected = {"0": (5, 1, 0), "1": (5, 1, 0), "2": (6, 2, 0.5), "3": (14, 2, 4.5), "5": (16, 4, 5.5)}
    for name, (size, jump, start) in expected.items():
        assert fields[name].size == (size, size) and fields[name].jump == (jump, jump)
        assert fields[name].start == (start, start)
    assert fields["5"].bounds((0, 0)) == ((-2, 13), (-2, 13))
    assert fields["5"].bounds((4, 1)) == ((14, 29), (2, 17))
    assert fields["6"].size == (28, 28) and fields["6"].jump is None  # Flatten: the whole input


def test_lenet5_params_and_macs_by_hand():
    s = lenet5().summary((1, 28, 28))
    assert s.total_params == 61_706 == s.trainable_params
    macs = {layer.name: layer.macs for layer in s.layers}
    assert macs["0"] == 28 * 28 * 6 * 1 * 25 and macs["3"] == 10 * 10 * 16 * 6 * 25
    assert macs["7"] == 400 * 120 and macs["2"] == 0
    assert s.total_macs == 117_600 + 240_000 + 48_000 + 10_080 + 840
    assert [layer.output_shape for layer in s.layers][:6] == [(6, 28, 28)] * 2 + [(6, 14, 14)] + [(16, 10, 10)] * 2 + [
        (16, 5, 5)]


def test_params_match_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Conv2d(3, 8, 3, groups=1), nn.Conv2d(8, 16, 3, groups=4, bias=False),
                         nn.ConvTranspose2d(16, 4, 4, stride=2, groups=2), nn.Flatten(), nn.Linear(4 * 14 * 14, 5))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 16, 3, groups=4, bias=False),
                                 torch.nn.ConvTranspose2d(16, 4, 4, stride=2, groups=2), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 14 * 14, 5))
    s = ours.summary((3, 10, 10))
    assert s.total_params == sum(p.numel() for p in theirs.parameters())
    assert [layer.params for layer in s.layers] == [sum(p.numel() for p in m.parameters()) for m in theirs]
    # transposed: each of 16 * 6 * 6 inputs meets 4/2 * 4 * 4 weights; grouped conv: 8/4 * 9 per output
    assert s.layers[2].macs == 16 * 6 * 6 * 2 * 16 and s.layers[1].macs == 16 * 6 * 6 * 2 * 9


def test_dilated_stack_by_hand():
    # k = 3 with dilation 1, 2, 4, 8: r = 1 + 2 * (1 + 2 + 4 + 8) = 31, jump 1, centred ("same")
    stack = nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=d, dilation=d) for d in (1, 2, 4, 8)])
    fields = rf(stack, (2, 40, 40))
    assert [fields[str(i)].size for i in range(4)] == [(3, 3), (7, 7), (15, 15), (31, 31)]
    assert all(fields[str(i)].jump == (1, 1) and fields[str(i)].start == (0, 0) for i in range(4))
    # strided then dilated, per axis: r = 3 + (3-1)*2*2 = 11 along H, 3 + (5-1)*1*2 = 11 along W
    mixed = rf(nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, (3, 5), dilation=(2, 1))), (1, 30, 30))
    assert mixed["1"].size == (11, 11) and mixed["1"].jump == (2, 2) and mixed["1"].start == (5, 5)


def test_transposed_decoder_by_hand():
    # encoder k4 s2 p1 twice: r 4 then 4 + 3*2 = 10, jump 2 then 4; encoder output i covers [4i - 3, 4i + 6].
    # ConvTranspose k4 s2 p1: output o = 2i - 1 + t, so output 2m hears inputs m-1, m and 2m+1 hears m, m+1:
    # fields [4m - 7, 4m + 6] and [4m - 3, 4m + 10], both 14 wide, jump 4/2 = 2.
    # The second one: output 2m' hears positions m'-1, m'; for even m' = 2a both are [4a - 7, 4a + 6]-like
    # (14 wide), for odd m' = 2a+1 they span [4a - 7, 4a + 10]: 18 wide. Fields alternate 14, 18; jump 1.
    model = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1), nn.Conv2d(4, 4, 4, 2, 1), nn.ConvTranspose2d(4, 4, 4, 2, 1),
                          nn.ConvTranspose2d(4, 1, 4, 2, 1))
    fields = rf(model, (1, 32, 32))
    assert [fields[str(i)].size[0] for i in range(4)] == [4, 10, 14, 18]  # the largest field of each layer
    assert [fields[str(i)].jump[0] for i in range(4)] == [2, 4, 2, 1]
    assert fields["2"].bounds((6, 7)) == ((4 * 3 - 7, 4 * 3 + 6), (4 * 3 - 3, 4 * 3 + 10))
    a = 3
    assert fields["3"].bounds((2 * (2 * a), 2 * (2 * a + 1))) == ((4 * a - 7, 4 * a + 6), (4 * a - 7, 4 * a + 10))


def test_same_padding_and_adaptive_pooling():
    model = nn.Sequential(nn.Conv1d(1, 1, 4, stride=2, padding="same"), nn.AdaptiveAvgPool1d(3))
    fields = rf(model, (1, 11))
    # same for n=11, k=4, s=2: output 6, total padding 3: before 1; output o reads [2o - 1, 2o + 2]
    assert fields["0"].bounds((0,)) == ((-1, 2),) and fields["0"].size == (4,)
    # adaptive 6 -> 3: bins [0, 2), [2, 4), [4, 6): output 1 reads conv outputs 2, 3 = input [3, 8]
    assert fields["1"].bounds((1,)) == ((3, 8),) and fields["1"].size == (6,)


def gradient_support(model, shape, index):
    x = convzoo.tensor(np.random.default_rng(0).standard_normal((1,) + shape), dtype=np.float64, requires_grad=True)
    # a direct algorithm: an FFT or Winograd path leaves ~1e-17 rounding outside the support
    with convzoo.use_algorithm("im2col"):
        out = model(x)
        out[(0, 0) + index].backward()
    nonzero = x.grad.numpy()[0].any(axis=0)  # over channels
    return nonzero


def field_mask(layer, shape, index):
    mask = np.zeros(shape[1:], dtype=bool)
    box = tuple(slice(max(lo, 0), min(hi, n - 1) + 1) for (lo, hi), n in zip(layer.bounds(index), shape[1:]))
    mask[box] = True
    return mask


EMPIRICAL = {
    "lenet geometry": (lambda: nn.Sequential(nn.Conv2d(1, 3, 5, padding=2), nn.AvgPool2d(2), nn.Conv2d(3, 4, 5),
                                             nn.AvgPool2d(2)), (1, 28, 28), [(0, 0), (2, 3), (4, 4)]),
    "dilated": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.Conv2d(2, 2, 3, padding=2, dilation=2),
                                      nn.Conv2d(2, 1, 3, padding=4, dilation=4)), (1, 24, 24), [(12, 12), (0, 5), (23, 1)]),
    "decoder": (lambda: nn.Sequential(nn.Conv2d(1, 2, 4, 2, 1), nn.Conv2d(2, 2, 4, 2, 1),
                                      nn.ConvTranspose2d(2, 2, 4, 2, 1), nn.ConvTranspose2d(2, 1, 4, 2, 1)),
                (1, 16, 16), [(8, 8), (7, 9), (0, 0), (15, 6)]),
    "strided same and adaptive": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding="same"),
                                                         nn.Conv2d(2, 2, (3, 2), stride=(1, 2)),
                                                         nn.AdaptiveAvgPool2d((3, 2))), (1, 17, 18), [(1, 0), (2, 1)]),
}


@pytest.mark.parametrize("name", list(EMPIRICAL))
def test_gradient_is_nonzero_exactly_inside_the_field(name):
    build, shape, indices = EMPIRICAL[name]
    model = build().double()
    last = convzoo.receptive_field(model, shape)[-1]
    for index in indices:
        support = gradient_support(model, shape, index)
        np.testing.assert_array_equal(support, field_mask(last, shape, index), err_msg=f"{name} at {index}")


class Branchy(nn.Module):
    """A forward that makes new tensors between layers (x * 2): found again by shape."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3, stride=2)

    def forward(self, x):
        return self.b(self.a(x) * 2.0)


def test_ops_between_layers_and_state_is_restored():
    model = Branchy()
    model.train()
    fields = rf(model, (1, 9, 9))
    assert fields["b"].size == (5, 5) and fields["b"].jump == (2, 2)  # 3 + (3 - 1) * 1, not b alone (3)
    assert model.training and all("forward" not in m.__dict__ for m in model.modules())
    assert "Branchy" in str(model.summary((1, 9, 9)))


def test_table_lists_every_layer_and_totals():
    text = str(lenet5().summary((1, 28, 28)))
    for piece in ("Layer (type)", "Output shape", "Params", "MACs", "RF size", "Jump", "Start", "0 (Conv2d)",
                  "(16, 5, 5)", "16x16", "all 28x28", "Total params: 61,706", "Multiply-accumulates per sample: 416,520"):
        assert piece in text, piece


@pytest.mark.parametrize("shape", [(28, 28, 1, 1, 1), (1, 0, 28), "1x28x28", (1.0, 28, 28), ()])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape"):
        lenet5().summary(shape)


def test_models_from_the_zoo():
    models = pytest.importorskip("convzoo.models")
    text = str(models.LeNet5().summary((1, 28, 28)))
    assert "16x16" in text and "61,706" in text
