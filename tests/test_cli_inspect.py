"""Seeing the data through the CLI: --hist, --plot, --csv, --check-ranks, warnings, --strict."""

from __future__ import annotations

import csv
import io
import json
import sys

import numpy as np
import pytest
from conftest import SAMPLE, assert_one_error_line, mnist_sample, run_subprocess, scipy_describe
from PIL import Image

from normcli.cli import plots
from normcli.io import open_reader

NPZ = SAMPLE / "mnist_sample.npz"
RNG = np.random.default_rng(23)
ROW_BYTES = 28 * 28  # one MNIST image of uint8


def load(path, name):
    with open_reader(path) as r:
        return r.read(name)


def finite(x, exclude_zeros=False, where=None):
    v = x if where is None else x[where]
    v = v.reshape(-1)
    if v.dtype.kind == "f":
        v = v[np.isfinite(v)]
    return v[v != 0] if exclude_zeros else v


def assert_histogram(doc: dict, values: np.ndarray, bins: int) -> None:
    counts, edges = np.histogram(values, bins=bins)
    assert doc["counts"] == counts.tolist()
    np.testing.assert_array_equal(np.asarray(doc["edges"]), edges.astype(np.float64))
    assert doc["bins"] == bins


# -- describe --hist -----------------------------------------------------------------------


@pytest.mark.parametrize("rows", [1, 2, 50, 1000, 1042])
@pytest.mark.parametrize("exclude_zeros", [False, True])
def test_describe_hist_counts_equal_numpy_for_every_chunking(invoke, rows, exclude_zeros):
    x = mnist_sample()
    flags = ["--exclude-zeros"] if exclude_zeros else []
    r = invoke(
        "describe", NPZ, "-k", "x_test", "--hist", "--json", "--chunk-size", rows * ROW_BYTES,
        *flags,
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)["arrays"][0]
    assert_histogram(doc["histogram"], finite(x, exclude_zeros), 40)
    assert doc["histogram"]["zeros_excluded"] is exclude_zeros


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int16"])
@pytest.mark.parametrize("exclude_zeros", [False, True])
@pytest.mark.parametrize("axis", [None, "0"])
def test_describe_hist_streamed_pass_for_other_dtypes(invoke, tmp_path, dtype, exclude_zeros, axis):
    x = (RNG.normal(3, 50, size=(123, 7)) * (RNG.random((123, 7)) < 0.6)).astype(dtype)
    path = tmp_path / "x.npy"
    np.save(path, x)
    args = ["--exclude-zeros"] if exclude_zeros else []
    args += ["--axis", axis] if axis else []
    for rows in (1, 2, 50, 123, 165):
        r = invoke(
            "describe", path, "--hist", "--bins", 17, "--json", "--chunk-size", rows * x[0].nbytes,
            *args,
        )  # fmt: skip
        assert r.exit_code == 0, r.stderr
        doc = json.loads(r.stdout)["arrays"][0]["histogram"]
        assert_histogram(doc, finite(x, exclude_zeros), 17)


