"""normcli.cf against xarray's own CF decoding (xarray.conventions.decode_cf_variable),
for any stored type and any packing and fill attributes (Hypothesis)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from normcli.cf import cf_coding
from normcli.errors import InputError

xr = pytest.importorskip("xarray", reason="xarray is the oracle of CF decoding")

STORED = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "f4", "f8"]
SCALES = [None, np.float32(0.01), np.float64(0.25), np.float32(2.5), np.float64(1e-3)]
OFFSETS = [None, np.float32(273.15), np.float64(-40.0), np.float32(0.0)]


@st.composite
def variables(draw):
    dtype = np.dtype(draw(st.sampled_from(STORED)))
    data = draw(hnp.arrays(dtype, st.integers(1, 40), elements={"allow_nan": False}))
    attrs = {}
    scale, offset = draw(st.sampled_from(SCALES)), draw(st.sampled_from(OFFSETS))
    if scale is not None:
        attrs["scale_factor"] = scale
    if offset is not None:
        attrs["add_offset"] = offset
    if draw(st.booleans()) and data.size:
        attrs["_FillValue"] = data.flat[draw(st.integers(0, data.size - 1))]
    if draw(st.booleans()) and dtype.kind == "i":
        attrs["_Unsigned"] = "true"
    return data, attrs


@given(variables())
def test_decoding_is_xarrays_to_the_bit(variable):
    data, attrs = variable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = xr.conventions.decode_cf_variable(
            "v", xr.Variable(("n",), data, dict(attrs)), decode_times=False
        ).values
    coding = cf_coding(dict(attrs), data.dtype, "f.h5:v")
    ours = data if coding is None else coding.decode(data)
    assert ours.dtype == expected.dtype
    np.testing.assert_array_equal(ours, expected)


@given(hnp.arrays(np.int16, st.integers(1, 50)), st.integers(-5, 5), st.integers(-5, 5))
def test_valid_range_masks_exactly_the_values_outside(data, a, b):
    lo, hi = min(a, b), max(a, b)
    coding = cf_coding({"valid_range": np.array([lo, hi], np.int16)}, data.dtype, "f.h5:v")
    out = coding.decode(data)
    outside = (data < lo) | (data > hi)
    np.testing.assert_array_equal(np.isnan(out), outside)
    np.testing.assert_array_equal(out[~outside], data[~outside])


@pytest.mark.parametrize(
    ("attrs", "words"),
    [
        ({"scale_factor": "0.1"}, "scale_factor"),
        ({"add_offset": np.array([1.0, 2.0])}, "add_offset"),
        ({"_FillValue": 70000}, "_FillValue"),
        ({"_FillValue": 0.5}, "_FillValue"),
        ({"missing_value": "none"}, "missing_value"),
        ({"valid_min": 5, "valid_max": 1}, "valid_min"),
        ({"valid_range": [3]}, "valid_range"),
        ({"_Unsigned": "maybe"}, "_Unsigned"),
        ({"scale_factor": 0.0}, "scale_factor"),
    ],
)
def test_nonsense_names_variable_and_attribute(attrs, words):
    with pytest.raises(InputError, match=rf"f\.h5:v .*{words}.*--raw"):
        cf_coding(attrs, np.dtype("i2"), "f.h5:v")


def test_no_cf_attribute_no_decoding():
    assert cf_coding({"units": "K"}, np.dtype("f4"), "f.h5:v") is None
    assert cf_coding({"_FillValue": np.float32(np.nan)}, np.dtype("f4"), "f.h5:v") is None
