"""normcli benchmarks: normcli beside its anchors, in one run, on this machine.

Every case runs in a fresh Python process (so peak RSS is its own) a few times; the
table shows the median seconds, GB/s of input, peak RSS and the ratio to each of its
anchors (the cases it is compared with). Under the table, issue 6's targets are
judged from the same run. Inputs are built once under bench/work/ (git-ignored) and
reused. The table is printed and written to bench/results.md so the README can quote
it with its date and machine.

    python bench/run.py                 # everything (about 6 minutes on 2 cores)
    python bench/run.py --only describe # some groups (comma-separated)
    python bench/run.py --repeat 3      # runs per case (5; fewer for the long ones)
    python bench/run.py --only dask --big-mib 16 --repeat 1   # check cases quickly

Only the inputs the selected groups need are built. ``--big-mib`` sets the size of the
"1 GiB" float32 input (1024 by default; another size gets files of its own and
results.md is not written). Timings on a shared machine vary by 20-30% from run to
run: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
GROUPS = (
    "describe",
    "zscore",
    "minmax",
    "lp",
    "hdf5",
    "images",
    "photos",
    "memory",
    "dask",
    "quantiles",
)

# Runs ``setup`` untimed, then ``work`` timed; prints seconds and peak RSS as JSON.
RUNNER = textwrap.dedent(
    """
    import json, sys, time
    {setup}
    try:  # the peak from here on: what setup left resident counts, its passing peaks not
        with open("/proc/self/clear_refs", "w") as _refs:
            _refs.write("5")
    except OSError:
        pass
    t0 = time.perf_counter()
    {work}
    seconds = time.perf_counter() - t0
    # VmHWM is this process's own peak (ru_maxrss would include the parent's, from fork)
    with open("/proc/self/status") as status:
        rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
    print(json.dumps({{"seconds": seconds, "rss": rss}}), file=sys.stderr)
    """
)

NORMCLI = "from normcli.cli import cli\n"
OUT = WORK / "out.npy"


def normcli_work(*args: str) -> str:
    return f"cli.main(args={list(map(str, args))!r}, prog_name='normcli', standalone_mode=False)"


def remove(*paths: Path) -> str:
    """Setup code removing earlier outputs (untimed)."""
    lines = ["import os, shutil"]
    for p in paths:
        lines.append(f"shutil.rmtree({str(p)!r}) if os.path.isdir({str(p)!r}) else None")
        lines.append(f"os.remove({str(p)!r}) if os.path.isfile({str(p)!r}) else None")
    return "\n".join(lines) + "\n"


def warm_up(paths: list[Path]) -> str:
    """Setup code reading ``paths`` (files, or every file in a folder) once."""
    if not paths:
        return ""
    return textwrap.dedent(
        f"""
        import os as _os
        _buf = bytearray(1 << 20)
        for _p in {[str(p) for p in paths]!r}:
            _files = [_p]
            if _os.path.isdir(_p):
                _files = [_os.path.join(_d, n) for _d, _, _ns in _os.walk(_p) for n in _ns]
            for _f in _files:
                with open(_f, 'rb', buffering=0) as _src:
                    while _src.readinto(_buf):
                        pass
        del _buf
        """
    )


def copy_loop(read: str, dst: Path, chunk_mib: int = 64, reserve: int = 0) -> str:
    """Timed code: ``read(buf)`` fills a reused buffer until it returns 0; each piece
    is written to ``dst`` (the same bytes, no arithmetic). ``reserve``: bytes allocated
    first with posix_fallocate, as normcli's .npy writer does."""
    return textwrap.dedent(
        f"""
        with open({str(dst)!r}, 'wb') as dst:
            if {reserve}:
                import os
                os.posix_fallocate(dst.fileno(), 0, {reserve})
            buf = bytearray({chunk_mib} << 20)
            view = memoryview(buf)
            while n := {read}:
                dst.write(view[:n])
        """
    )