def test_describe_hist_with_infinities_takes_the_finite_range(invoke, tmp_path):
    x = RNG.normal(size=(40, 3))
    x[4, 1], x[9, 2], x[11, 0] = np.inf, -np.inf, np.nan
    np.save(tmp_path / "x.npy", x)
    r = invoke("describe", tmp_path / "x.npy", "--hist", "--bins", 9, "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)["arrays"][0]["histogram"]
    assert_histogram(doc, finite(x), 9)
    assert doc["nonfinite"] == 3


def test_describe_hist_table_shows_the_exact_counts(invoke):
    x = mnist_sample()
    r = invoke("describe", NPZ, "-k", "x_test", "--hist", "--bins", 8)
    assert r.exit_code == 0
    counts, edges = np.histogram(x, bins=8)
    lines = r.stdout.splitlines()
    for count, edge in zip(counts, edges[:-1], strict=True):
        row = [line for line in lines if line.split("│")[0].strip() == f"{edge:.4g}"]
        assert len(row) == 1, (edge, r.stdout)
        assert row[0].split("│")[1].strip() == f"{count:,}"
    assert "8 bins over [0, 255]" in r.stdout


def test_bins_without_hist_or_plot_is_a_usage_error(invoke):
    r = invoke("describe", NPZ, "--bins", 10)
    assert r.exit_code == 2 and "--bins" in r.stderr


# -- normalize --hist ----------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".npy"])
@pytest.mark.parametrize("rows", [1, 50, 1042])
def test_normalize_hist_before_and_after_equal_numpy(invoke, tmp_path, suffix, rows):
    x = mnist_sample()
    out = tmp_path / f"o{suffix}"
    r = invoke(
        "normalize", NPZ, out, "-k", "x_test", "-m", "zscore", "--hist", "--json",
        "--chunk-size", rows * ROW_BYTES,
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)["arrays"][0]["histogram"]
    y = load(out, "x_test" if suffix != ".npy" else "o")
    assert_histogram(doc["before"], finite(x), 40)
    assert_histogram(doc["after"], finite(y), 40)


def test_normalize_hist_exclude_zeros_leaves_out_where_the_input_is_zero(invoke, tmp_path):
    x = mnist_sample()
    out = tmp_path / "o.npz"
    r = invoke(
        "normalize", NPZ, out, "-k", "x_test", "-m", "zscore", "--hist", "--exclude-zeros",
        "--bins", 25, "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)["arrays"][0]["histogram"]
    y = load(out, "x_test")
    assert_histogram(doc["before"], x[x != 0], 25)
    # zscore moves the zeros to -mean/std: the same pixels are left out after
    assert_histogram(doc["after"], y[x != 0], 25)
    assert doc["after"]["zeros_excluded"] is True


def test_normalize_hist_table_is_side_by_side(invoke, tmp_path):
    r = invoke("normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "-m", "minmax", "--hist")
    assert r.exit_code == 0
    header = next(line for line in r.stdout.splitlines() if "before ≥" in line)
    assert "after ≥" in header
    assert "40 bins over before [0, 255], after [0, 1]" in r.stdout


def test_normalize_exclude_zeros_needs_hist(invoke, tmp_path):
    r = invoke("normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "-m", "lp", "--exclude-zeros")
    assert r.exit_code == 2 and "--hist" in r.stderr


# -- --check-ranks ---------------------------------------------------------------------------


def test_check_ranks_separates_wrong_axis_from_per_image(invoke, tmp_path):
    def ranks(*args):
        r = invoke(
            "normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", *args, "--check-ranks",
            "--json", "--force",
        )  # fmt: skip
        assert r.exit_code == 0, r.stderr
        return json.loads(r.stdout)["arrays"][0]["rank_check"], r.stderr

    wrong, stderr = ranks("-m", "lp", "--axis", "1")
    assert wrong["samples"] == 1000
    assert wrong["fraction_changed"] == wrong["changed"] / 1000 > 0.95
    assert wrong["first_changed"] == 0
    assert "order of the values within" in stderr
    for args in (["-m", "per-image"], ["-m", "lp", "--axis", "1,2"], ["-m", "zscore"]):
        kept, stderr = ranks(*args)
        assert kept == {
            "samples": 1000,
            "changed": 0,
            "fraction_changed": 0.0,
            "first_changed": None,
        }
        assert "Warning" not in stderr


def test_check_ranks_line_in_the_table(invoke, tmp_path):
    r = invoke(
        "normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "-m", "per-image", "--check-ranks"
    )
    assert "rank check: order kept within each of the 1,000 samples" in r.stdout


def test_strict_check_ranks_refuses_to_write(invoke, tmp_path):
    out = tmp_path / "o.npz"
    r = invoke(
        "normalize", NPZ, out, "-k", "x_test", "-m", "minmax", "--axis", "0,2",
        "--check-ranks", "--strict",
    )  # fmt: skip
    assert r.exit_code == 2
    assert_one_error_line(r, "--strict")
    assert list(tmp_path.iterdir()) == []


# -- the wrong-axis warning and --strict ----------------------------------------------------


@pytest.mark.parametrize(
    "args, what",
    [
        (["-m", "lp", "--axis", "1"], "each column of each image"),
        (["-m", "minmax", "--axis", "2"], "each row of each image"),
        (["-m", "zscore", "--axis", "2"], "each row of each image"),
        (["-m", "zscore", "--axis", "0,1"], "each column position across all images"),
    ],
)
def test_wrong_axis_warns_and_names_the_per_image_alternative(invoke, tmp_path, args, what):
    r = invoke("normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", *args)
    assert r.exit_code == 0
    warning = [line for line in r.stderr.splitlines() if line.startswith("Warning")]
    assert len(warning) == 1
    assert what in warning[0] and "--axis 1,2 or -m per-image" in warning[0]
    r = invoke("normalize", NPZ, tmp_path / "s.npz", "-k", "x_test", *args, "--strict")
    assert r.exit_code == 2
    assert_one_error_line(r, what, "--strict")
    assert not (tmp_path / "s.npz").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "per-image"],
        ["-m", "lp", "--axis", "1,2"],
        ["-m", "minmax", "--axis", "1,2"],
        ["-m", "zscore"],
        ["-m", "minmax"],
        ["-m", "lp", "--axis", "all"],
        ["-m", "scale", "--factor", "1/255"],
    ],
)
def test_no_warning_for_per_image_or_global(invoke, tmp_path, args):
    r = invoke("normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", *args, "--strict")
    assert r.exit_code == 0, r.stderr
    assert "Warning" not in r.stderr


def test_no_warning_per_channel_or_per_feature(invoke, tmp_path):
    np.save(tmp_path / "rgb.npy", RNG.random((6, 8, 8, 3)).astype(np.float32))
    np.save(tmp_path / "tab.npy", RNG.random((20, 5)))
    r = invoke("normalize", tmp_path / "rgb.npy", tmp_path / "o.npy", "-m", "zscore", "--axis",
               "0,1,2", "--strict")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    r = invoke("normalize", tmp_path / "tab.npy", tmp_path / "p.npy", "-m", "zscore", "--axis",
               "0", "--strict")  # fmt: skip
    assert r.exit_code == 0, r.stderr


def test_fit_wrong_axis_warns_and_strict_refuses(invoke, tmp_path):
    r = invoke(
        "fit", NPZ, "-k", "x_test", "-m", "zscore", "--axis", "0,1", "-o", tmp_path / "p.json"
    )
    assert r.exit_code == 0 and "each column position" in r.stderr
    r = invoke("fit", NPZ, "-k", "x_test", "-m", "zscore", "--axis", "0,1", "--strict", "-o",
               tmp_path / "q.json")  # fmt: skip
    assert r.exit_code == 2
    assert_one_error_line(r, "--strict")
    assert not (tmp_path / "q.json").exists()


def test_strict_makes_fitting_on_test_data_an_error(invoke, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=RNG.normal(size=(30, 4)), x_test=RNG.normal(size=(10, 4)))
    r = invoke("normalize", path, tmp_path / "o.npz", "-k", "x_train", "-k", "x_test", "-m",
               "zscore")  # fmt: skip
    assert r.exit_code == 0 and "--fit-key x_train" in r.stderr
    r = invoke("normalize", path, tmp_path / "s.npz", "-k", "x_train", "-k", "x_test", "-m",
               "zscore", "--strict")  # fmt: skip
    assert r.exit_code == 2
    assert_one_error_line(r, "--fit-key x_train", "--strict")
    assert not (tmp_path / "s.npz").exists()
    r = invoke("normalize", path, tmp_path / "t.npz", "-k", "x_train", "-k", "x_test", "-m",
               "zscore", "--fit-key", "x_train", "--strict")  # fmt: skip
    assert r.exit_code == 0, r.stderr


def test_strict_makes_the_other_warnings_errors(invoke, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=RNG.normal(size=(30, 4)), y=RNG.normal(size=(30, 4)))
    # a .npy OUTPUT drops the other arrays: a warning, with --strict an error
    r = invoke("normalize", path, tmp_path / "o.npy", "-k", "x", "-m", "zscore")
    assert r.exit_code == 0 and "y is not written" in r.stderr
    r = invoke("normalize", path, tmp_path / "s.npy", "-k", "x", "-m", "zscore", "--strict")
    assert r.exit_code == 2
    assert_one_error_line(r, "y is not written", "--strict")
    assert not (tmp_path / "s.npy").exists()
    # --fit-key with a per-sample method changes nothing
    r = invoke("normalize", path, tmp_path / "p.npz", "-k", "x", "-m", "per-image", "--fit-key",
               "y", "--strict")  # fmt: skip
    assert r.exit_code == 2
    assert_one_error_line(r, "changes nothing", "--strict")


# -- --plot ------------------------------------------------------------------------------------


def assert_png(path, size):
    """A PNG of the figure's designed size, to a pixel: 9.2 inches at 100 dpi (9.2 * 100
    is 919.99...) are 919 pixels with matplotlib 3.10 and 920 with 3.11."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert all(abs(got - want) <= 1 for got, want in zip(im.size, size, strict=True)), (
            im.size,
            size,
        )
        pixels = np.asarray(im.convert("L"), dtype=np.float64)
    assert pixels.std() > 10  # something was drawn


def test_describe_plot_writes_a_png_of_the_expected_size(invoke, tmp_path):
    out = tmp_path / "d.png"
    r = invoke("describe", NPZ, "--plot", out)
    assert r.exit_code == 0, r.stderr
    # x_test is images (a row of samples), y_test is not
    assert_png(out, plots.figure_size_px(1, [True, False]))
    assert plots.figure_size_px(1, [True, False]) == (
        1200,
        round(100 * (2 * plots.TITLE_IN + 2 * plots.HIST_ROW_IN + plots.SAMPLE_ROW_IN)),
    )
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left


def test_normalize_plot_writes_a_png_of_the_expected_size(invoke, tmp_path):
    out = tmp_path / "n.png"
    r = invoke(
        "normalize", NPZ, tmp_path / "o.npz", "-k", "x_test", "-m", "lp", "--axis", "1",
        "--plot", out, "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert_png(out, plots.figure_size_px(2, [True]))
    assert plots.figure_size_px(2, [True])[1] == round(
        100 * (plots.TITLE_IN + 2 * plots.HIST_ROW_IN + 2 * plots.SAMPLE_ROW_IN)
    )
    json.loads(r.stdout)  # --plot leaves stdout to the JSON


def test_plot_data_before_and_after_are_what_was_read_and_written(tmp_path):
    """What the figure draws: histograms equal numpy's, samples are the first rows."""
    from normcli.normalizers import make_normalizer
    from normcli.ops.normalize import normalize_file
    from normcli.ops.options import Inspect, NormalizeOptions

    out = tmp_path / "o.npz"
    options = NormalizeOptions(keys=["x_test"], inspect=Inspect(plot=True, bins=30))
    report = normalize_file(NPZ, out, lambda: make_normalizer("minmax", "all"), options)
    a = report.arrays[0]
    x, y = mnist_sample(), load(out, "x_test")
    for side, values in (("before", x), ("after", y)):
        for view, mask in (("all", None), ("nonzero", x != 0)):
            h = a.histograms[side][view]
            counts, edges = np.histogram(values if mask is None else values[mask], bins=30)
            np.testing.assert_array_equal(h.counts, counts)
            np.testing.assert_array_equal(h.edges, edges)
    np.testing.assert_array_equal(a.samples[0], x[:8])
    np.testing.assert_array_equal(a.samples[1], y[:8])


def test_plot_refuses_an_existing_file_without_force(invoke, tmp_path):
    out = tmp_path / "d.png"
    out.write_bytes(b"old")
    r = invoke("describe", NPZ, "-k", "y_test", "--plot", out)
    assert r.exit_code == 1
    assert_one_error_line(r, "--force")
    assert out.read_bytes() == b"old"
    r = invoke("describe", NPZ, "-k", "y_test", "--plot", out, "--force", "-q")
    assert r.exit_code == 0
    assert_png(out, plots.figure_size_px(1, [False]))


def test_plot_needs_a_known_extension(invoke, tmp_path):
    r = invoke("describe", NPZ, "--plot", tmp_path / "d.gif")
    assert r.exit_code == 2
    assert_one_error_line(r, ".png")


def test_plot_svg_and_pdf(invoke, tmp_path):
    for name, magic in (("d.svg", b"<?xml"), ("d.pdf", b"%PDF")):
        r = invoke("describe", NPZ, "-k", "x_test", "--plot", tmp_path / name, "-q")
        assert r.exit_code == 0, r.stderr
        assert (tmp_path / name).read_bytes().startswith(magic)


def test_plot_without_matplotlib_names_the_extra(invoke, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    out = tmp_path / "o.npz"
    r = invoke("normalize", NPZ, out, "-k", "x_test", "-m", "zscore", "--plot", tmp_path / "n.png")
    assert r.exit_code == 1
    assert_one_error_line(r, "matplotlib", "normcli[plot]")
    assert list(tmp_path.iterdir()) == []  # nothing done


def test_plot_titles_are_not_parsed_as_math(invoke, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, **{"a$\\frac{b": RNG.random((5, 6, 6))})
    r = invoke("describe", path, "--plot", tmp_path / "d.png")
    assert r.exit_code == 0, r.stderr


# -- --csv -------------------------------------------------------------------------------------


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_ls_csv(invoke):
    r = invoke("ls", NPZ, "--csv")
    assert r.exit_code == 0
    rows = read_csv(r.stdout)
    with np.load(NPZ) as z:
        expected = [(k, "x".join(map(str, z[k].shape)), str(z[k].dtype), z[k].nbytes) for k in z]
    assert [(r["name"], r["shape"], r["dtype"], int(r["bytes"])) for r in rows] == expected


def test_describe_csv_matches_scipy(invoke):
    r = invoke("describe", NPZ, "--csv")
    assert r.exit_code == 0
    rows = read_csv(r.stdout)
    with np.load(NPZ) as z:
        assert [row["name"] for row in rows] == list(z.keys())
        for row in rows:
            oracle = scipy_describe(z[row["name"]])
            for key in ("nobs", "min", "max"):
                assert float(row[key]) == float(oracle[key])
            for key in ("mean", "variance", "skewness", "kurtosis"):
                np.testing.assert_allclose(float(row[key]), oracle[key], rtol=1e-10)
            assert int(row["zeros"]) == int(np.count_nonzero(z[row["name"]] == 0))
            assert row["axis"] == "all" and row["slice"] == ""


def test_describe_csv_with_axis_has_a_row_per_slice(invoke, tmp_path):
    x = RNG.normal(size=(50, 2, 3))
    np.save(tmp_path / "x.npy", x)
    r = invoke("describe", tmp_path / "x.npy", "--axis", "0", "--csv")
    rows = read_csv(r.stdout)
    oracle = scipy_describe(x, (0,))
    assert [row["slice"] for row in rows] == ["0,0", "0,1", "0,2", "1,0", "1,1", "1,2"]
    for row in rows:
        i, j = map(int, row["slice"].split(","))
        assert float(row["mean"]) == pytest.approx(oracle["mean"][i, j], rel=1e-12)
        assert float(row["max"]) == oracle["max"][i, j]


def test_csv_and_json_or_hist_do_not_mix(invoke):
    r = invoke("describe", NPZ, "--csv", "--json")
    assert r.exit_code == 2
    r = invoke("describe", NPZ, "--csv", "--hist")
    assert r.exit_code == 2 and "--json --hist" in r.stderr
    r = invoke("ls", NPZ, "--csv", "--json")
    assert r.exit_code == 2


def test_subprocess_describe_csv_and_hist(tmp_path):
    r = run_subprocess("describe", NPZ, "-k", "y_test", "--csv")
    assert r.returncode == 0 and r.stdout.startswith("name,shape,dtype,axis,slice,nobs,")
    r = run_subprocess("describe", NPZ, "-k", "y_test", "--hist", "--bins", "10")
    assert r.returncode == 0
    counts, _ = np.histogram(load(NPZ, "y_test"), bins=10)
    for c in counts:
        assert f"│ {c:>5,} │" in r.stdout or f" {c:,} " in r.stdout


# -- image folders -----------------------------------------------------------------------------


def test_image_folder_output_histograms_count_the_quantized_pixels(invoke, tmp_path):
    x = mnist_sample()
    out = tmp_path / "digits/"
    r = invoke(
        "normalize", NPZ, str(out) + "/", "-k", "x_test", "-m", "minmax", "--hist", "--bins", 9,
        "--check-ranks", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    a = json.loads(r.stdout)["arrays"][0]
    written = load(out, "images")  # the PNG files as read back
    assert written.dtype == np.uint8
    assert_histogram(a["histogram"]["before"], finite(x), 9)
    assert_histogram(a["histogram"]["after"], finite(written), 9)
    # quantizing a global minmax to 8 bits ties close values, never swaps them
    assert a["rank_check"]["changed"] == 0


def test_image_folder_in_and_out_with_plot(invoke, tmp_path):
    folder = SAMPLE / "mnist_digits"
    out = tmp_path / "o.png"
    r = invoke("normalize", folder, str(tmp_path / "d") + "/", "-k", "images", "-m", "per-image",
               "--plot", out)  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert_png(out, plots.figure_size_px(2, [True]))


def test_image_folder_read_back_in_another_order_skips_the_pairing(invoke, tmp_path, monkeypatch):
    from normcli.io.image_writer import ImageFolderWriter

    real = ImageFolderWriter.files
    monkeypatch.setattr(ImageFolderWriter, "files", property(lambda w: real.fget(w)[::-1]))
    r = invoke("normalize", NPZ, str(tmp_path / "d") + "/", "-k", "x_test", "-m", "minmax",
               "--hist", "--json")  # fmt: skip
    assert r.exit_code == 0
    assert "do not read back in the order" in r.stderr
    assert "histogram" not in json.loads(r.stdout)["arrays"][0]


def test_ctrl_c_while_counting_after_output_is_complete_says_so(invoke, tmp_path, monkeypatch):
    from normcli import histogram

    def interrupt(self, chunk, keep=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(histogram.BinCounter, "update", interrupt)
    out = tmp_path / "o.npz"
    r = invoke("normalize", NPZ, out, "-k", "x_test", "-m", "minmax", "--hist")
    assert r.exit_code == 130
    assert_one_error_line(r, "interrupted while counting the histograms", "written completely")
    expected = (load(NPZ, "x_test") / 255.0).astype(np.float32)  # complete, as without --hist
    np.testing.assert_array_equal(load(out, "x_test"), expected)


def test_single_channel_images_to_an_image_folder(invoke, tmp_path):
    x = mnist_sample()[:30, :, :, None]  # (N, H, W, 1): the folder stores (N, H, W)
    np.save(tmp_path / "x.npy", x)
    r = invoke("normalize", tmp_path / "x.npy", str(tmp_path / "d") + "/", "-m", "minmax",
               "--hist", "--exclude-zeros", "--check-ranks", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    a = json.loads(r.stdout)["arrays"][0]
    written = load(tmp_path / "d", "images")
    assert_histogram(a["histogram"]["after"], written[x[..., 0] != 0], 40)
    assert a["rank_check"]["changed"] == 0
