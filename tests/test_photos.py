"""Photo folders as they really are (issue 13): mixed sizes, grey and colour, JPEG and
PNG in class folders, resize and crop, numbers for torchvision and Keras.

Oracles: Pillow's own decoding, conversion and resampling; numpy and scipy.stats on the
concatenated pixels; ``sorted(os.listdir)`` for the class and file order (torchvision's
ImageFolder); torchvision's documented rounding of Resize and CenterCrop, written out
here from ``torchvision/transforms/functional.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE, assert_matches_scipy, assert_one_error_line, scipy_describe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from normcli.io import ReadOptions, open_reader
from normcli.io.image_transforms import ImageTransform
from normcli.ragged import PixelStream

PHOTOS = SAMPLE / "photos"
RNG = np.random.default_rng(13)
FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def framework_files(root: Path) -> list[str]:
    """torchvision's ImageFolder order: sorted class names, then sorted(os.walk) files."""
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
    out = []
    for cls in classes:
        for dirpath, _, names in sorted(os.walk(root / cls)):
            for name in sorted(names):
                out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def pil_rgb(root: Path, files: list[str]) -> list[np.ndarray]:
    return [np.asarray(Image.open(root / f).convert("RGB")) for f in files]


def torchvision_resize(im: Image.Image, size, interpolation="bilinear") -> Image.Image:
    """transforms.Resize on a PIL image, as torchvision's functional.py computes it."""
    w, h = im.size
    if isinstance(size, int):
        short, long = (w, h) if w <= h else (h, w)
        if short == size:
            return im
        new_short, new_long = size, int(size * long / short)
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        new_h, new_w = size
    return im.resize((new_w, new_h), FILTERS[interpolation])


def torchvision_center_crop(im: Image.Image, size: int) -> Image.Image:
    w, h = im.size
    top = round((h - size) / 2.0)
    left = round((w - size) / 2.0)
    return im.crop((left, top, left + size, top + size))


