"""Module features on real layers: a PyTorch state_dict loads one to one, train/eval, zero_grad,
apply, parameters, repr, and errors that name the layer or the mismatched keys."""
import numpy as np
import pytest
import torch

import convzoo
import convzoo.nn as nn


def lenet(lib):
    return lib.Sequential(lib.Conv2d(1, 6, 5, padding=2), lib.ReLU(), lib.MaxPool2d(2), lib.Conv2d(6, 16, 5),
                          lib.BatchNorm2d(16), lib.ReLU(), lib.AvgPool2d(2), lib.Flatten(), lib.Linear(400, 120),
                          lib.ReLU(), lib.Dropout(0.2), lib.Linear(120, 10))


def test_torch_state_dict_loads_one_to_one_and_the_model_agrees():
    torch.manual_seed(0)
    theirs, ours = lenet(torch.nn).double(), lenet(nn).double()
    theirs(torch.randn(4, 1, 28, 28, dtype=torch.float64))  # move BatchNorm's running statistics
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state)
    theirs.eval()
    ours.eval()
    assert not any(m.training for m in ours.modules())
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    np.testing.assert_allclose(ours(x).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)
    assert sum(p.size for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


def test_train_zero_grad_and_apply():
    model = lenet(nn)
    model.train()
    assert all(m.training for m in model.modules())
    loss = nn.CrossEntropyLoss()(model(np.ones((2, 1, 28, 28), np.float32)), np.array([1, 2]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    seen = []
    model.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Sequential" and seen.count("Conv2d") == 2
    nn.init.seed(0)
    model.apply(lambda m: m.reset_parameters() if isinstance(m, (nn.Conv2d, nn.Linear)) else None)
    nn.init.seed(0)
    fresh = lenet(nn)
    np.testing.assert_array_equal(model[0].weight.numpy(), fresh[0].weight.numpy())


def test_load_state_dict_names_mismatched_keys_and_shapes():
    model = lenet(nn)
    state = model.state_dict()
    state["8.weight"] = np.zeros((120, 300), np.float32)
    with pytest.raises(ValueError, match=r"8\.weight: expected \(120, 400\), received \(120, 300\)"):
        model.load_state_dict(state)
    del state["8.weight"]
    state["head.weight"] = np.zeros(3)
    with pytest.raises(KeyError, match=r"missing keys \['8\.weight'\], unexpected keys \['head\.weight'\]"):
        model.load_state_dict(state)


def test_layer_errors_carry_the_dotted_path_through_custom_modules():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.features(x).mean(dim=(2, 3)))

    net = Net()
    with pytest.raises(nn.LayerError) as info:
        net(np.ones((2, 1, 8, 8), np.float32))
    assert str(info.value).startswith("features.0 (Conv2d): conv2d expects input of shape (N, C, H, W) with C=3")
    assert "received (2, 1, 8, 8)" in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value.module, nn.Conv2d)
    assert net(np.ones((2, 3, 8, 8), np.float32)).shape == (2, 2)


def test_repr_of_a_model():
    text = repr(nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2, 2)))
    assert text == ("Sequential(\n  (0): Conv2d(1, 6, kernel_size=(5, 5))\n  (1): ReLU()\n"
                    "  (2): MaxPool2d(kernel_size=2)\n)")


def test_float64_model_end_to_end():
    model = lenet(nn).double()
    out = model(np.ones((2, 1, 28, 28)))
    assert out.dtype == np.float64
    with pytest.raises(TypeError, match="does not match"):
        model(np.ones((2, 1, 28, 28), np.float32))
    assert convzoo.Tensor  # the package entry point still imports