@dataclass
class Case:
    group: str
    name: str
    setup: str
    work: str
    input_bytes: int
    #: (label, case name) of the cases this one is compared with
    anchors: list[tuple[str, str]] = field(default_factory=list)
    #: at most this many runs (None: --repeat): fewer for the long or memory-hungry
    repeat: int | None = None
    #: keep the stdout of the last run (the figures, for the summary)
    keep_stdout: bool = False
    #: files (or folders) read once before the timing, so that every case finds its
    #: input in the page cache whatever ran before it (untimed)
    warm: list[Path] = field(default_factory=list)

    def run(self) -> dict:
        code = RUNNER.format(setup=warm_up(self.warm) + self.setup, work=self.work)
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=WORK
        )
        if proc.returncode != 0:
            raise SystemExit(f"{self.name} failed:\n{proc.stderr}")
        result = json.loads(proc.stderr.strip().splitlines()[-1])
        if self.keep_stdout:
            result["stdout"] = proc.stdout
        return result


# -- inputs ---------------------------------------------------------------------------------


def _repeat_npy(src: Path, dst: Path, times: int) -> None:
    """``dst``: the rows of the .npy ``src`` ``times`` times over (copied, no arithmetic)."""
    from numpy.lib.format import read_array_header_1_0, read_array_header_2_0, read_magic

    from normcli.io.npy import header_bytes

    with open(src, "rb") as f:
        version = read_magic(f)
        read = read_array_header_1_0 if version == (1, 0) else read_array_header_2_0
        shape, _, dtype = read(f)
        offset = f.tell()
    tmp = dst.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        out.write(header_bytes((shape[0] * times, *shape[1:]), dtype))
        for _ in range(times):
            with open(src, "rb") as f:
                f.seek(offset)
                shutil.copyfileobj(f, out, 64 << 20)
    os.replace(tmp, dst)


def build_inputs(groups: set[str], big_mib: int = 1024) -> dict[str, Path]:
    WORK.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    paths = {}
    suffix = "" if big_mib == 1024 else f"_{big_mib}MiB"
    if groups & {"describe", "images"}:
        mnist_f32 = WORK / "mnist_f32.npy"
        if not mnist_f32.exists():
            x = rng.random((60000, 28, 28), dtype=np.float32)
            x[x < 0.8] = 0  # mostly zeros, like MNIST
            np.save(mnist_f32, x)
        paths["mnist_f32"] = mnist_f32
        mnist_u8 = WORK / "mnist_u8.npy"
        if not mnist_u8.exists():
            np.save(mnist_u8, (np.load(mnist_f32) * 255).astype(np.uint8))
        paths["mnist_u8"] = mnist_u8
    if groups & {"zscore", "minmax", "lp", "hdf5", "memory", "dask", "quantiles"}:
        big = WORK / f"big_f32{suffix}.npy"
        if not big.exists():
            # float32 rows of 1024 values, written in pieces so building needs little memory
            from numpy.lib.format import open_memmap

            rows, cols = (big_mib << 20) // (4 * 1024), 1024
            tmp = big.with_suffix(".tmp")
            mm = open_memmap(tmp, mode="w+", dtype=np.float32, shape=(rows, cols))
            for start in range(0, rows, 16384):
                part = rng.normal(100.0, 15.0, size=(min(16384, rows - start), cols))
                mm[start : start + len(part)] = part
            mm.flush()
            del mm
            os.replace(tmp, big)
        paths["big_f32"] = big
    if "hdf5" in groups:
        h5 = WORK / f"big_f32{suffix}.h5"
        if not h5.exists():
            import h5py

            x = np.load(paths["big_f32"], mmap_mode="r")
            tmp = h5.with_suffix(".tmp")
            # stored chunks of 256 rows (1 MiB), uncompressed: h5py's usual layout
            with h5py.File(tmp, "w") as f:
                ds = f.create_dataset("x", shape=x.shape, dtype=x.dtype, chunks=(256, 1024))
                for start in range(0, x.shape[0], 16384):
                    ds[start : start + 16384] = x[start : start + 16384]
            del x
            os.replace(tmp, h5)
        paths["big_h5"] = h5
    if "memory" in groups:
        for times, key in ((2, "big2"), (4, "big4")):
            path = WORK / f"big{times}_f32{suffix}.npy"
            if not path.exists():
                _repeat_npy(paths["big_f32"], path, times)
            paths[key] = path
    if "images" in groups:
        folder = WORK / "pngs"
        if not (folder / ".complete").exists():
            from PIL import Image

            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            digits = np.load(paths["mnist_u8"], mmap_mode="r")
            for i in range(10000):
                Image.fromarray(np.asarray(digits[i])).save(folder / f"{i:05d}.png")
            (folder / ".complete").touch()
        paths["pngs"] = folder
    if "photos" in groups:
        paths["jpegs"] = build_photos(WORK / "jpegs", PHOTOS)
    return paths


