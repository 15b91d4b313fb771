"""``convzoo filter``: named and custom kernels on real image files, and every bad input."""
import numpy as np
import pytest
from PIL import Image, ImageFilter

from convzoo import filters
from convzoo.cli import main
from tests.filters.conftest import drawn_scene


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(drawn_scene()).save(path)
    return path


def run(capsys, *argv):
    code = main(["filter", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_named_kernel_with_parameters(capsys, photo, tmp_path):
    target = tmp_path / "blurred.png"
    code, out, _ = run(capsys, photo, "-k", "gaussian", "-p", "sigma=2.5", "-o", target)
    assert code == 0 and "wrote" in out
    expected = filters.gaussian_blur(drawn_scene(), 2.5)
    np.testing.assert_array_equal(np.asarray(Image.open(target)), expected)


def test_pillow_kernel_and_its_offset(capsys, photo, tmp_path):
    target = tmp_path / "embossed.tif"
    assert run(capsys, photo, "-k", "emboss", "-p", "direction=ne", "-o", target)[0] == 0
    np.testing.assert_array_equal(np.asarray(Image.open(target)), filters.emboss(drawn_scene(), "ne"))
    grey = tmp_path / "grey.png"
    Image.fromarray(drawn_scene()).convert("L").save(grey)
    assert run(capsys, grey, "-k", "sharpen", "-o", tmp_path / "sharp.png")[0] == 0
    ours = np.asarray(Image.open(tmp_path / "sharp.png")).astype(int)
    theirs = np.asarray(Image.open(grey).filter(ImageFilter.SHARPEN)).astype(int)
    assert np.abs(ours - theirs)[1:-1, 1:-1].max() <= 1


def test_custom_kernel_inline_and_from_file(capsys, photo, tmp_path):
    matrix = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
    expected = filters.apply(drawn_scene(), matrix, mode="replicate", flip=True)
    assert run(capsys, photo, "--kernel", "[[0,-1,0],[-1,5,-1],[0,-1,0]]", "--mode", "replicate", "--flip",
               "-o", tmp_path / "a.png")[0] == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a.png")), expected)
    (tmp_path / "k.txt").write_text("0 -1 0\n-1, 5, -1\n0 -1 0\n")
    assert run(capsys, photo, "--kernel-file", tmp_path / "k.txt", "--mode", "replicate", "--flip",
               "-o", tmp_path / "b.png")[0] == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "b.png")), expected)


