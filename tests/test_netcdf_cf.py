"""netCDF files and CF-encoded values, written by the libraries people use (issue 14).

Oracles: xarray's ``open_dataset(decode_cf=True)`` for the decoded values (compared in
float64, to the bit), the netCDF4 library for ``valid_range`` masking (xarray leaves
it alone), scipy.stats.describe for the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import assert_matches_scipy, chunkings, scipy_describe

from normcli.io import ReadOptions, open_reader
from normcli.ops.describe import describe_arrays
from normcli.ops.select import select_arrays

netCDF4 = pytest.importorskip("netCDF4", reason="the netCDF4 library writes the fixtures")
xr = pytest.importorskip("xarray", reason="xarray is the oracle of CF decoding")
pytest.importorskip("h5netcdf", reason="normcli[netcdf] writes netCDF OUTPUT")

RNG = np.random.default_rng(14)
T, LAT, LON = 9, 4, 5


def write_netcdf4(path: Path, fmt: str = "NETCDF4") -> Path:
    """A small reanalysis-like file: an unlimited time, coordinates lat and time, a bounds
    dimension nv without coordinate, int16 packed temperature with a fill value, float
    rain with _FillValue -9999, written by the netCDF4 library."""
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        ds.createDimension("time", None)
        ds.createDimension("lat", LAT)
        ds.createDimension("lon", LON)
        ds.createDimension("nv", 2)
        time = ds.createVariable("time", "f8", ("time",))
        time.units = "hours since 2000-01-01"
        lat = ds.createVariable("lat", "f4", ("lat",))
        lat[:] = np.linspace(-30, 30, LAT)
        bounds = ds.createVariable("lat_bnds", "f4", ("lat", "nv"))
        bounds[:] = RNG.normal(size=(LAT, 2))
        temp = ds.createVariable(
            "temp", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767),
            zlib=True, chunksizes=(2, LAT, LON),
        )  # fmt: skip
        temp.scale_factor = np.float32(0.01)
        temp.add_offset = np.float32(273.15)
        temp.units = "K"
        temp.long_name = "air temperature"
        temp.set_auto_maskandscale(False)
        raw = RNG.integers(-2000, 2000, size=(T, LAT, LON)).astype("i2")
        raw[0, 0, :3] = -32767
        temp[:] = raw
        time[:] = np.arange(T)
        rain = ds.createVariable("rain", "f4", ("time", "lat", "lon"), fill_value=-9999.0)
        rain.set_auto_maskandscale(False)
        values = RNG.gamma(2.0, 10.0, size=(T, LAT, LON)).astype("f4")
        values[1, 1, 1] = -9999.0
        rain[:] = values
    return path


def xarray_values(path: Path, name: str, **kwargs) -> np.ndarray:
    with xr.open_dataset(path, decode_times=False, **kwargs) as ds:
        return np.asarray(ds[name].values)


def describe_one(path, name, rows=None, **options):
    with open_reader(path, ReadOptions(**options)) as reader:
        (info,) = select_arrays(reader, [name], default_all=True)
        chunk = (rows or info.rows) * max(1, info.row_bytes)
        return describe_arrays(reader, [info], chunk_bytes=chunk)[0]


def oracle_stats(values: np.ndarray) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return scipy_describe(v[~np.isnan(v)])


@pytest.fixture(scope="module")
def nc(tmp_path_factory) -> Path:
    return write_netcdf4(tmp_path_factory.mktemp("nc") / "era.nc")


def test_ls_lists_variables_marks_coordinates_and_no_dimension_placeholders(invoke, nc):
    result = invoke("ls", nc, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["format"] == "netcdf"
    arrays = {a["name"]: a for a in doc["arrays"]}
    with netCDF4.Dataset(nc) as ds:  # the oracle: netCDF's own variables
        assert set(arrays) == set(ds.variables)
        assert "nv" not in arrays  # a dimension without coordinate variable is no array
        for name, var in ds.variables.items():
            assert tuple(arrays[name]["shape"]) == var.shape  # unlimited time: netCDF's length
            assert arrays[name]["dims"] == list(var.dimensions)
            assert arrays[name].get("coordinate", False) == (var.dimensions == (name,))
    assert arrays["temp"]["dtype"] == str(xarray_values(nc, "temp").dtype)
    assert "int16 decoded" in arrays["temp"]["decoded"]
    assert "decoded" not in arrays["lat"]
    table = invoke("ls", nc)
    assert "coordinate" in table.stdout and "decoded" in table.stdout


@pytest.mark.parametrize("name", ["temp", "rain"])
def test_decoded_values_are_xarrays_to_the_bit(nc, name):
    expected = xarray_values(nc, name)
    with open_reader(nc) as reader:
        ours = reader.read(name)
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours.astype(np.float64), expected.astype(np.float64))
    assert np.isnan(ours).sum() == np.isnan(expected).sum() > 0


@pytest.mark.parametrize("name", ["temp", "rain"])
def test_decoded_figures_match_scipy_for_every_chunking(nc, name):
    expected = oracle_stats(xarray_values(nc, name))
    for rows in chunkings(T):
        item = describe_one(nc, name, rows)
        assert_matches_scipy(item.stats, expected)
        assert int(item.stats["nan"]) == int(np.isnan(xarray_values(nc, name)).sum())


def test_raw_gives_the_stored_values(invoke, nc):
    with netCDF4.Dataset(nc) as ds:
        ds.set_auto_maskandscale(False)
        stored = np.asarray(ds["temp"][:])
    with open_reader(nc, ReadOptions(raw=True)) as reader:
        np.testing.assert_array_equal(reader.read("temp"), stored)
        assert reader.info("temp").dtype == np.int16
    result = invoke("describe", nc, "-k", "temp", "--raw", "--json")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)["arrays"][0]["stats"]
    assert stats["min"] == float(stored.min()) == -32767
    assert "decoded" not in json.loads(result.stdout)["arrays"][0]


def test_describe_says_values_were_decoded_and_counts_missing_as_nan(invoke, nc):
    result = invoke("describe", nc, "-k", "temp", "--json")
    doc = json.loads(result.stdout)["arrays"][0]
    assert "scale_factor" in doc["decoded"] and "_FillValue" in doc["decoded"]
    assert doc["stats"]["nan"] == 3
    assert "3 NaN values" in result.stderr
    raised = invoke("describe", nc, "-k", "temp", "--nan", "raise")
    assert raised.exit_code == 1 and "3 NaN values" in raised.stderr


@pytest.mark.parametrize("fmt", ["NETCDF4", "NETCDF4_CLASSIC"])
@pytest.mark.parametrize("suffix", [".nc", ".h5"])
def test_normalized_netcdf_reopens_in_xarray_with_the_same_dims_and_coords(
    invoke, tmp_path, fmt, suffix
):
    src = write_netcdf4(tmp_path / "in.nc", fmt)
    out = tmp_path / f"out{suffix}"
    result = invoke("normalize", src, out, "-k", "temp", "-m", "zscore", "--nan", "omit", "-q")
    assert result.exit_code == 0, result.stderr
    for engine in ("netcdf4", "h5netcdf"):
        with (
            xr.open_dataset(src, engine=engine, decode_times=False) as before,
            xr.open_dataset(out, engine=engine, decode_times=False) as after,
        ):
            assert dict(after.sizes) == dict(before.sizes)
            assert set(after.coords) == set(before.coords)
            assert set(after.data_vars) == set(before.data_vars)
            for name in before.variables:
                assert after[name].dims == before[name].dims
            t = before["temp"].values.astype(np.float64)
            z = (t - np.nanmean(t)) / np.nanstd(t)
            np.testing.assert_allclose(after["temp"].values, z, rtol=1e-6, atol=1e-6)
            assert np.array_equal(np.isnan(after["temp"].values), np.isnan(t))
            # copied through: the stored values and every attribute
            np.testing.assert_array_equal(after["rain"].values, before["rain"].values)
            assert after["rain"].encoding["_FillValue"] == before["rain"].encoding["_FillValue"]
            np.testing.assert_array_equal(after["lat"].values, before["lat"].values)
            attrs = after["temp"].attrs
            assert attrs["long_name"] == "air temperature"
            assert "units" not in attrs and "scale_factor" not in attrs
            assert attrs["normcli_method"] == "zscore" and "normcli_version" in attrs
            assert json.loads(attrs["normcli_params"])["method"] == "zscore"
            assert "NaN" in attrs["normcli_missing"]


def test_xarray_written_files_without_coordinates_are_read_with_k(invoke, tmp_path):
    """An xarray Dataset without coords: every dimension is a placeholder, none refused."""
    values = RNG.normal(280, 5, size=(12, 3, 4))
    ds = xr.Dataset({"t2m": (("time", "y", "x"), values), "mask": (("y", "x"), np.ones((3, 4)))})
    for engine in ("netcdf4", "h5netcdf"):
        path = tmp_path / f"{engine}.nc"
        ds.to_netcdf(path, engine=engine)
        listed = json.loads(invoke("ls", path, "--json").stdout)
        assert [a["name"] for a in listed["arrays"]] == ["mask", "t2m"]
        assert "skipped" not in listed
        item = describe_one(path, "t2m")
        assert_matches_scipy(item.stats, scipy_describe(values))


def test_xarray_packed_encoding_decodes_as_xarray_does(tmp_path):
    values = RNG.normal(1000.0, 30.0, size=(20, 6))
    values[3, 2] = np.nan
    ds = xr.Dataset({"p": (("t", "s"), values)})
    encoding = {"p": {"dtype": "int16", "scale_factor": 0.1, "add_offset": 1000.0,
                      "_FillValue": -32768}}  # fmt: skip
    for engine in ("netcdf4", "h5netcdf"):
        path = tmp_path / f"packed-{engine}.nc"
        ds.to_netcdf(path, engine=engine, encoding=encoding)
        expected = xarray_values(path, "p")
        with open_reader(path) as reader:
            ours = reader.read("p")
        assert ours.dtype == expected.dtype
        np.testing.assert_array_equal(ours.astype(np.float64), expected.astype(np.float64))


def test_unsigned_bytes_decode_as_xarray_does(tmp_path):
    path = tmp_path / "u.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("n", 300)
        v = ds.createVariable("b", "i1", ("n",), fill_value=np.int8(-1))
        v._Unsigned = "true"
        v.set_auto_maskandscale(False)
        v[:] = (np.arange(300) % 256).astype("u1").view("i1")
    expected = xarray_values(path, "b")
    with open_reader(path) as reader:
        ours = reader.read("b")
    np.testing.assert_array_equal(ours.astype(np.float64), expected.astype(np.float64))
    assert np.nanmax(ours) == 254  # 255 (stored -1) is the fill value


def test_valid_range_masks_as_the_netcdf4_library_does(tmp_path):
    path = tmp_path / "v.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("n", 200)
        v = ds.createVariable("x", "i2", ("n",))
        v.valid_range = np.array([-100, 100], dtype="i2")
        v.scale_factor = np.float32(0.5)
        v.set_auto_maskandscale(False)
        v[:] = RNG.integers(-150, 150, size=200).astype("i2")
    with netCDF4.Dataset(path) as ds:  # masks outside valid_range, then unpacks
        masked = ds["x"][:]
        expected = np.ma.filled(masked.astype(np.float64), np.nan)
    with open_reader(path) as reader:
        ours = reader.read("x").astype(np.float64)
    np.testing.assert_array_equal(ours, expected)
    assert np.isnan(ours).any()


@pytest.mark.parametrize(
    ("attr", "value", "words"),
    [
        ("scale_factor", "ten", "scale_factor"),
        ("_FillValue", 1.5e6, "_FillValue"),
        ("valid_range", np.array([5, -5], dtype="i2"), "valid_range"),
        ("valid_min", np.int16(9), "valid_min"),
    ],
)
def test_nonsensical_cf_attributes_are_an_error_naming_variable_and_attribute(
    invoke, tmp_path, attr, value, words
):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("v", data=np.arange(10, dtype="i2"))
        ds.attrs[attr] = value
        if attr == "valid_min":
            ds.attrs["valid_max"] = np.int16(3)
    for command in ("ls", "describe"):
        result = invoke(command, path)
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert "bad.h5:v" in result.stderr and words in result.stderr
        assert "--raw" in result.stderr
    raw = invoke("describe", path, "--raw", "--json")
    assert raw.exit_code == 0, raw.stderr
    assert json.loads(raw.stdout)["arrays"][0]["stats"]["max"] == 9


def test_netcdf3_gets_a_clear_message(invoke, tmp_path):
    path = tmp_path / "old.nc"
    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as ds:
        ds.createDimension("n", 3)
        ds.createVariable("x", "f4", ("n",))[:] = [1, 2, 3]
    result = invoke("describe", path)
    assert result.exit_code == 1
    assert "old.nc" in result.stderr and "netCDF-3" in result.stderr
    assert "convert" in result.stderr and result.stderr.count("\n") == 1


def test_truncated_netcdf_is_one_error_line(invoke, tmp_path, nc):
    path = tmp_path / "cut.nc"
    path.write_bytes(nc.read_bytes()[: nc.stat().st_size // 2])
    for command in ("ls", "describe"):
        result = invoke(command, path)
        assert result.exit_code == 1 and "cut.nc" in result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


# -- Zarr stores written by xarray ---------------------------------------------------------


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_xarray_zarr_stores_decode_and_skip_the_text_coordinate(invoke, tmp_path, zarr_format):
    pytest.importorskip("zarr", reason="normcli[zarr] needs Python >= 3.11")
    values = RNG.normal(290.0, 4.0, size=(16, 3, 5))
    values[0, 0, 0] = np.nan
    ds = xr.Dataset(
        {"t": (("time", "band", "x"), values), "r": (("time", "x"), RNG.gamma(2, 3, (16, 5)))},
        coords={"band": ["red", "green", "blue"]},
    )
    encoding = {"t": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 290.0,
                      "_FillValue": -32767},
                "r": {"_FillValue": -9999.0}}  # fmt: skip
    path = tmp_path / f"s{zarr_format}.zarr"
    ds.to_zarr(path, zarr_format=zarr_format, encoding=encoding, consolidated=False)
    with xr.open_zarr(path, consolidated=False) as back:
        expected = {n: np.asarray(back[n].values) for n in ("t", "r")}
    listed = json.loads(invoke("ls", path, "--json").stdout)
    assert [s["name"] for s in listed["skipped"]] == ["band"]
    assert "text" in listed["skipped"][0]["reason"]
    with open_reader(path) as reader:
        for name in ("t", "r"):
            ours = reader.read(name)
            np.testing.assert_array_equal(
                ours.astype(np.float64), expected[name].astype(np.float64)
            )
    for rows in chunkings(16):
        item = describe_one(path, "t", rows)
        assert_matches_scipy(item.stats, oracle_stats(expected["t"]))
    described = invoke("describe", path)  # without -k: the text coordinate is skipped
    assert described.exit_code == 0, described.stderr
    assert "skipping" in described.stderr and "band" in described.stderr
    refused = invoke("describe", path, "-k", "band")
    assert refused.exit_code == 1 and "band holds text" in refused.stderr


def test_zarr_output_from_zarr_keeps_compressors_chunks_and_attributes(invoke, tmp_path):
    zarr = pytest.importorskip("zarr", reason="normcli[zarr] needs Python >= 3.11")
    from zarr.codecs import GzipCodec

    src = tmp_path / "in.zarr"
    group = zarr.open_group(str(src), mode="w")
    x = group.create_array("x", shape=(40, 6), chunks=(8, 6), dtype="f4",
                           compressors=[GzipCodec(level=6)])  # fmt: skip
    x[...] = RNG.normal(size=(40, 6)).astype("f4")
    x.attrs.update({"units": "m", "long_name": "height", "_FillValue": "AAAAAAAA+H8="})
    y = group.create_array("y", shape=(40,), chunks=(40,), dtype="i4")
    y[...] = np.arange(40)
    y.attrs["units"] = "count"
    out = tmp_path / "out.zarr"
    result = invoke("normalize", src, out, "-k", "x", "-m", "minmax", "-q")
    assert result.exit_code == 0, result.stderr
    written = zarr.open_group(str(out), mode="r")
    assert written["x"].chunks[0] == 8
    assert [type(c) for c in written["x"].compressors] == [GzipCodec]
    assert written["x"].attrs["long_name"] == "height"
    assert "units" not in written["x"].attrs
    assert written["x"].attrs["normcli_method"] == "minmax"
    assert dict(written["y"].attrs) == {"units": "count"}
    np.testing.assert_array_equal(written["y"][...], np.arange(40))


def test_netcdf_to_zarr_keeps_dims_and_what_copied_values_mean(invoke, tmp_path, nc):
    pytest.importorskip("zarr", reason="normcli[zarr] needs Python >= 3.11")
    out = tmp_path / "out.zarr"
    result = invoke("normalize", nc, out, "-k", "temp", "-m", "minmax", "--nan", "omit", "-q")
    assert result.exit_code == 0, result.stderr
    with (
        xr.open_dataset(nc, decode_times=False) as before,
        xr.open_zarr(out, consolidated=False, decode_times=False) as after,
    ):
        assert after["rain"].dims == before["rain"].dims
        # rain was copied as stored (-9999 included) with its _FillValue: still missing
        np.testing.assert_array_equal(after["rain"].values, before["rain"].values)


def test_formats_without_attributes_get_the_decoded_values_copied(tmp_path, nc):
    from click.testing import CliRunner

    from normcli.cli import cli

    out = tmp_path / "out.npz"
    args = ["normalize", str(nc), str(out), "-k", "temp", "-m", "minmax", "--nan", "omit"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.stderr
    with np.load(out) as z:  # no attribute could say -9999 is missing: NaN it is
        np.testing.assert_array_equal(z["rain"], xarray_values(nc, "rain"))


def test_a_variable_shorter_than_its_unlimited_dimension_reads_as_netcdf_does(invoke, tmp_path):
    path = tmp_path / "records.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("t", None)
        ds.createDimension("x", 3)
        ds.createVariable("long", "f4", ("t", "x"))[:7] = RNG.normal(size=(7, 3))
        ds.createVariable("short", "f4", ("t", "x"))[:3] = RNG.normal(size=(3, 3))
        ds.createVariable("counts", "i2", ("t",))[:2] = [4, 5]
    listed = {a["name"]: a for a in ls_doc(invoke, path)["arrays"]}
    with netCDF4.Dataset(path) as ds:  # the netCDF length, the rest masked
        for name in ("long", "short", "counts"):
            assert tuple(listed[name]["shape"]) == ds[name].shape
            expected = np.ma.filled(ds[name][:].astype(np.float64), np.nan)
            for rows in chunkings(7):
                with open_reader(path) as reader:
                    info = reader.info(name)
                    chunks = reader.iter_chunks(name, rows)
                    ours = np.concatenate([np.array(c, dtype=np.float64) for c in chunks])
                    np.testing.assert_array_equal(ours, expected)
                    np.testing.assert_array_equal(
                        reader.read_rows(name, 2, 6).astype(np.float64), expected[2:6]
                    )
                    assert info.shape == ds[name].shape
    assert "3 of 7 records stored" in invoke("ls", path).stdout


def ls_doc(invoke, path) -> dict:
    result = invoke("ls", path, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)