#: The photo folder of issue 13: JPEGs of mixed sizes around 500x375.
PHOTOS = 2000


def build_photos(folder: Path, count: int) -> Path:
    """``count`` JPEG photos (quality 90) of sizes 440-560 x 330-420, in 10 class folders:
    smooth gradients with noise, so that they compress like photos rather than noise."""
    if (folder / ".complete").exists():
        return folder
    from PIL import Image

    shutil.rmtree(folder, ignore_errors=True)
    rng = np.random.default_rng(13)
    for i in range(count):
        w, h = int(rng.integers(440, 561)), int(rng.integers(330, 421))
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        a, b, c = rng.random(3) * 2 * np.pi
        img = np.dstack(
            [
                127 + 90 * np.sin(x / (40 + 30 * rng.random()) + a),
                127 + 90 * np.cos(y / (30 + 30 * rng.random()) + b),
                127 + 90 * np.sin((x + y) / (50 + 40 * rng.random()) + c),
            ]
        )
        img += rng.normal(0, 12, img.shape).astype(np.float32)
        out = folder / f"class{i % 10}" / f"photo{i:05d}.jpg"
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(out, quality=90)
    (folder / ".complete").touch()
    return folder


# -- the cases --------------------------------------------------------------------------------


def cases(paths: dict[str, Path], groups: set[str]) -> list[Case]:
    out = []
    makers = {
        "describe": describe_cases,
        "zscore": zscore_cases,
        "minmax": minmax_cases,
        "lp": lp_cases,
        "hdf5": hdf5_cases,
        "images": image_cases,
        "photos": photo_cases,
        "memory": memory_cases,
        "dask": dask_cases,
        "quantiles": quantile_cases,
    }
    for group in GROUPS:
        if group in groups:
            out += makers[group](paths)
    for case in out:  # every case reads its inputs once, untimed, before it is timed
        case.warm = [p for p in paths.values() if repr(str(p)) in case.setup + case.work]
        if case.repeat is None and (
            not case.name.startswith(("normcli", "I/O floor"))  # anchors holding GBs
            or "4 GiB" in case.name
            or case.group == "dask"
        ):
            case.repeat = 3
    return out


def describe_cases(paths: dict[str, Path]) -> list[Case]:
    f32, u8 = paths["mnist_f32"], paths["mnist_u8"]
    out = []
    for label, path in (("float32", f32), ("uint8", u8)):
        size = path.stat().st_size
        # scipy cannot describe uint8 over axis=None (its count overflows the dtype):
        # the anchor converts to float64 first, as a user must.
        convert = ".astype(np.float64)" if label == "uint8" else ""
        anchor = f"scipy.stats.describe, {label} in memory" + (" (as float64)" if convert else "")
        out.append(
            Case(
                "describe",
                anchor,
                f"import numpy as np, scipy.stats\nx = np.load({str(path)!r})",
                f"scipy.stats.describe(x{convert}, axis=None)",
                size,
            )
        )
        out.append(
            Case(
                "describe",
                f"normcli describe, {label} .npy",
                NORMCLI,
                normcli_work("describe", path, "--json"),
                size,
                anchors=[("scipy", anchor)],
                keep_stdout=True,
            )
        )
    return out


