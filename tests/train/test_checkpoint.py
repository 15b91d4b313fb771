"""Checkpoints: round trip without pickle, atomic writes, clear errors, never half-loaded."""
import json
import zipfile

import numpy as np
import pytest

from convzoo.nn import Module, Parameter
from convzoo.autograd import Tensor
from convzoo.optim import SGD, Adam, lr_scheduler
from convzoo.train import CheckpointError, get_rng_state, read_checkpoint, save_checkpoint, set_rng_state


class Affine(Module):
    def __init__(self, n_in=3, n_out=2, scale=1.0):
        super().__init__()
        self.weight = Parameter(np.random.default_rng(0).standard_normal((n_out, n_in)) * scale)
        self.bias = Parameter(np.zeros(n_out))
        self.register_buffer("calls", np.zeros(1))


ARCH = {"name": "affine", "config": {"n_in": 3, "n_out": 2}}


def trained(optimizer_cls=Adam):
    model = Affine()
    opt = optimizer_cls(model.parameters(), lr=0.1)
    sched = lr_scheduler.StepLR(opt, 2, gamma=0.5)
    for _ in range(3):
        for p in model.parameters():
            p.grad = Tensor(np.ones(p.shape))
        opt.step()
        sched.step()
    return model, opt, sched


def test_round_trip(tmp_path):
    model, opt, sched = trained()
    path = save_checkpoint(tmp_path / "run" / "model.npz", model, ARCH, opt, sched, epoch=3,
                           history={"epoch": [0, 1, 2], "history": {"loss": [1.0, 0.5, 0.25]}},
                           rng_state=get_rng_state(), extra={"classes": ["a", "b"], "normalize": [0.1, 0.3]})
    ckpt = read_checkpoint(path)
    assert ckpt.architecture == ARCH and ckpt.epoch == 3 and ckpt.extra["classes"] == ["a", "b"]
    assert ckpt.history["history"]["loss"] == [1.0, 0.5, 0.25]
    fresh = Affine(scale=5.0)
    fresh_opt = Adam(fresh.parameters(), lr=0.1)
    fresh_sched = lr_scheduler.StepLR(fresh_opt, 2, gamma=0.5)
    ckpt.restore(fresh, fresh_opt, fresh_sched)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[key], value)
    saved, restored = opt.state_dict(), fresh_opt.state_dict()
    assert restored["param_groups"] == saved["param_groups"]
    for i in saved["state"]:
        assert restored["state"][i]["step"] == saved["state"][i]["step"]
        np.testing.assert_array_equal(restored["state"][i]["exp_avg_sq"], saved["state"][i]["exp_avg_sq"])
    assert fresh_sched.state_dict() == sched.state_dict()
    # the file is a plain npz: every entry loads with allow_pickle=False
    with np.load(path, allow_pickle=False) as npz:
        assert "model/weight" in npz.files and json.loads(npz["meta.json"].tobytes())["epoch"] == 3


def test_rng_state_round_trip(tmp_path):
    np.random.seed(5)
    model, opt, _ = trained(SGD)
    save_checkpoint(tmp_path / "c.npz", model, ARCH, opt, rng_state=get_rng_state())
    want = np.random.random(3)
    np.random.random(10)
    set_rng_state(read_checkpoint(tmp_path / "c.npz").rng)
    np.testing.assert_array_equal(np.random.random(3), want)


def test_overwrite_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    model, opt, _ = trained()
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, ARCH, opt, epoch=1)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies in the middle of writing

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, ARCH, opt, epoch=2)
    monkeypatch.undo()
    assert read_checkpoint(path).epoch == 1  # the previous checkpoint survives intact
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:len(raw) // 2], "truncated or corrupt"),
    (lambda raw: raw[:-30], "truncated or corrupt"),
    (lambda raw: b"\x00" * len(raw), "truncated or corrupt"),
])
def test_truncated_or_corrupt_file_is_reported(tmp_path, damage, message):
    model, opt, _ = trained()
    path = save_checkpoint(tmp_path / "c.npz", model, ARCH, opt)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=message):
        read_checkpoint(path)


def test_flipped_byte_in_an_array_is_caught_by_the_crc(tmp_path):
    model, opt, _ = trained()
    path = save_checkpoint(tmp_path / "c.npz", model, ARCH, opt)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("model/weight.npy")
    raw = bytearray(path.read_bytes())
    # the member's data follows its 30-byte local header, name and extra field
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 130
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a readable convzoo checkpoint"):
        read_checkpoint(tmp_path / "other.npz")
    np.savez(tmp_path / "other2.npz", **{"meta.json": np.frombuffer(b'{"format": "x"}', dtype=np.uint8)})
    with pytest.raises(CheckpointError, match="not a convzoo checkpoint"):
        read_checkpoint(tmp_path / "other2.npz")
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.npz")


def test_pickled_object_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, **{"meta.json": np.array([{"format": "convzoo-checkpoint"}], dtype=object)})
    with pytest.raises(CheckpointError, match="not a readable convzoo checkpoint"):
        read_checkpoint(path)


def test_other_architecture_names_the_mismatched_keys_and_changes_nothing(tmp_path):
    model, opt, _ = trained()
    path = save_checkpoint(tmp_path / "c.npz", model, ARCH, opt)
    other = Affine(n_in=4)
    before = other.state_dict()
    with pytest.raises(CheckpointError, match=r"mismatched shapes \['weight: model \(2, 4\), checkpoint \(2, 3\)'\]"):
        read_checkpoint(path).restore(other)

    class Renamed(Module):
        def __init__(self):
            super().__init__()
            self.kernel = Parameter(np.zeros((2, 3)))
            self.bias = Parameter(np.zeros(2))

    with pytest.raises(CheckpointError, match=r"missing keys \['kernel'\], unexpected keys \['weight', 'calls'\]"):
        read_checkpoint(path).restore(Renamed())
    with pytest.raises(CheckpointError, match="architecture 'affine', not 'lenet5'"):
        read_checkpoint(path).check_model(model, name="lenet5")
    for key, value in before.items():
        np.testing.assert_array_equal(other.state_dict()[key], value)


def test_a_failing_optimizer_restore_rolls_the_model_back(tmp_path):
    model, opt, _ = trained(SGD)
    path = save_checkpoint(tmp_path / "c.npz", model, ARCH, opt)
    fresh = Affine(scale=3.0)
    before = fresh.state_dict()
    wrong_opt = SGD([fresh.weight], lr=0.1)  # one parameter group of the wrong size
    with pytest.raises(CheckpointError, match="nothing was changed: parameter group 0 has 2 parameters"):
        read_checkpoint(path).restore(fresh, wrong_opt)
    np.testing.assert_array_equal(fresh.weight.data, before["weight"])
    with pytest.raises(CheckpointError, match="holds optimizer state for SGD, not Adam"):
        read_checkpoint(path).restore(fresh, Adam(fresh.parameters()))
