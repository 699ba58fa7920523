"""Image folders in and out: pixels equal imageio's/Pillow's, classes, order, bad files.

Oracles: imageio.v3.imread and Pillow's own conversions for what a file holds; numpy
for quantization; scipy for statistics. Every bad case gives one line ``Error: ...``,
a non-zero exit code and leaves no output and no temporary file.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import imageio.v3 as iio
import numpy as np
import pytest
from conftest import (
    assert_matches_scipy,
    assert_one_error_line,
    chunkings,
    png_bytes,
    run_subprocess,
    scipy_describe,
)
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from normcli.io import ReadOptions, open_reader, open_writer
from normcli.io.image_writer import ImageOutput
from normcli.io.images import natural_key

RNG = np.random.default_rng(42)


def save(path: Path, arr: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kwargs)
    return path


def grey(n: int, h: int = 6, w: int = 5, dtype=np.uint8) -> np.ndarray:
    top = np.iinfo(dtype).max
    return RNG.integers(0, top + 1, size=(n, h, w), endpoint=False).astype(dtype)


def read_all(path, rows=None, **options):
    with open_reader(path, ReadOptions(**options)) as r:
        info = r.info("images")
        parts = [np.array(c) for c in r.iter_chunks("images", rows or info.rows)]
        return (
            np.concatenate(parts),
            r.texts(),
            (r.read("labels") if "labels" in r.names() else None),
        )


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".normcli-" in p.name)


# -- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["sorted", "natural"])
def test_file_order_and_pixels_equal_imageio(tmp_path, order):
    x = grey(12)
    names = [f"img{i}.png" for i in range(12)]
    for name, img in zip(names, x, strict=True):
        save(tmp_path / "d" / name, img)
    # sorted: Python's sorted(os.listdir), as torchvision's ImageFolder; natural: img2
    # before img10 (--class-order natural)
    expected_order = sorted(os.listdir(tmp_path / "d")) if order == "sorted" else names
    assert sorted(names) != names  # the two orders differ
    oracle = np.stack([iio.imread(tmp_path / "d" / n) for n in expected_order])
    for rows in chunkings(12):
        got, texts, labels = read_all(tmp_path / "d", rows, class_order=order)
        np.testing.assert_array_equal(got, oracle)
    assert texts == {"filenames": expected_order}
    assert labels is None


def test_natural_key_orders_numbers_as_numbers():
    names = ["b10", "a2", "a10", "A3", "a02x", "a1"]
    assert sorted(names, key=natural_key) == ["a1", "a2", "a02x", "A3", "a10", "b10"]


def test_class_folders_give_labels_and_names(tmp_path):
    classes = {"cat": 3, "2": 2, "10": 1, "dog": 2}
    files = {}
    for cls, n in classes.items():
        for i in range(n):
            img = grey(1)[0]
            save(tmp_path / "d" / cls / f"x{10 - i}.png", img)
            files[f"{cls}/x{10 - i}.png"] = img
    # torchvision's ImageFolder: sorted class names, then each class's sorted file names
    order = sorted(os.listdir(tmp_path / "d"))
    assert order == ["10", "2", "cat", "dog"]
    expected_files = [f"{c}/{f}" for c in order for f in sorted(os.listdir(tmp_path / "d" / c))]
    got, texts, labels = read_all(tmp_path / "d")
    assert texts["class_names"] == order
    assert texts["filenames"] == expected_files
    np.testing.assert_array_equal(labels, [order.index(f.split("/")[0]) for f in expected_files])
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(got, np.stack([files[f] for f in expected_files]))


@pytest.mark.parametrize(
    "kind", ["grey16", "rgb", "rgba", "grey+alpha", "palette", "bilevel", "jpeg", "bmp", "webp"]
)
def test_modes_read_as_imageio_reads_them(tmp_path, kind):
    rgb = RNG.integers(0, 256, size=(3, 7, 9, 3), dtype=np.uint8)
    (tmp_path / "d").mkdir()
    for i in range(3):
        path = tmp_path / "d" / f"{i}.png"
        if kind == "grey16":
            save(path, grey(1, 7, 9, np.uint16)[0])
        elif kind == "rgb":
            save(path, rgb[i])
        elif kind == "rgba":
            save(path, np.dstack([rgb[i], rgb[i][:, :, 0]]))
        elif kind == "grey+alpha":
            bands = [Image.fromarray(rgb[i][:, :, 0]), Image.fromarray(rgb[i][:, :, 1])]
            Image.merge("LA", bands).save(path)
        elif kind == "palette":
            Image.fromarray(rgb[i]).convert("P").save(path)
        elif kind == "bilevel":
            Image.fromarray(rgb[i][:, :, 0]).convert("1").save(path)
        else:
            ext = {"jpeg": ".jpg", "bmp": ".bmp", "webp": ".webp"}[kind]
            save(path.with_suffix(ext), rgb[i])
    paths = sorted((tmp_path / "d").iterdir(), key=lambda p: natural_key(p.name))
    oracle = np.stack([np.asarray(Image.open(p).convert(_natural(Image.open(p)))) for p in paths])
    if kind not in ("palette", "bilevel", "grey+alpha"):  # imageio agrees where it keeps the mode
        np.testing.assert_array_equal(oracle, np.stack([iio.imread(p) for p in paths]))
    got, _, _ = read_all(tmp_path / "d", 2)
    assert got.dtype == oracle.dtype and got.shape == oracle.shape
    np.testing.assert_array_equal(got, oracle)


def _natural(im) -> str:
    if im.mode == "P":
        return "RGBA" if "transparency" in im.info else "RGB"
    return {"1": "L"}.get(im.mode, im.mode)


def test_mode_converts_like_pillow(tmp_path):
    rgb = RNG.integers(0, 256, size=(5, 6, 3), dtype=np.uint8)
    save(tmp_path / "d" / "a.png", rgb[:, :, 0])
    save(tmp_path / "d" / "b.png", rgb)
    save(tmp_path / "d" / "c.png", np.dstack([rgb, rgb[:, :, 1]]))
    Image.fromarray(rgb).convert("P").save(tmp_path / "d" / "d.png")
    paths = [tmp_path / "d" / f"{c}.png" for c in "abcd"]
    # without --mode, a folder mixing grey and colour is read as RGB (as torchvision)
    oracle = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    np.testing.assert_array_equal(read_all(tmp_path / "d", 2)[0], oracle)
    for mode in ("L", "RGB"):
        oracle = np.stack([np.asarray(Image.open(p).convert(mode)) for p in paths])
        got, _, _ = read_all(tmp_path / "d", 1, mode=mode)
        np.testing.assert_array_equal(got, oracle)


def test_16_bit_stays_16_bit_under_mode_l(tmp_path):
    x = grey(3, dtype=np.uint16)
    for i, img in enumerate(x):
        save(tmp_path / "d" / f"{i}.png", img)
    got, _, _ = read_all(tmp_path / "d", mode="L")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, x)
    got, _, _ = read_all(tmp_path / "d", mode="RGB")
    np.testing.assert_array_equal(got, np.repeat(x[..., None], 3, axis=3))


def test_describe_a_folder_matches_scipy_for_every_chunking(invoke, tmp_path):
    x = grey(9, 8, 8)
    for i, img in enumerate(x):
        save(tmp_path / "d" / f"{i}.png", img)
    import json

    for rows in chunkings(9):
        result = invoke("describe", tmp_path / "d", "--json", "--chunk-size", rows * 64)
        assert result.exit_code == 0, result.stderr
        (item,) = json.loads(result.stdout)["arrays"]
        assert item["shape"] == [9, 8, 8]
        assert_matches_scipy(item["stats"], scipy_describe(x))


def test_skipped_entries_are_counted(invoke, tmp_path):
    x = grey(3)
    d = tmp_path / "d"
    for i, img in enumerate(x):
        save(d / f"{i}.png", img)
    save(d / ".hidden.png", grey(1)[0])
    (d / ".cache").mkdir()
    (d / "empty.png").write_bytes(b"")
    (d / "README.txt").write_text("digits")
    (d / "folder.png").mkdir()  # a directory named like an image
    outside = save(tmp_path / "outside.png", grey(1)[0])
    os.symlink(outside, d / "link-out.png")
    os.symlink(d, d / "loop")
    os.symlink(d / "a-link", d / "b-link")
    os.symlink(d / "b-link", d / "a-link")
    os.symlink(d / "1.png", d / "4.png")  # inside the folder: followed
    result = invoke("describe", d, "--json")
    assert result.exit_code == 0, result.stderr
    import json

    (item,) = json.loads(result.stdout)["arrays"]
    assert item["shape"] == [4, 6, 5]
    assert_matches_scipy(item["stats"], scipy_describe(np.concatenate([x, x[1:2]])))
    note = result.stderr
    for needle in (
        "2 hidden",
        "1 empty files",
        "1 not images (README.txt)",
        "1 folders without images (folder.png/)",
        "1 links leaving the folder (link-out.png)",
        "3 broken or looping links",
    ):
        assert needle in note, (needle, note)


def test_symlinked_class_folder_loop_is_not_followed(tmp_path):
    d = tmp_path / "d"
    save(d / "a" / "1.png", grey(1)[0])
    save(d / "b" / "1.png", grey(1)[0])
    os.symlink(d / "a", d / "a" / "again")  # a loop inside a class folder
    _, texts, labels = read_all(d)
    assert texts["filenames"] == ["a/1.png", "b/1.png"]
    np.testing.assert_array_equal(labels, [0, 1])


# -- bad input: one line, non-zero exit, nothing written ------------------------------------


def _bad_folder(tmp_path, case: str) -> tuple[Path, tuple[str, ...]]:
    d = tmp_path / "in"
    save(d / "a1.png", grey(1, 28, 28)[0])
    if case == "bomb":
        (d / "b.png").write_bytes(png_bytes(20000, 20000, 8, 0, b"\x00" * 100))
        return d, ("b.png", "decompression-bomb", "--max-pixels")
    if case == "lying-extension":
        save(d / "b.png", grey(1, 28, 28)[0], format="JPEG")
        return d, ("b.png", "holds a JPEG image", "rename")
    if case == "not-an-image":
        (d / "b.png").write_text("<html>404 Not Found</html>")
        return d, ("b.png", "not a PNG image")
    if case == "truncated":
        save(d / "b.png", RNG.integers(0, 256, (28, 28), dtype=np.uint8))
        data = (d / "b.png").read_bytes()
        (d / "b.png").write_bytes(data[: len(data) // 2])
        return d, ("b.png", "cannot be decoded")
    if case == "mixed-shapes":
        save(d / "b.png", grey(1, 20, 20)[0])
        return d, ("different sizes", "--resize")
    if case == "mixed-bit-depths":
        save(d / "b.png", grey(1, 28, 28, np.uint16)[0])
        return d, ("b.png", "uint16", "--mode L")
    if case == "rgb16-png":
        rows = b"".join(b"\x00" + bytes(28 * 6) for _ in range(28))
        (d / "b.png").write_bytes(png_bytes(28, 28, 16, 2, rows))
        return d, ("b.png", "16-bit colour PNG")
    if case == "animated-gif":
        frames = [Image.fromarray(g) for g in grey(2, 28, 28)]
        frames[0].save(d / "b.gif", save_all=True, append_images=frames[1:])
        return d, ("b.gif", "2 frames")
    raise AssertionError(case)


BAD_CASES = [
    "bomb",
    "lying-extension",
    "not-an-image",
    "truncated",
    "mixed-shapes",
    "mixed-bit-depths",
    "rgb16-png",
    "animated-gif",
]


@pytest.mark.parametrize("case", BAD_CASES)
@pytest.mark.parametrize("output", ["out.npz", "out/"])
def test_bad_images_give_one_error_line_and_no_output(invoke, tmp_path, case, output):
    if case == "mixed-shapes" and output == "out/":
        pytest.skip("a folder of mixed sizes is written as one (test_photos.py)")
    d, needles = _bad_folder(tmp_path, case)
    before = {p: p.read_bytes() for p in d.rglob("*") if p.is_file()}
    result = invoke("normalize", d, f"{tmp_path}/{output}", "-m", "per-image", "--chunk-size", 1)
    assert result.exit_code == 1
    assert_one_error_line(result, *needles)
    assert not (tmp_path / output).exists()
    assert leftovers(tmp_path) == []
    assert {p: p.read_bytes() for p in d.rglob("*") if p.is_file()} == before


def test_max_pixels_lowers_and_raises_the_limit(invoke, tmp_path):
    d = tmp_path / "d"
    save(d / "a.png", grey(1, 30, 40)[0])
    result = invoke("describe", d, "--max-pixels", 1000)
    assert result.exit_code == 1
    assert_one_error_line(result, "a.png", "1,200 pixels", "--max-pixels 1200")
    assert invoke("describe", d, "--max-pixels", 1200).exit_code == 0


def test_folder_layout_errors(invoke, tmp_path):
    mixed = tmp_path / "mixed"
    save(mixed / "top.png", grey(1)[0])
    save(mixed / "cls" / "a.png", grey(1)[0])
    result = invoke("describe", mixed)
    assert result.exit_code == 1
    assert_one_error_line(result, "top.png", "cls/")

    empty_class = tmp_path / "classes"
    save(empty_class / "a" / "1.png", grey(1)[0])
    (empty_class / "b").mkdir()
    result = invoke("describe", empty_class)
    assert result.exit_code == 1
    assert_one_error_line(result, "classes/b", "shift the labels")

    nothing = tmp_path / "nothing"
    nothing.mkdir()
    (nothing / "notes.txt").write_text("x")
    result = invoke("describe", nothing)
    assert result.exit_code == 1
    assert_one_error_line(result, "holds no images", "notes.txt")


def test_image_options_on_other_inputs_are_usage_errors(invoke, tmp_path):
    np.save(tmp_path / "x.npy", grey(2))
    result = invoke("describe", tmp_path / "x.npy", "--mode", "L")
    assert result.exit_code == 2
    assert_one_error_line(result, "--mode", "folders of images")


def test_text_lists_cannot_be_described(invoke, tmp_path):
    save(tmp_path / "d" / "a.png", grey(1)[0])
    result = invoke("describe", tmp_path / "d", "-k", "filenames")
    assert result.exit_code == 2
    assert_one_error_line(result, "filenames", "list of text")


# -- writing ---------------------------------------------------------------------------------


def write_folder(target: Path, arr: np.ndarray, names=None, rows=3, **options) -> None:
    with open_writer(str(target) + "/", image_output=ImageOutput(**options)) as w:
        if names is not None:
            assert w.add_texts("filenames", names)
        with w.add("images", arr.shape, arr.dtype) as sink:
            for start in range(0, len(arr), rows):
                sink.write(sink.encode(arr[start : start + rows]))
        assert not target.exists()  # nothing visible before commit
        w.commit()


@pytest.mark.parametrize(
    ("dtype", "shape", "fmt"),
    [
        (np.uint8, (11, 6, 5), "png"),
        (np.uint8, (11, 6, 5, 3), "png"),
        (np.uint8, (11, 6, 5, 4), "png"),
        (np.uint16, (11, 6, 5), "png"),
        (np.uint16, (11, 6, 5, 3), "tiff"),
        (np.float32, (11, 6, 5), "tiff"),
        (np.float32, (11, 6, 5, 3), "tiff"),
        (np.float64, (11, 6, 5), "tiff"),
    ],
)
def test_array_to_folder_to_array_is_exact(tmp_path, dtype, shape, fmt):
    if np.dtype(dtype).kind == "f":
        x = RNG.normal(size=shape).astype(dtype)
    else:
        x = RNG.integers(0, np.iinfo(dtype).max + 1, size=shape).astype(dtype)
    np.save(tmp_path / "x.npy", x)
    write_folder(tmp_path / "out", x, image_format=fmt)
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    suffix = ".png" if fmt == "png" else ".tif"
    assert files == [f"{i:06d}{suffix}" for i in range(11)]
    np.testing.assert_array_equal(iio.imread(tmp_path / "out" / f"000003{suffix}"), x[3])
    for rows in chunkings(11):
        got, _, _ = read_all(tmp_path / "out", rows)
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(got, x)
    assert leftovers(tmp_path) == []


def test_float_to_png_is_quantized_over_the_range(tmp_path):
    x = RNG.random(size=(5, 4, 3)).astype(np.float32)
    x[0, 0, 0], x[1, 0, 0] = 0.0, 1.0
    write_folder(tmp_path / "o8", x)
    got, _, _ = read_all(tmp_path / "o8")
    np.testing.assert_array_equal(got, np.rint(x.astype(np.float64) * 255).astype(np.uint8))
    write_folder(tmp_path / "o16", x * 2 - 1, bit_depth=16, value_range=(-1.0, 1.0))
    got, _, _ = read_all(tmp_path / "o16")
    expected = np.rint(((x * 2 - 1).astype(np.float64) + 1) / 2 * 65535).astype(np.uint16)
    np.testing.assert_array_equal(got, expected)


def test_values_outside_the_range_are_an_error_unless_clip(invoke, tmp_path):
    x = RNG.normal(size=(6, 5, 4)).astype(np.float32) * 50 + 100
    np.save(tmp_path / "x.npy", x)
    result = invoke("normalize", tmp_path / "x.npy", f"{tmp_path}/out/", "-m", "zscore")
    assert result.exit_code == 1
    assert_one_error_line(result, "sample 0 (000000.png)", "outside the range 0..1", "--clip")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []
    result = invoke(
        "normalize", tmp_path / "x.npy", f"{tmp_path}/out/", "-m", "zscore", "--clip", "--json"
    )
    assert result.exit_code == 0, result.stderr
    z = (x.astype(np.float64) - x.mean(dtype=np.float64)) / x.std(dtype=np.float64)
    expected = np.rint(np.clip(z.astype(np.float32), 0, 1).astype(np.float64) * 255)
    got, _, _ = read_all(tmp_path / "out")
    np.testing.assert_array_equal(got, expected.astype(np.uint8))
    import json

    doc = json.loads(result.stdout)
    (item,) = doc["arrays"]
    assert item["dtype_out"] == "uint8"  # after: the values actually written
    assert_matches_scipy(item["after"], scipy_describe(got))


def test_per_image_to_png_and_float_tiff_via_cli(invoke, tmp_path):
    x = RNG.integers(0, 256, size=(7, 6, 5)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    ref = tmp_path / "ref.npy"
    assert invoke("normalize", tmp_path / "x.npy", ref, "-m", "per-image", "-q").exit_code == 0
    y = np.load(ref)
    for rows in (1, 2, 7):
        out = tmp_path / f"tif{rows}"
        result = invoke(
            "normalize",
            tmp_path / "x.npy",
            f"{out}/",
            "-m",
            "per-image",
            "--image-format",
            "tiff",
            "--chunk-size",
            rows * 30,
            "-q",
        )
        assert result.exit_code == 0, result.stderr
        got, _, _ = read_all(out)
        np.testing.assert_array_equal(got, y)  # float32 TIFF: exact
    result = invoke("normalize", tmp_path / "x.npy", f"{tmp_path}/png/", "-m", "per-image", "-q")
    assert result.exit_code == 0, result.stderr
    got, _, _ = read_all(tmp_path / "png")
    np.testing.assert_array_equal(got, np.rint(y.astype(np.float64) * 255).astype(np.uint8))


def test_uint8_round_trip_through_invert(invoke, tmp_path):
    x = RNG.integers(0, 256, size=(9, 6, 5, 3)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    params = tmp_path / "p.json"
    assert invoke("fit", tmp_path / "x.npy", "-m", "zscore", "-o", params, "-q").exit_code == 0
    norm = tmp_path / "n.npy"
    assert invoke("normalize", tmp_path / "x.npy", norm, "--params", params, "-q").exit_code == 0
    result = invoke("invert", norm, f"{tmp_path}/back/", "--params", params, "--dtype", "original")
    assert result.exit_code == 0, result.stderr
    got, _, _ = read_all(tmp_path / "back")
    np.testing.assert_array_equal(got, x)


def test_class_folder_round_trip_keeps_names_labels_and_texts(invoke, tmp_path):
    d = tmp_path / "d"
    for cls in ("b", "a", "c10", "c9"):
        for i in (1, 12, 2):
            save(d / cls / f"{cls}-{i}.png", grey(1)[0])
    _, texts, labels = read_all(d)
    result = invoke("normalize", d, tmp_path / "o.npz", "-k", "images", "-m", "per-image")
    assert result.exit_code == 0, result.stderr
    assert "copied unchanged: labels, class_names, filenames" in result.stdout
    with np.load(tmp_path / "o.npz") as z:  # plain numpy reads all three, no pickle
        assert list(z["class_names"]) == ["a", "b", "c10", "c9"] == texts["class_names"]
        assert list(z["filenames"]) == texts["filenames"]
        np.testing.assert_array_equal(z["labels"], labels)
    result = invoke("normalize", d, tmp_path / "o.h5", "-k", "images", "-m", "per-image")
    assert result.exit_code == 0, result.stderr
    with h5py.File(tmp_path / "o.h5") as f:
        assert [s.decode() for s in f["class_names"][()]] == texts["class_names"]
        assert [s.decode() for s in f["filenames"][()]] == texts["filenames"]
    # array file back to a folder: the names (and so the classes) come back
    result = invoke(
        "normalize",
        tmp_path / "o.npz",
        f"{tmp_path}/back/",
        "-k",
        "images",
        "-m",
        "scale",
        "--factor",
        "1",
    )
    assert result.exit_code == 0, result.stderr
    got, texts2, labels2 = read_all(tmp_path / "back")
    assert texts2 == texts
    np.testing.assert_array_equal(labels2, labels)
    with np.load(tmp_path / "o.npz") as z:
        expected = np.rint(z["images"].astype(np.float64) * 255).astype(np.uint8)
    np.testing.assert_array_equal(got, expected)
    # and from HDF5 too
    result = invoke(
        "normalize",
        tmp_path / "o.h5",
        f"{tmp_path}/back5/",
        "-k",
        "images",
        "-m",
        "scale",
        "--factor",
        "1",
        "-q",
    )
    assert result.exit_code == 0, result.stderr
    assert read_all(tmp_path / "back5")[1] == texts


def test_names_never_leave_the_output_folder(tmp_path):
    x = grey(2)
    for bad in (["../evil.png", "ok.png"], ["/tmp/abs.png", "ok.png"], ["a/../../b.png", "c"]):
        with pytest.raises(Exception, match="leave the output folder"):
            write_folder(tmp_path / "out", x, names=bad)
        assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_colliding_names_are_kept_apart(tmp_path):
    x = grey(3)
    write_folder(tmp_path / "out", x, names=["a.jpg", "a.png", "sub/b.bmp"])
    assert sorted(
        str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png")
    ) == ["a.jpg.png", "a.png", "sub/b.png"]


def test_force_replaces_an_image_folder_only_when_the_new_one_is_complete(invoke, tmp_path):
    x = RNG.integers(0, 256, size=(4, 5, 5)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    save(out / "old.png", grey(1)[0])
    result = invoke("normalize", tmp_path / "x.npy", out, "-m", "per-image")
    assert result.exit_code == 1
    assert_one_error_line(result, "already exists", "--force")
    # a failing run (values outside 0..1) leaves the old folder as it was
    result = invoke("normalize", tmp_path / "x.npy", out, "-m", "zscore", "--force")
    assert result.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["old.png"]
    assert leftovers(tmp_path) == []
    result = invoke("normalize", tmp_path / "x.npy", out, "-m", "per-image", "--force", "-q")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(4)]
    assert leftovers(tmp_path) == []
    # a folder holding other work is never replaced
    (out / "notes.txt").write_text("mine")
    result = invoke("normalize", tmp_path / "x.npy", out, "-m", "per-image", "--force")
    assert result.exit_code == 1
    assert_one_error_line(result, "notes.txt", "not an image")
    assert (out / "notes.txt").read_text() == "mine"


def test_output_inside_or_around_the_input_folder_is_refused(invoke, tmp_path):
    d = tmp_path / "d"
    save(d / "a.png", grey(1)[0])
    for target in (f"{d}/out/", d / "out.npz", f"{d}/"):
        result = invoke("normalize", d, target, "-m", "per-image")
        assert result.exit_code == 1
        assert_one_error_line(result, "input")
    assert sorted(p.name for p in d.iterdir()) == ["a.png"]
    result = invoke("normalize", d, f"{tmp_path}/", "-m", "per-image", "--force")
    assert result.exit_code == 1
    assert_one_error_line(result, "would delete the input")


def test_image_output_options_need_an_image_folder(invoke, tmp_path):
    np.save(tmp_path / "x.npy", grey(2))
    result = invoke(
        "normalize",
        tmp_path / "x.npy",
        tmp_path / "o.npz",
        "-m",
        "minmax",
        "--image-format",
        "tiff",
    )
    assert result.exit_code == 2
    assert_one_error_line(result, "--image-format")


def test_sixteen_bit_colour_png_output_is_refused(invoke, tmp_path):
    np.save(tmp_path / "x.npy", RNG.random((2, 4, 4, 3)).astype(np.float32))
    result = invoke(
        "normalize", tmp_path / "x.npy", f"{tmp_path}/o/", "-m", "minmax", "--bit-depth", "16"
    )
    assert result.exit_code == 1
    assert_one_error_line(result, "16-bit colour PNG", "--image-format tiff")
    assert leftovers(tmp_path) == [] and not (tmp_path / "o").exists()


def test_sample_digits_as_a_real_process(tmp_path):
    from conftest import SAMPLE

    digits = SAMPLE / "mnist_digits"
    result = run_subprocess(
        "normalize", digits, f"{tmp_path}/pi/", "-k", "images", "-m", "per-image", "-q"
    )
    assert result.returncode == 0, result.stderr
    x, texts, _ = read_all(digits)
    got, texts2, _ = read_all(tmp_path / "pi")
    assert texts2["filenames"] == texts["filenames"]
    assert len(texts["class_names"]) == 10 and len(x) == 20
    xf = x.astype(np.float64)
    lo = xf.min(axis=(1, 2), keepdims=True)
    hi = xf.max(axis=(1, 2), keepdims=True)
    expected = np.rint(((xf - lo) / (hi - lo)).astype(np.float32).astype(np.float64) * 255)
    np.testing.assert_array_equal(got, expected.astype(np.uint8))


def test_tiff_without_tifffile_names_the_extra(invoke, tmp_path, monkeypatch):
    import normcli.io.image_decode as images

    write_folder(tmp_path / "t", grey(2), image_format="tiff")
    monkeypatch.setattr(images, "_tifffile", lambda: None)
    result = invoke("describe", tmp_path / "t")
    assert result.exit_code == 1
    assert_one_error_line(result, "000000.tif", "normcli[tiff]")
    np.save(tmp_path / "x.npy", grey(2))
    result = invoke(
        "normalize", tmp_path / "x.npy", f"{tmp_path}/o/", "-m", "minmax", "--image-format", "tiff"
    )
    assert result.exit_code == 1
    assert_one_error_line(result, "normcli[tiff]")
    assert leftovers(tmp_path) == []


def test_sample_digits_are_the_mnist_test_images_they_claim_to_be():
    import gzip

    from conftest import ROOT, SAMPLE

    raw = gzip.decompress((ROOT / "tests/data/t10k-images.idx3-ubyte.gz").read_bytes())
    mnist = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    raw = gzip.decompress((ROOT / "tests/data/t10k-labels.idx1-ubyte.gz").read_bytes())
    mnist_labels = np.frombuffer(raw, dtype=np.uint8, offset=8)
    x, texts, labels = read_all(SAMPLE / "mnist_digits")
    index = [int(Path(f).stem.split("-")[1]) for f in texts["filenames"]]
    np.testing.assert_array_equal(x, mnist[index])
    np.testing.assert_array_equal(labels, mnist_labels[index])
    assert texts["class_names"] == [str(c) for c in range(10)]


def test_normalizing_a_class_folder_is_the_same_for_every_chunking(invoke, tmp_path):
    d = tmp_path / "d"
    for c in range(3):
        for i in range(4):
            save(d / f"c{c}" / f"{i}.png", RNG.integers(0, 256, (5, 4, 3), dtype=np.uint8))
    x, _, labels = read_all(d)
    results = []
    for rows in chunkings(len(x)):
        out = tmp_path / f"o{rows}.npz"
        result = invoke(
            "normalize",
            d,
            out,
            "-k",
            "images",
            "-m",
            "zscore",
            "--axis",
            "0,1,2",
            "--chunk-size",
            rows * x[0].nbytes,
            "-q",
        )
        assert result.exit_code == 0, result.stderr
        with np.load(out) as z:
            results.append(z["images"])
            np.testing.assert_array_equal(z["labels"], labels)
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    xf = x.astype(np.float64)
    oracle = (xf - xf.mean(axis=(0, 1, 2))) / xf.std(axis=(0, 1, 2))
    np.testing.assert_allclose(results[0], oracle.astype(np.float32), rtol=1e-6, atol=1e-6)


@given(
    n=st.integers(1, 7),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    channels=st.sampled_from([0, 3, 4]),
    dtype=st.sampled_from([np.uint8, np.uint16]),
    rows=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_8_or_16_bit_array_survives_a_folder(
    tmp_path_factory, n, h, w, channels, dtype, rows, seed
):
    shape = (n, h, w, channels) if channels else (n, h, w)
    top = np.iinfo(dtype).max
    x = np.random.default_rng(seed).integers(0, top, size=shape, endpoint=True).astype(dtype)
    fmt = "tiff" if channels and dtype == np.uint16 else "png"
    target = tmp_path_factory.mktemp("rt") / "out"
    write_folder(target, x, rows=rows, image_format=fmt)
    got, texts, _ = read_all(target, rows)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, x)
    assert texts["filenames"] == sorted(texts["filenames"])


def test_a_truncated_image_as_a_real_process(tmp_path):
    d, needles = _bad_folder(tmp_path, "truncated")
    result = run_subprocess("normalize", d, f"{tmp_path}/out/", "-m", "per-image")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and needles[0] in lines[0]
    assert result.stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == ["in"]