def quantile_cases(paths: dict[str, Path]) -> list[Case]:
    """Issue 17: exact percentiles, robust and quantile normalization of the 1 GiB input
    against numpy and scikit-learn in memory (each anchor run once: they take long and
    gigabytes)."""
    big = paths["big_f32"]
    size = big.stat().st_size
    pct = "numpy.percentile 1,5,25,50,75,95,99, float32 in memory"
    robust = "scikit-learn RobustScaler (per column) fit_transform: load, save"
    quantile = "scikit-learn QuantileTransformer(subsample=None) (global: one column): load, save"
    return [
        Case("quantiles", pct, f"import numpy as np\nx = np.load({str(big)!r})",
             "np.percentile(x, [1, 5, 25, 50, 75, 95, 99])", size, repeat=1),
        Case("quantiles", f"normcli describe --percentiles, {_size(size)} float32 .npy", NORMCLI,
             normcli_work("describe", big, "--percentiles", "--json"), size,
             anchors=[("numpy", pct)], repeat=3),
        Case("quantiles", robust,
             remove(OUT) + "import numpy as np\nfrom sklearn.preprocessing import RobustScaler\n",
             f"x = np.load({str(big)!r})\n"
             f"np.save({str(OUT)!r}, RobustScaler().fit_transform(x))", size, repeat=1),
        Case("quantiles", "normcli normalize -m robust --axis 0", remove(OUT) + NORMCLI,
             normcli_work("normalize", big, OUT, "-m", "robust", "--axis", "0", "-q"), size,
             anchors=[("sklearn", robust)], repeat=1),
        Case("quantiles", quantile,
             remove(OUT) + "import numpy as np\n"
             "from sklearn.preprocessing import QuantileTransformer\n",
             f"x = np.load({str(big)!r})\n"
             "y = QuantileTransformer(n_quantiles=1000, subsample=None)"
             ".fit_transform(x.reshape(-1, 1)).reshape(x.shape)\n"
             f"np.save({str(OUT)!r}, y)", size, repeat=1),
        Case("quantiles", "normcli normalize -m quantile (global, 1000 quantiles)",
             remove(OUT) + NORMCLI,
             normcli_work("normalize", big, OUT, "-m", "quantile", "-q"), size,
             anchors=[("sklearn", quantile)], repeat=1),
    ]  # fmt: skip


def _size(nbytes: int) -> str:
    gib = nbytes / 2**30
    return f"{gib:.0f} GiB" if gib >= 1 else f"{nbytes / 2**20:.0f} MiB"


def _floor(group: str, src: Path, size: int, repeat: int | None = None, reserve=False) -> Case:
    """The I/O floor: a read/write loop of the same bytes (the issue's definition); with
    ``reserve``, the output's space allocated first (posix_fallocate), which normcli's
    .npy writer does and which made writes several times faster on this machine's ext4:
    the stricter floor."""
    how = "space reserved first, " if reserve else ""
    return Case(
        group,
        f"I/O floor: read + write the same bytes, {_size(size)} ({how}64 MiB chunks)",
        remove(OUT),
        f"src = open({str(src)!r}, 'rb', buffering=0)\n"
        + copy_loop("src.readinto(buf)", OUT, reserve=size if reserve else 0),
        size,
        repeat=repeat,
    )


def zscore_cases(paths: dict[str, Path]) -> list[Case]:
    big = paths["big_f32"]
    size = big.stat().st_size
    floor = _floor("zscore", big, size)
    reserved = _floor("zscore", big, size, reserve=True)
    numpy = "numpy script: load, (x - mean) / std, save"
    sklearn = "scikit-learn StandardScaler (global: one column) fit_transform, save"
    return [
        floor,
        reserved,
        Case(
            "zscore",
            numpy,
            remove(OUT) + "import numpy as np\n",
            f"x = np.load({str(big)!r})\n"
            "x = ((x - x.mean(dtype=np.float64)) / x.std(dtype=np.float64)).astype(np.float32)\n"
            f"np.save({str(OUT)!r}, x)",
            size,
        ),
        Case(
            "zscore",
            sklearn,
            remove(OUT) + "import numpy as np\nfrom sklearn.preprocessing import StandardScaler\n",
            f"x = np.load({str(big)!r})\n"
            "y = StandardScaler().fit_transform(x.reshape(-1, 1)).reshape(x.shape)\n"
            f"np.save({str(OUT)!r}, y)",
            size,
        ),
        Case(
            "zscore",
            "normcli normalize -m zscore (global)",
            remove(OUT) + NORMCLI,
            normcli_work("normalize", big, OUT, "-m", "zscore", "-q"),
            size,
            anchors=[
                ("floor", floor.name),
                ("reserved floor", reserved.name),
                ("numpy", numpy),
                ("sklearn", sklearn),
            ],
        ),
    ]