def describe_json(invoke, *args) -> dict:
    result = invoke("describe", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["arrays"][0]


@pytest.fixture
def mixed(tmp_path) -> Path:
    """A small folder of colour photos of different sizes, JPEG and PNG, in classes whose
    natural order differs from their sorted order."""
    root = tmp_path / "photos"
    sizes = [("c10", 40, 30), ("c10", 33, 47), ("c2", 50, 50), ("c2", 24, 61), ("b", 70, 20)]
    for i, (cls, w, h) in enumerate(sizes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        y, x = np.mgrid[0:h, 0:w]
        img = np.dstack([(x * 255 // w), (y * 255 // h), RNG.integers(0, 256, (h, w))])
        suffix = ".jpg" if i % 2 else ".png"
        Image.fromarray(img.astype(np.uint8)).save(root / cls / f"img{10 - i}{suffix}")
    return root


# -- the shipped photos: mixed sizes, grey and colour, JPEG and PNG, in classes -------------


def test_sample_photos_are_what_the_tests_need():
    files = framework_files(PHOTOS)
    sizes = {Image.open(PHOTOS / f).size for f in files}
    modes = {Image.open(PHOTOS / f).mode for f in files}
    suffixes = {Path(f).suffix for f in files}
    assert len(sizes) > 1 and {"L", "RGB"} <= modes and {".jpg", ".png"} <= suffixes
    total = sum((PHOTOS / f).stat().st_size for f in files)
    assert total < 300_000
    assert (SAMPLE / "README.md").read_text().count("photos/") >= 1


@pytest.mark.parametrize("rows", [1, 2, 50, "n", "n+42", None])
@pytest.mark.parametrize("folder", ["photos", "mixed"])
def test_pooled_statistics_equal_numpy_on_concatenated_pixels(invoke, mixed, folder, rows):
    root = PHOTOS if folder == "photos" else mixed
    files = framework_files(root)
    pixels = np.concatenate([a.reshape(-1, 3) for a in pil_rgb(root, files)])
    if folder == "photos" and rows in (1, 2):
        return  # 45,000 pieces: the small folder covers these
    # --chunk-size in bytes: so many pixel rows of 3 bytes per piece in flight
    n = len(pixels)
    chunk = "64MiB" if rows is None else str(3 * {"n": n, "n+42": n + 42}.get(rows, rows) * 6)
    per_channel = describe_json(invoke, root, "--axis", "0,1,2", "--chunk-size", chunk)
    assert per_channel["shape"] == [len(files), None, None, 3]
    assert_matches_scipy(per_channel["stats"], scipy_describe(pixels, (0,)))
    everything = describe_json(invoke, root, "--chunk-size", chunk)
    assert_matches_scipy(everything["stats"], scipy_describe(pixels))


def test_per_image_statistics_equal_numpy_image_by_image(invoke):
    images = pil_rgb(PHOTOS, framework_files(PHOTOS))
    per_image = describe_json(invoke, PHOTOS, "--axis", "1,2,3")
    oracle = [scipy_describe(a) for a in images]
    stacked = {k: np.array([o[k] for o in oracle]) for k in oracle[0]}
    assert_matches_scipy(per_image["stats"], stacked)
    per_image_channel = describe_json(invoke, PHOTOS, "--axis", "1,2")
    oracle = [scipy_describe(a.reshape(-1, 3), (0,)) for a in images]
    stacked = {k: np.stack([np.broadcast_to(o[k], (3,)) for o in oracle]) for k in oracle[0]}
    assert_matches_scipy(per_image_channel["stats"], stacked)


def test_the_mean_of_per_image_figures_is_not_what_is_reported(invoke):
    # the mistake of the hand-written scripts: averaging per-image stds
    images = pil_rgb(PHOTOS, framework_files(PHOTOS))
    naive = np.mean([a.reshape(-1, 3).std(axis=0) for a in images], axis=0)
    pooled = np.concatenate([a.reshape(-1, 3) for a in images]).astype(float).std(axis=0)
    assert not np.allclose(naive, pooled, rtol=1e-3)
    got = describe_json(invoke, PHOTOS, "--axis", "0,1,2")["stats"]
    n = np.asarray(got["nobs"], float)
    np.testing.assert_allclose(np.sqrt(np.asarray(got["variance"]) * (n - 1) / n), pooled, 1e-12)


def test_grey_in_a_colour_folder_is_read_as_rgb_with_a_note(invoke):
    result = invoke("describe", PHOTOS, "--axis", "0,1,2", "--json")
    assert "1 image of 7" in result.stderr and "read as RGB" in result.stderr
    with open_reader(PHOTOS, ReadOptions(mode="L")) as r:  # --mode still overrides
        assert r.info("images").shape[3:] == ()


def test_axis_0_on_mixed_sizes_is_an_error_suggesting_resize(invoke):
    result = invoke("describe", PHOTOS, "--axis", "0", "--mode", "RGB")
    assert result.exit_code == 1
    assert_one_error_line(result, "--axis 0", "--resize", "widths vary 64-120")


def test_labels_and_files_follow_sorted_names_as_torchvision(mixed):
    with open_reader(mixed, ReadOptions()) as r:
        texts, labels = r.texts(), r.read("labels")
    files = framework_files(mixed)
    classes = sorted(os.listdir(mixed))
    assert classes == ["b", "c10", "c2"]  # natural order would be b, c2, c10
    assert texts["filenames"] == files
    assert texts["class_names"] == classes
    np.testing.assert_array_equal(labels, [classes.index(f.split("/")[0]) for f in files])
    with open_reader(mixed, ReadOptions(class_order="natural")) as r:
        assert r.texts()["class_names"] == ["b", "c2", "c10"]


def test_ls_shows_that_sizes_vary(invoke, mixed):
    result = invoke("ls", mixed)
    assert result.exit_code == 0
    assert "(5, *, *, 3)" in result.stdout
    widths = [Image.open(mixed / f).size[0] for f in framework_files(mixed)]
    heights = [Image.open(mixed / f).size[1] for f in framework_files(mixed)]
    assert f"widths {min(widths)}-{max(widths)}, heights {min(heights)}-{max(heights)}" in (
        result.stdout
    )
    doc = json.loads(invoke("ls", mixed, "--json").stdout)["arrays"][0]
    assert doc["shape"] == [5, None, None, 3]
    assert doc["heights"] == [min(heights), max(heights)]
    assert doc["widths"] == [min(widths), max(widths)]
    assert doc["bytes"] == sum(w * h * 3 for w, h in zip(widths, heights, strict=True))


# -- the pixel stream: every chunking gives the concatenated pixels ---------------------------


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.integers(1, 3000))
def test_pixel_stream_is_the_concatenated_pixels_for_any_chunk(mixed, rows):
    oracle = np.concatenate([a.reshape(-1, 3) for a in pil_rgb(mixed, framework_files(mixed))])
    with open_reader(mixed, ReadOptions()) as r:
        stream = PixelStream(r)
        chunks = [np.array(c) for c in stream.iter_chunks("images", rows)]
    assert all(len(c) <= rows for c in chunks)
    np.testing.assert_array_equal(np.concatenate(chunks).reshape(-1, 3), oracle)


# -- resize and crop: Pillow's pixels, torchvision's sizes ------------------------------------


@pytest.mark.parametrize("interpolation", list(FILTERS))
@pytest.mark.parametrize(
    ("resize", "crop"), [("32", None), ("20x25", None), ("32", "30"), (None, "20"), ("47", "24")]
)
def test_resize_and_crop_equal_pillow(mixed, resize, crop, interpolation):
    files = framework_files(mixed)
    size = None if resize is None else tuple(int(v) for v in resize.split("x"))
    t_size = None
    if size is not None:
        t_size = size[0] if len(size) == 1 else (size[1], size[0])  # torchvision: (h, w)
    expected = []
    for f in files:
        im = Image.open(mixed / f).convert("RGB")
        if t_size is not None:
            im = torchvision_resize(im, t_size, interpolation)
        if crop is not None:
            im = torchvision_center_crop(im, int(crop))
        expected.append(np.asarray(im))
    transform = ImageTransform(
        None if size is None else (size[0], size[1] if len(size) > 1 else None),
        None if crop is None else (int(crop), int(crop)),
        interpolation,
    )
    if resize is None and crop is not None and min(min(e.shape[:2]) for e in expected) < 20:
        return
    with open_reader(mixed, ReadOptions(transform=transform)) as r:
        info = r.info("images")
        uniform = len({e.shape for e in expected}) == 1
        assert bool(info.extra.get("ragged")) is not uniform
        got = list(r.iter_images())
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


def test_an_image_already_at_the_size_is_left_as_it_is(tmp_path):
    img = RNG.integers(0, 256, (30, 45, 3), dtype=np.uint8)
    save_dir = tmp_path / "d"
    save_dir.mkdir()
    Image.fromarray(img).save(save_dir / "a.png")
    with open_reader(save_dir, ReadOptions(transform=ImageTransform((30, None)))) as r:
        np.testing.assert_array_equal(r.read("images")[0], img)


def test_resize_makes_a_uniform_array_with_labels_names_and_files(invoke, tmp_path):
    out = tmp_path / "out.npz"
    result = invoke(
        "normalize", PHOTOS, out, "--resize", "64", "--center-crop", "48", "-m", "scale",
        "--factor", "1", "--mode", "RGB",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    files = framework_files(PHOTOS)
    expected = [
        np.asarray(torchvision_center_crop(torchvision_resize(im, 64), 48))
        for im in (Image.open(PHOTOS / f).convert("RGB") for f in files)
    ]
    with np.load(out) as z:
        assert sorted(z.files) == ["class_names", "filenames", "images", "labels"]
        np.testing.assert_array_equal(z["images"], np.stack(expected).astype(z["images"].dtype))
        assert list(z["filenames"]) == files
        assert list(z["class_names"]) == sorted(os.listdir(PHOTOS))
        np.testing.assert_array_equal(
            z["labels"], [sorted(os.listdir(PHOTOS)).index(f.split("/")[0]) for f in files]
        )


def test_mixed_sizes_to_an_array_file_name_resize(invoke, tmp_path, mixed):
    for out in ("o.npz", "o.h5"):
        result = invoke("normalize", mixed, tmp_path / out, "-m", "per-image")
        assert result.exit_code == 1
        assert_one_error_line(result, "different sizes", "--resize", "--center-crop")
        assert not (tmp_path / out).exists()


def test_mixed_sizes_to_an_image_folder_keep_each_size(invoke, tmp_path, mixed):
    files = framework_files(mixed)
    images = pil_rgb(mixed, files)
    result = invoke(
        "normalize", mixed, f"{tmp_path}/out/", "-m", "zscore", "--axis", "0,1,2",
        "--image-format", "tiff",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    pixels = np.concatenate([a.reshape(-1, 3) for a in images]).astype(np.float64)
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    import tifffile

    for f, img in zip(files, images, strict=True):
        got = tifffile.imread(tmp_path / "out" / Path(f).with_suffix(".tif"))
        assert got.shape == img.shape
        np.testing.assert_allclose(got, (img - mean) / std, rtol=1e-6, atol=1e-6)


# -- numbers that paste into the frameworks ---------------------------------------------------


def _numbers(code: str, name: str) -> list[float]:
    m = re.search(rf"{name}=\[([^\]]*)\]", code)
    return [float(v) for v in m.group(1).split(",")]


def test_torchvision_export_equals_numpy_on_pixels_over_255(invoke, tmp_path):
    params = tmp_path / "params.json"
    result = invoke("fit", PHOTOS, "-m", "zscore", "--axis", "0,1,2", "-o", params)
    assert result.exit_code == 0, result.stderr
    code = invoke("export", params, "--to", "torchvision")
    assert code.exit_code == 0, code.stderr
    pixels = np.concatenate([a.reshape(-1, 3) for a in pil_rgb(PHOTOS, framework_files(PHOTOS))])
    scaled = pixels / 255.0
    np.testing.assert_allclose(_numbers(code.stdout, "mean"), scaled.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(_numbers(code.stdout, "std"), scaled.std(axis=0), rtol=1e-12)
    assert "transforms.Normalize(" in code.stdout
    keras = invoke("export", params, "--to", "keras").stdout
    assert "keras.layers.Normalization(" in keras and "axis=-1," in keras and "raw pixel" in keras
    np.testing.assert_allclose(_numbers(keras, "mean"), pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(_numbers(keras, "variance"), pixels.var(axis=0), rtol=1e-12)
    doc = json.loads(invoke("export", params, "--to", "json").stdout)
    np.testing.assert_allclose(doc["torchvision"]["std"], scaled.std(axis=0), rtol=1e-12)


def test_export_of_sample_std_is_converted_to_population(invoke, tmp_path):
    x = RNG.integers(0, 65536, (20, 4, 4, 3)).astype(np.uint16)
    np.savez(tmp_path / "x.npz", x=x)
    params = tmp_path / "p.json"
    fit = ("fit", tmp_path / "x.npz", "-m", "zscore", "--axis", "0,1,2", "--ddof", "1")
    invoke(*fit, "-o", params)
    code = invoke("export", params, "--to", "torchvision").stdout
    assert "uint16 / 65535" in code
    flat = x.reshape(-1, 3) / 65535.0
    np.testing.assert_allclose(_numbers(code, "std"), flat.std(axis=0), rtol=1e-12)


def test_export_refuses_what_normalize_cannot_take(invoke, tmp_path):
    x = RNG.random((10, 4)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    params = tmp_path / "p.json"
    invoke("fit", tmp_path / "x.npz", "-m", "zscore", "--axis", "0", "-o", params)
    result = invoke("export", params, "--to", "torchvision")
    assert result.exit_code == 2
    assert_one_error_line(result, "--axis 0,1,2")


# -- without -k, a folder means its images ---------------------------------------------------------


def test_normalize_a_class_folder_without_k_writes_images_labels_names_files(invoke, tmp_path):
    out = tmp_path / "o.npz"
    result = invoke("normalize", PHOTOS, out, "--resize", "32x32", "-m", "per-image")
    assert result.exit_code == 0, result.stderr
    with np.load(out) as z:
        assert sorted(z.files) == ["class_names", "filenames", "images", "labels"]
        assert z["images"].shape == (7, 32, 32, 3)


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--resize", "0"),
        ("--resize", "10x"),
        ("--resize", "x10"),
        ("--resize", "32", "--center-crop", "40"),
        ("--resize", "30x20", "--center-crop", "25"),
        ("--interpolation", "bicubic"),
    ],
)
def test_bad_resize_options_are_usage_errors(invoke, mixed, args):
    result = invoke("describe", mixed, *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr and "Error:" in result.stderr


def test_resize_options_on_an_array_file_are_usage_errors(refused, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 3)))
    for flag, value in (("--resize", "8"), ("--center-crop", "8"), ("--class-order", "natural")):
        refused("describe", tmp_path / "x.npy", flag, value, code=2, needles=(flag, "x.npy"))
    refused("describe", tmp_path / "x.npy", "--exif-transpose", code=2, needles=("--exif",))


def test_an_image_too_small_for_the_crop_is_named_with_its_size(refused, mixed):
    sizes = [(f, Image.open(mixed / f).size) for f in framework_files(mixed)]
    first, (w, h) = next((f, s) for f, s in sizes if min(s) < 35)
    refused(
        "describe", mixed, "--center-crop", "35", code=1,
        needles=(first, f"{w}x{h}", "--center-crop 35x35"),
    )  # fmt: skip


# -- photos as cameras make them ------------------------------------------------------------------


def _exif_jpeg(path: Path, img: np.ndarray, orientation: int) -> None:
    im = Image.fromarray(img)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), quality=95)


def test_exif_orientation_read_as_stored_with_a_note_and_transposed_on_request(invoke, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    img = RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    _exif_jpeg(d / "a.jpg", img, 6)
    _exif_jpeg(d / "b.jpg", img, 1)
    Image.fromarray(img).save(d / "c.jpg", quality=95)
    stored = [np.asarray(Image.open(d / n)) for n in ("a.jpg", "b.jpg", "c.jpg")]
    with open_reader(d, ReadOptions()) as r:
        assert any("1 image of 3 carry an EXIF orientation" in n for n in r.notes)
        np.testing.assert_array_equal(r.read("images"), np.stack(stored))
    with open_reader(d, ReadOptions(exif_transpose=True)) as r:
        assert r.info("images").extra.get("ragged")  # a.jpg is now 20 wide, 30 high
        got = list(r.iter_images())
    upright = [np.asarray(ImageOps.exif_transpose(Image.open(d / f"{n}.jpg"))) for n in "abc"]
    assert got[0].shape == (30, 20, 3)
    for g, e in zip(got, upright, strict=True):
        np.testing.assert_array_equal(g, e)
    result = invoke("describe", d, "--json")
    assert "--exif-transpose" in result.stderr


def test_cmyk_jpeg_and_tiff_read_as_pillow_converts_them(tmp_path):
    import tifffile

    d = tmp_path / "d"
    d.mkdir()
    cmyk = RNG.integers(0, 256, (12, 10, 4), dtype=np.uint8)
    im = Image.frombuffer("CMYK", (10, 12), cmyk.tobytes(), "raw", "CMYK", 0, 1)
    im.save(d / "a.jpg", quality=95)
    tifffile.imwrite(d / "b.tif", cmyk, photometric="separated")
    with open_reader(d, ReadOptions()) as r:
        got = r.read("images")
    np.testing.assert_array_equal(got[0], np.asarray(Image.open(d / "a.jpg").convert("RGB")))
    np.testing.assert_array_equal(got[1], np.asarray(im.convert("RGB")))


def test_mode_l_unifies_8_and_16_bit_grey_by_widening(invoke, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    g8 = RNG.integers(0, 256, (6, 5), dtype=np.uint8)
    g16 = RNG.integers(0, 65536, (6, 5)).astype(np.uint16)
    Image.fromarray(g8).save(d / "a.png")
    Image.fromarray(g16).save(d / "b.png")
    result = invoke("describe", d)
    assert result.exit_code == 1
    assert_one_error_line(result, "b.png", "--mode L")
    with open_reader(d, ReadOptions(mode="L")) as r:
        got = r.read("images")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got[0], g8.astype(np.uint16) * 257)
    np.testing.assert_array_equal(got[1], g16)


def test_an_all_grey_folder_stays_grey(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for i in range(3):
        Image.fromarray(RNG.integers(0, 256, (5, 4 + i), dtype=np.uint8)).save(d / f"{i}.png")
    with open_reader(d, ReadOptions()) as r:
        assert r.info("images").shape[3:] == () and not r.notes


def test_decoding_in_threads_gives_the_files_in_order(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    imgs = RNG.integers(0, 256, (150, 9, 7, 3), dtype=np.uint8)
    for i, img in enumerate(imgs):
        Image.fromarray(img).save(d / f"{i:04d}.png")
    with open_reader(d, ReadOptions()) as r:
        for rows in (1, 2, 50, 150, 192):
            got = np.concatenate([np.array(c) for c in r.iter_chunks("images", rows)])
            np.testing.assert_array_equal(got, imgs)


def test_an_undecodable_image_mid_stream_is_one_error(refused, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for i in range(80):
        Image.fromarray(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(d / f"{i:03d}.png")
    data = (d / "040.png").read_bytes()
    (d / "040.png").write_bytes(data[: len(data) - 30])
    refused("describe", d, "--axis", "0,1,2", code=1, needles=("040.png",))
    shutil.rmtree(d)


def test_check_on_mixed_sizes_judges_the_pooled_pixels(invoke):
    images = pil_rgb(PHOTOS, framework_files(PHOTOS))
    pooled = float(np.concatenate([a.reshape(-1) for a in images]).astype(float).mean())
    naive = float(np.mean([a.mean() for a in images]))
    assert abs(pooled - naive) > 1e-3
    ok = invoke("check", PHOTOS, "--mode", "RGB", "--mean", repr(pooled), "--tol", "1e-9")
    assert ok.exit_code == 0, ok.stdout + ok.stderr
    bad = invoke("check", PHOTOS, "--mode", "RGB", "--mean", repr(naive), "--tol", "1e-9")
    assert bad.exit_code == 1


@pytest.mark.parametrize("axis", ["0,1,2", "all"])
def test_a_resized_folder_is_described_as_numpy_describes_the_resized_pixels(invoke, axis):
    files = framework_files(PHOTOS)
    resized = [
        np.asarray(Image.open(PHOTOS / f).convert("RGB").resize((40, 30), FILTERS["bilinear"]))
        for f in files
    ]
    pixels = np.stack(resized).reshape(-1, 3)
    got = describe_json(invoke, PHOTOS, "--resize", "40x30", "--axis", axis)
    assert got["shape"] == [len(files), 30, 40, 3]
    assert_matches_scipy(got["stats"], scipy_describe(pixels, (0,) if axis != "all" else None))