def test_rgba_keeps_alpha_and_jpeg_drops_it(capsys, tmp_path):
    rgba = np.dstack([drawn_scene(), np.full(drawn_scene().shape[:2], 200, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "in.png")
    assert run(capsys, tmp_path / "in.png", "-k", "blur", "-o", tmp_path / "out.png")[0] == 0
    out = np.asarray(Image.open(tmp_path / "out.png"))
    assert out.shape == rgba.shape and (out[..., 3] == 200).all()
    assert run(capsys, tmp_path / "in.png", "-k", "blur", "-o", tmp_path / "out.jpg")[0] == 0
    assert Image.open(tmp_path / "out.jpg").mode == "RGB"


def test_list_shows_every_kernel_with_its_matrix(capsys):
    code, out, _ = run(capsys, "--list")
    assert code == 0
    for name in filters.KERNELS:
        assert f"\n{name}: " in "\n" + out
    assert "[[-1.  0.  1.]" in out and "offset mid-grey (128)" in out


def test_existing_output_is_not_clobbered(capsys, photo, tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    code, _, err = run(capsys, photo, "-k", "box", "-o", target)
    assert code == 2 and "exists" in err and "--force" in err
    assert target.read_bytes() == b"precious"
    assert run(capsys, photo, "-k", "box", "-o", target, "--force")[0] == 0
    assert Image.open(target).size == (80, 64)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


@pytest.mark.parametrize("argv, message", [
    (["{missing}", "-k", "box", "-o", "{out}"], "does not exist"),
    (["{garbage}", "-k", "box", "-o", "{out}"], "cannot read"),
    (["{photo}", "-k", "gausian", "-o", "{out}"], "unknown kernel name 'gausian'"),
    (["{photo}", "-k", "[[1, 2], [3]]", "-o", "{out}"], "rectangular matrix"),
    (["{photo}", "-k", "[[1, 2], [3, x]]", "-o", "{out}"], "rectangular matrix"),
    (["{photo}", "-k", "[]", "-o", "{out}"], "non-empty 2-D matrix"),
    (["{photo}", "-k", "[[[1]]]", "-o", "{out}"], "non-empty 2-D matrix"),
    (["{photo}", "--kernel-file", "{missing}", "-o", "{out}"], "cannot read kernel file"),
    (["{photo}", "-k", "box", "--kernel-file", "{missing}", "-o", "{out}"], "exactly one of"),
    (["{photo}", "-o", "{out}"], "exactly one of"),
    (["{photo}", "-k", "box"], "INPUT and -o OUTPUT are required"),
    (["{photo}", "-k", "box", "-p", "sigma=2", "-o", "{out}"], "takes no parameter sigma"),
    (["{photo}", "-k", "box", "-p", "size", "-o", "{out}"], "KEY=VALUE"),
    (["{photo}", "-k", "gaussian", "-p", "sigma=-1", "-o", "{out}"], "sigma must be a positive number"),
    (["{photo}", "-k", "[[1]]", "-p", "size=3", "-o", "{out}"], "named kernels only"),
    (["{photo}", "-k", "box", "-o", "{nodir}"], "does not exist"),
    (["{photo}", "-k", "box", "-o", "{nosuffix}"], "cannot tell the image format"),
    (["{photo}", "-k", "box", "--mode", "constant", "--cval", "nan", "-o", "{out}"], "cval must be a finite number"),
])
def test_bad_input_is_one_clear_line(capsys, photo, tmp_path, argv, message):
    (tmp_path / "garbage.png").write_bytes(b"not an image at all")
    names = dict(photo=photo, out=tmp_path / "o.png", missing=tmp_path / "missing.png",
                 garbage=tmp_path / "garbage.png", nodir=tmp_path / "no" / "o.png", nosuffix=tmp_path / "o")
    code, _, err = run(capsys, *[a.format(**names) for a in argv])
    assert code == 2 and err.startswith("convzoo filter: error:") and message in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()


def test_unknown_mode_is_an_argparse_error(capsys, photo, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(["filter", str(photo), "-k", "box", "--mode", "mirror", "-o", str(tmp_path / "o.png")])
    assert info.value.code == 2 and "invalid choice: 'mirror'" in capsys.readouterr().err


def test_sixteen_bit_and_float_images(capsys, tmp_path):
    deep = (np.asarray(Image.fromarray(drawn_scene()).convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert run(capsys, tmp_path / "deep.png", "-k", "box", "-o", tmp_path / "deep_out.png")[0] == 0
    out = np.asarray(Image.open(tmp_path / "deep_out.png"))
    np.testing.assert_array_equal(out, filters.box_blur(np.asarray(Image.open(tmp_path / "deep.png"))))
    Image.fromarray(deep.astype(np.float32) / 65535).save(tmp_path / "float.tif")
    assert run(capsys, tmp_path / "float.tif", "-k", "box", "-o", tmp_path / "float_out.tif")[0] == 0
    assert Image.open(tmp_path / "float_out.tif").mode == "F"
    code, _, err = run(capsys, tmp_path / "float.tif", "-k", "box", "-o", tmp_path / "float_out.png")
    assert code == 2 and "cannot write" in err  # PNG has no float mode: a clear error, nothing left behind
    assert not (tmp_path / "float_out.png").exists() and not list(tmp_path.glob(".*"))