def minmax_cases(paths: dict[str, Path]) -> list[Case]:
    big = paths["big_f32"]
    size = big.stat().st_size
    numpy = "numpy script: load, (x - min) / (max - min) per column, save"
    sklearn = "scikit-learn MinMaxScaler fit_transform, save"
    return [
        Case(
            "minmax",
            numpy,
            remove(OUT) + "import numpy as np\n",
            f"x = np.load({str(big)!r})\n"
            "lo, hi = x.min(0), x.max(0)\n"
            "x = (x - lo) / np.where(hi > lo, hi - lo, 1)\n"
            f"np.save({str(OUT)!r}, x)",
            size,
        ),
        Case(
            "minmax",
            sklearn,
            remove(OUT) + "import numpy as np\nfrom sklearn.preprocessing import MinMaxScaler\n",
            f"x = np.load({str(big)!r})\nnp.save({str(OUT)!r}, MinMaxScaler().fit_transform(x))",
            size,
        ),
        Case(
            "minmax",
            "normcli normalize -m minmax --axis 0",
            remove(OUT) + NORMCLI,
            normcli_work("normalize", big, OUT, "-m", "minmax", "--axis", "0", "-q"),
            size,
            anchors=[("numpy", numpy), ("sklearn", sklearn)],
        ),
    ]


def lp_cases(paths: dict[str, Path]) -> list[Case]:
    big = paths["big_f32"]
    size = big.stat().st_size
    keras = "keras.utils.normalize's numpy formula (L2 of each row), save"
    return [
        Case(
            "lp",
            keras,
            remove(OUT) + "import numpy as np\n",
            f"x = np.load({str(big)!r})\n"
            # keras.utils.normalize(x, axis=-1, order=2), as keras 3 writes it
            "l2 = np.atleast_1d(np.linalg.norm(x, 2, -1))\n"
            "l2[l2 == 0] = 1\n"
            f"np.save({str(OUT)!r}, x / np.expand_dims(l2, -1))",
            size,
        ),
        Case(
            "lp",
            "normcli normalize -m lp (L2 of each row)",
            remove(OUT) + NORMCLI,
            normcli_work("normalize", big, OUT, "-m", "lp", "-q"),
            size,
            anchors=[("keras", keras)],
        ),
    ]


def hdf5_cases(paths: dict[str, Path]) -> list[Case]:
    h5 = paths["big_h5"]
    size = paths["big_f32"].stat().st_size
    floor = Case(
        "hdf5",
        "I/O floor: h5py reads (whole stored chunks) + write the same bytes (space reserved)",
        remove(OUT) + "import h5py, numpy as np\n",
        textwrap.dedent(
            f"""
            with h5py.File({str(h5)!r}, 'r') as f, open({str(OUT)!r}, 'wb') as dst:
                ds = f['x']
                import os
                os.posix_fallocate(dst.fileno(), 0, ds.size * ds.dtype.itemsize)
                step = 16384  # 64 MiB, whole stored chunks of 256 rows
                buf = np.empty((step, ds.shape[1]), ds.dtype)
                for start in range(0, ds.shape[0], step):
                    k = min(step, ds.shape[0] - start)
                    ds.read_direct(buf, np.s_[start:start + k], np.s_[0:k])
                    dst.write(memoryview(buf[:k]).cast('B'))
            """
        ),
        size,
    )
    return [
        floor,
        Case(
            "hdf5",
            "normcli describe, 1 GiB HDF5",
            NORMCLI,
            normcli_work("describe", h5, "--json"),
            size,
            anchors=[("floor", floor.name)],
        ),
        Case(
            "hdf5",
            "normcli normalize -m zscore, HDF5 -> .npy",
            remove(OUT) + NORMCLI,
            normcli_work("normalize", h5, OUT, "-m", "zscore", "-q"),
            size,
            anchors=[("floor", floor.name)],
        ),
    ]


def image_cases(paths: dict[str, Path]) -> list[Case]:
    folder = paths["pngs"]
    size = 10000 * 28 * 28  # the pixels decoded (the files hold fewer bytes)
    decode = "imageio: decode the 10,000 PNGs in a loop"
    return [
        Case(
            "images",
            decode,
            "import os, imageio.v3 as iio",
            textwrap.dedent(
                f"""
                folder = {str(folder)!r}
                for name in sorted(os.listdir(folder)):
                    if name.endswith('.png'):
                        iio.imread(os.path.join(folder, name))
                """
            ),
            size,
        ),
        Case(
            "images",
            "normcli describe, folder of 10,000 PNGs",
            NORMCLI,
            normcli_work("describe", folder, "--json"),
            size,
            anchors=[("imageio", decode)],
        ),
    ]


