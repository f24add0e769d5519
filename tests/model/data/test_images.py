import numpy as np
import pytest
from PIL import Image

from model.data.images import image_set, list_images, natural_key, read_image, read_size
from model.errors import ImageReadError


@pytest.fixture
def rgb():
    img = np.zeros((40, 60, 3), np.uint8)
    img[:10, :20] = [255, 0, 0]
    img[30:, 50:] = [0, 0, 255]
    return img


@pytest.mark.parametrize("ext", ["png", "bmp", "tif", "webp"])
def test_lossless_formats_read_exactly(tmp_path, rgb, ext):
    p = tmp_path / f"a.{ext}"
    kwargs = {"lossless": True} if ext == "webp" else {}
    Image.fromarray(rgb).save(p, **kwargs)
    out = read_image(p)
    assert out.dtype == np.uint8 and out.shape == (40, 60, 3)
    assert np.array_equal(out, rgb)


def test_jpeg_reads_as_rgb(tmp_path, rgb):
    p = tmp_path / "a.jpg"
    Image.fromarray(rgb).save(p, quality=100)
    out = read_image(p)
    assert out.shape == (40, 60, 3)
    assert np.abs(out.astype(int) - rgb).mean() < 5
    assert out[2, 2, 0] > 240 and out[2, 2, 2] < 15  # red stays red: RGB, not BGR


def test_exif_orientation_applied(tmp_path, rgb):
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = tmp_path / "rot.jpg"
    im.save(p, exif=exif, quality=100)
    out = read_image(p)
    assert out.shape == (60, 40, 3)
    assert read_size(p) == (40, 60)
    assert out[2, -3, 0] > 240  # the red top-left block is now top-right


def test_grey_grey_alpha_rgba_palette(tmp_path, rgb):
    cases = {"L": "l.png", "LA": "la.png", "RGBA": "rgba.png", "P": "p.png"}
    for mode, name in cases.items():
        Image.fromarray(rgb).convert(mode).save(tmp_path / name)
        out = read_image(tmp_path / name)
        assert out.shape == (40, 60, 3) and out.dtype == np.uint8, mode
    assert np.array_equal(read_image(tmp_path / "rgba.png"), rgb)
    assert np.array_equal(read_image(tmp_path / "p.png"), rgb)
    grey = read_image(tmp_path / "l.png")
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()


def test_16bit_grey_and_colour_are_stretched(tmp_path):
    import cv2
    g = (np.arange(40 * 60).reshape(40, 60) + 1000).astype(np.uint16)  # a dim 12-bit-ish frame
    Image.fromarray(g).save(tmp_path / "g16.png")
    out = read_image(tmp_path / "g16.png")
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    c = np.zeros((20, 30, 3), np.uint16)
    c[..., 2] = 60000  # BGR on disk: red in RGB
    cv2.imwrite(str(tmp_path / "c16.tif"), c)
    out = read_image(tmp_path / "c16.tif")
    assert out.shape == (20, 30, 3) and out[0, 0, 0] == 255 and out[0, 0, 2] == 0


@pytest.mark.parametrize("ext", ["jpg", "png", "tif", "bmp", "webp"])
def test_truncated_file_is_a_clear_error(tmp_path, rgb, ext):
    noisy = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    full = tmp_path / f"full.{ext}"
    Image.fromarray(noisy).save(full)
    cut = tmp_path / f"cut.{ext}"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError) as e:
        read_image(cut)
    assert str(cut) in str(e.value)


def test_empty_non_image_missing_and_folder(tmp_path):
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("this is not an image")
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 50)
    for name, word in [("zero.png", "empty"), ("text.jpg", "not an image"),
                       ("garbage.png", ""), ("missing.png", "not found")]:
        with pytest.raises(ImageReadError) as e:
            read_image(tmp_path / name)
        assert name in str(e.value) and word in str(e.value)
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


def test_pixel_limit_refuses_before_decoding(tmp_path, rgb):
    p = tmp_path / "a.png"
    Image.fromarray(rgb).save(p)
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(p, max_pixels=1000)
    assert read_image(p, max_pixels=2400).shape == (40, 60, 3)


def test_list_images_recursive_sorted(tmp_path, rgb):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ["b/z.png", "a.JPG", "c.txt", ".hidden/x.png", "b/a.webp"]:
        (tmp_path / name).write_bytes(b"x")
    names = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert names == ["a.JPG", "b/a.webp", "b/z.png"]


def test_list_images_is_in_natural_order(tmp_path):
    (tmp_path / "run10").mkdir()
    (tmp_path / "run9").mkdir()
    for name in ["img10.png", "IMG2.png", "img1.png", "img2b.png", "img.png", "run10/a.png",
                 "run9/a.png"]:
        (tmp_path / name).write_bytes(b"x")
    names = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert names == ["img.png", "img1.png", "IMG2.png", "img2b.png", "img10.png", "run9/a.png",
                     "run10/a.png"]


def test_natural_key_numbers_case_and_ties():
    assert sorted(["a10", "a2", "A1", "a01", "b", "a"], key=natural_key) == [
        "a", "A1", "a01", "a2", "a10", "b"]  # A1 = a01 as numbers; the text breaks the tie
    assert natural_key("X1") != natural_key("x1")  # a total order: the text breaks ties


def test_image_set_roots_at_the_deepest_common_folder(tmp_path):
    a, b = tmp_path / "a" / "img10.png", tmp_path / "a" / "img9.png"
    root, images = image_set([a, b, a])
    assert root == tmp_path / "a" and images == [b, a]  # natural order, no duplicate
    c = tmp_path / "c" / "d" / "x.png"
    root, images = image_set([c, a])
    assert root == tmp_path and images == [a, c]
    with pytest.raises(ValueError):
        image_set([])
