"""Write sample_data/weather_sample.nc: a small synthetic reanalysis-like netCDF-4 file.

Run from the repository root (needs the netCDF4 library, a test extra):
``.venv/bin/python sample_data/make_weather_sample.py``. The values are synthetic (a
seeded random generator), shaped like ERA5's: hourly 2 m temperature stored packed
as int16 with scale_factor/add_offset and a _FillValue, precipitation as float32 with
_FillValue -9999, an unlimited time dimension, coordinate variables time/lat/lon and a
bounds dimension ``nv`` that has no coordinate variable.
"""

from pathlib import Path

import netCDF4
import numpy as np

OUT = Path(__file__).resolve().parent / "weather_sample.nc"
TIME, LAT, LON = 24, 8, 12


def main() -> None:
    rng = np.random.default_rng(2024)
    lat = np.linspace(35.0, 70.0, LAT)
    lon = np.linspace(-10.0, 45.0, LON)
    hours = np.arange(TIME)
    t2m = (
        288.0
        - 0.6 * (lat[None, :, None] - 35.0)
        + 4.0 * np.sin(2 * np.pi * (hours[:, None, None] - 9) / 24)
        + rng.normal(0.0, 1.5, size=(TIME, LAT, LON))
    )
    packed = np.round((t2m - 280.0) / 0.01).astype(np.int16)
    packed[5, 2, :4] = -32767  # missing: a sensor gap
    rain = rng.gamma(0.6, 1.8, size=(TIME, LAT, LON)).astype(np.float32)
    rain[rng.random(rain.shape) < 0.45] = 0.0
    rain[10, 6, 3] = -9999.0
    with netCDF4.Dataset(OUT, "w", format="NETCDF4") as ds:
        ds.title = "normcli sample: synthetic hourly weather (not real observations)"
        ds.createDimension("time", None)
        ds.createDimension("lat", LAT)
        ds.createDimension("lon", LON)
        ds.createDimension("nv", 2)
        v = ds.createVariable("time", "i4", ("time",))
        v.units = "hours since 2024-01-01 00:00:00"
        v[:] = hours
        v = ds.createVariable("lat", "f4", ("lat",))
        v.units = "degrees_north"
        v[:] = lat
        v = ds.createVariable("lon", "f4", ("lon",))
        v.units = "degrees_east"
        v[:] = lon
        v = ds.createVariable("lat_bnds", "f4", ("lat", "nv"))
        v[:] = np.stack([lat - 2.5, lat + 2.5], axis=1)
        v = ds.createVariable(
            "t2m", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767), zlib=True,
            complevel=4, chunksizes=(6, LAT, LON),
        )  # fmt: skip
        v.set_auto_maskandscale(False)
        v.scale_factor = np.float32(0.01)
        v.add_offset = np.float32(280.0)
        v.units = "K"
        v.long_name = "2 metre temperature"
        v.standard_name = "air_temperature"
        v[:] = packed
        v = ds.createVariable(
            "tp", "f4", ("time", "lat", "lon"), fill_value=np.float32(-9999.0), zlib=True,
            chunksizes=(6, LAT, LON),
        )  # fmt: skip
        v.set_auto_maskandscale(False)
        v.units = "mm"
        v.long_name = "total precipitation"
        v[:] = rain


if __name__ == "__main__":
    main()