def resized_args(folder):
    return ("describe", folder, "--axis", "0,1,2", "--resize", "224", "--center-crop", "224",
            "--json")  # fmt: skip


PHOTO_LOOP = "Pillow: decode {what} the 2,000 JPEGs in a loop, one thread"


def photo_cases(paths: dict[str, Path]) -> list[Case]:
    """Issue 13: per-channel statistics of a folder of photos of mixed sizes, as they
    are and resized (shorter side 224, centre 224x224), against the loop a user writes
    (decode, and resize and crop, one image after another with Pillow)."""
    folder = paths["jpegs"]
    size = sum(p.stat().st_size for p in folder.rglob("*.jpg"))  # the bytes of the files
    loop = textwrap.dedent(
        f"""
        import os
        from PIL import Image
        root = {str(folder)!r}
        for cls in sorted(os.listdir(root)):
            if cls.startswith('.'):
                continue
            for name in sorted(os.listdir(os.path.join(root, cls))):
                with Image.open(os.path.join(root, cls, name)) as im:
                    im = im.convert('RGB')
                    if RESIZE:
                        w, h = im.size
                        s = 224
                        size = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
                        im = im.resize(size, Image.Resampling.BILINEAR)
                        w, h = im.size
                        top, left = round((h - s) / 2), round((w - s) / 2)
                        im = im.crop((left, top, left + s, top + s))
                    im.load()
        """
    )
    plain = PHOTO_LOOP.format(what="(no statistics)")
    resized = PHOTO_LOOP.format(what="+ resize 224 + crop 224 (no statistics)")
    return [
        Case("photos", plain, "RESIZE = False", loop, size),
        Case("photos", resized, "RESIZE = True", loop, size),
        Case(
            "photos",
            "normcli describe --axis 0,1,2, 2,000 JPEGs of mixed sizes",
            NORMCLI,
            normcli_work("describe", folder, "--axis", "0,1,2", "--json"),
            size,
            anchors=[("loop", plain)],
        ),
        Case(
            "photos",
            "normcli describe --axis 0,1,2 --resize 224 --center-crop 224, 2,000 JPEGs",
            NORMCLI,
            normcli_work(*resized_args(folder)),
            size,
            anchors=[("loop", resized)],
        ),
    ]


def memory_cases(paths: dict[str, Path]) -> list[Case]:
    """Peak memory does not grow with the input: 2 and 4 GiB against 1 GiB, the same
    --chunk-size (the default, 64 MiB). Writing 4 GiB outgrows what this machine keeps
    dirty in memory, so those times are the disk's."""
    big, big2, big4 = paths["big_f32"], paths["big2"], paths["big4"]
    one = "normcli normalize -m zscore, 1 GiB .npy (64 MiB chunks)"
    floor4 = _floor("memory", big4, big4.stat().st_size, reserve=True)
    return [
        Case(
            "memory",
            "normcli describe, 2 GiB float32 .npy",
            NORMCLI,
            normcli_work("describe", big2, "--json"),
            big2.stat().st_size,
        ),
        Case(
            "memory",
            one,
            remove(OUT) + NORMCLI,
            normcli_work("normalize", big, OUT, "-m", "zscore", "-q", "--chunk-size", "64MiB"),
            big.stat().st_size,
        ),
        floor4,
        Case(
            "memory",
            "normcli normalize -m zscore, 4 GiB .npy (64 MiB chunks)",
            remove(OUT) + NORMCLI,
            normcli_work("normalize", big4, OUT, "-m", "zscore", "-q", "--chunk-size", "64MiB"),
            big4.stat().st_size,
            anchors=[("1 GiB", one), ("floor", floor4.name)],
        ),
    ]


def dask_cases(paths: dict[str, Path]) -> list[Case]:
    """The dask engine beside the local one: the same zscore, the same .zarr output.

    The dask times include importing dask and starting its workers (about a second
    for threads, a few for local:2 processes), as a user running the command sees."""
    big = paths["big_f32"]
    size = big.stat().st_size
    store = WORK / "out.zarr"
    zscore = ("normalize", str(big), str(store), "-m", "zscore", "-q")
    local_describe = "normcli describe, local engine"
    local = "normcli normalize -m zscore -> .zarr, local engine"
    out = [
        Case("dask", local_describe, NORMCLI, normcli_work("describe", big, "--json"), size),
        Case(
            "dask",
            "normcli describe, --engine dask (threads)",
            NORMCLI,
            normcli_work("describe", big, "--json", "--engine", "dask"),
            size,
            anchors=[("local", local_describe)],
        ),
        Case("dask", local, remove(store) + NORMCLI, normcli_work(*zscore), size),
    ]
    for label, extra, repeat in (
        ("threads", ("--engine", "dask"), None),
        ("local:2 worker processes", ("--engine", "dask", "--scheduler", "local:2"), 1),
    ):
        out.append(
            Case(
                "dask",
                f"normcli normalize -m zscore -> .zarr, --engine dask ({label})",
                remove(store) + NORMCLI,
                normcli_work(*zscore, *extra),
                size,
                anchors=[("local", local)],
                repeat=repeat,
            )
        )
    return out


# -- the table and the targets ----------------------------------------------------------------


def fmt_row(case: Case, result: dict, results: dict) -> str:
    gbs = case.input_bytes / result["seconds"] / 1e9
    gbs_text = f"{gbs:.2f}" if gbs >= 0.1 else f"{gbs:.3f}"
    ratios = []
    for label, name in case.anchors:
        if name in results:
            ratios.append(f"{result['seconds'] / results[name]['seconds']:.2f} {label}")
    return (
        f"| {case.group} | {case.name} | {result['seconds']:.3f} | {gbs_text} | "
        f"{result['rss'] / 2**20:.0f} | {', '.join(ratios)} |"
    )


def _describe_figures_match(stdout: str, path: Path) -> tuple[bool, float]:
    """normcli's figures against scipy.stats.describe of the same values in float64:
    the largest relative difference of mean, variance, skewness and kurtosis."""
    import scipy.stats

    ours = json.loads(stdout)["arrays"][0]["stats"]
    r = scipy.stats.describe(np.load(path).astype(np.float64), axis=None)
    worst = 0.0
    for key, theirs in (("mean", r.mean), ("variance", r.variance),
                        ("skewness", r.skewness), ("kurtosis", r.kurtosis)):  # fmt: skip
        worst = max(worst, abs(ours[key] - theirs) / max(abs(theirs), 1e-300))
    exact = ours["nobs"] == r.nobs and ours["min"] == r.minmax[0] and ours["max"] == r.minmax[1]
    return exact and worst <= 1e-12, worst


def targets(results: dict, paths: dict[str, Path]) -> list[str]:
    """Issue 6's targets (and issue 2's memory bound), judged from this run."""
    lines = []

    def line(ok: bool, text: str) -> None:
        lines.append(f"- {'met' if ok else '**not met**'}: {text}")

    def get(name):
        return results.get(name)

    d, s = get("normcli describe, float32 .npy"), get("scipy.stats.describe, float32 in memory")
    if d and s:
        same, worst = _describe_figures_match(d["stdout"], paths["mnist_f32"])
        speed = s["seconds"] / d["seconds"]
        line(
            speed >= 8 and same,
            f"describe of MNIST-shaped float32 at least 8x faster than scipy.stats.describe "
            f"with the same figures to 1e-12: {speed:.1f}x, largest relative difference "
            f"{worst:.1e}",
        )
    z = get("normcli normalize -m zscore (global)")
    numpy = get("numpy script: load, (x - mean) / std, save")
    floors = (
        ("", "a read/write loop, the issue's floor"),
        ("space reserved first, ", "the loop with the space reserved first"),
    )
    for how, label in floors:
        floor = get(f"I/O floor: read + write the same bytes, 1 GiB ({how}64 MiB chunks)")
        if z and floor:
            ratio = z["seconds"] / floor["seconds"]
            line(
                ratio <= 1.5,
                f"global zscore, 1 GiB: at most 1.5x the I/O floor ({label}): {ratio:.2f}x",
            )
    if z and numpy:
        speed = numpy["seconds"] / z["seconds"]
        line(speed >= 2, f"global zscore, 1 GiB: at least 2x faster than numpy: {speed:.1f}x")
    if z:
        mb = z["rss"] / 1e6
        line(mb < 150, f"global zscore, 1 GiB: peak RSS under 150 MB: {mb:.0f} MB")
    one = get("normcli normalize -m zscore, 1 GiB .npy (64 MiB chunks)")
    four = get("normcli normalize -m zscore, 4 GiB .npy (64 MiB chunks)")
    if one and four:
        grow = (four["rss"] - one["rss"]) / 2**20
        line(
            grow <= 2,
            f"peak RSS independent of the input's size (4 GiB against 1 GiB, same "
            f"--chunk-size; 2 MiB of noise allowed): {four['rss'] / 2**20:.0f} MiB against "
            f"{one['rss'] / 2**20:.0f} MiB",
        )
    two = get("normcli describe, 2 GiB float32 .npy")
    if two:
        mb = two["rss"] / 1e6
        line(mb < 300, f"describe of a 2 GiB float32 .npy under 300 MB (issue 2): {mb:.0f} MB")
    img, dec = (
        get("normcli describe, folder of 10,000 PNGs"),
        get("imageio: decode the 10,000 PNGs in a loop"),
    )
    if img and dec:
        line(
            img["seconds"] <= dec["seconds"],
            f"10,000 PNGs described at least at the rate imageio decodes them: "
            f"{dec['seconds'] / img['seconds']:.1f}x that rate",
        )
    for ours, loop, what in (
        ("normcli describe --axis 0,1,2, 2,000 JPEGs of mixed sizes", "(no statistics)", ""),
        (
            "normcli describe --axis 0,1,2 --resize 224 --center-crop 224, 2,000 JPEGs",
            "+ resize 224 + crop 224 (no statistics)",
            " with --resize 224 --center-crop 224",
        ),
    ):
        mine, theirs = get(ours), get(PHOTO_LOOP.format(what=loop))
        if mine and theirs:
            speed = theirs["seconds"] / mine["seconds"]
            line(
                speed >= 1.8,
                f"2,000 JPEGs of mixed sizes described per channel{what} at least 1.8x the "
                f"images per second of a one-thread Pillow loop (issue 13): {speed:.2f}x",
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help=f"comma-separated groups: {', '.join(GROUPS)}")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median)")
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the float32 input")
    args = parser.parse_args()
    groups = set(args.only.split(",")) if args.only else set(GROUPS)
    unknown = groups - set(GROUPS)
    if unknown:
        parser.error(f"unknown group {', '.join(sorted(unknown))}; use {', '.join(GROUPS)}")
    began = time.perf_counter()
    paths = build_inputs(groups, args.big_mib)
    built = time.perf_counter() - began
    selected = cases(paths, groups)
    results: dict[str, dict] = {}
    for case in selected:
        runs = [case.run() for _ in range(min(case.repeat or args.repeat, args.repeat))]
        results[case.name] = {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "rss": max(r["rss"] for r in runs),
            "runs": len(runs),
            "stdout": runs[-1].get("stdout"),
        }
        times = ", ".join(f"{r['seconds']:.3f}" for r in runs)
        print(f"{case.name}: {times} s", file=sys.stderr)
    for leftover in (OUT, WORK / "out.zarr"):
        shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(
            missing_ok=True
        )
    total = time.perf_counter() - began
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}; "
        f"median of {args.repeat} runs (fewer where marked), each in a fresh "
        f"process; the whole run took {total / 60:.1f} min ({built:.0f} s building inputs).",
        "",
        "| group | case | seconds | GB/s of input | peak RSS (MiB) | time / anchor |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for case in selected:
        row = fmt_row(case, results[case.name], results)
        runs = results[case.name]["runs"]
        if runs != args.repeat:
            mark = "once" if runs == 1 else f"median of {runs}"
            row = row.replace(f"| {case.name} |", f"| {case.name} ({mark}) |", 1)
        lines.append(row)
    judged = targets(results, paths)
    if judged:
        lines += ["", "Targets (issue 6; issue 2's memory bound), judged from this run:", ""]
        lines += judged
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.only and args.big_mib == 1024:
        (HERE / "results.md").write_text(table)


if __name__ == "__main__":
    main()
