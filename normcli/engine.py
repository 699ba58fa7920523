"""The plan: stream arrays through statistics and normalizers, chunk by chunk.

``describe_arrays`` is one pass of :class:`normcli.stats.Accumulator` per array.
``normalize`` (below) is pass 1 (fit and before-statistics) when the statistic spans
samples, then pass 2 (transform, write, after-statistics on the values written).
Nothing here knows about click or rich: progress is reported to a
:class:`Progress` the caller passes in.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from normcli.axes import ALL, AxisSpec, resolve_axes
from normcli.errors import InputError, ParameterError
from normcli.io import ArrayInfo, Reader, ReadOptions, rows_per_chunk
from normcli.stats import Accumulator, describe

DEFAULT_CHUNK = 64 * 1024 * 1024
NAN_POLICIES = ("raise", "omit", "propagate")


class Progress:
    """Where the engine reports progress; this base class reports nowhere."""

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Progress]:
        yield self

    def advance(self, amount: int) -> None:
        pass

    def warn(self, message: str) -> None:
        """A warning for stderr (the caller decides how to show it)."""


@contextlib.contextmanager
def single_blas_thread():
    """Run the kernels with one BLAS thread (faster here, and fair to the other core)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def open_input(path, options: ReadOptions | None, progress: Progress | None = None) -> Reader:
    """Open INPUT with its reader and pass on what opening noticed (files skipped)."""
    from normcli.io import open_reader

    reader = open_reader(path, options)
    for note in reader.notes:
        (progress or Progress()).warn(note)
    return reader


def select_arrays(
    reader: Reader, keys: Sequence[str] | None, *, default_all: bool
) -> list[ArrayInfo]:
    """The arrays named by ``-k`` (in that order), or the default selection.

    Without keys, ``default_all`` selects every array (``describe``, ``ls``); otherwise a
    file holding one array uses it and a file holding several is an error listing them.
    """
    arrays = reader.arrays()
    if keys:
        by_name = {a.name: a for a in arrays}
        chosen = []
        for key in keys:
            if key not in by_name and key in reader.texts():
                raise ParameterError(
                    f"{key} in {reader.path} is a list of text (names), which is carried "
                    "through unchanged but cannot be described or normalized; choose from: "
                    f"{', '.join(by_name) or 'none'}"
                )
            if key not in by_name:
                listing = ", ".join(by_name) or "no arrays"
                raise ParameterError(f"no array {key!r} in {reader.path}; it holds: {listing}")
            if by_name[key] not in chosen:
                chosen.append(by_name[key])
        return chosen
    if not arrays:
        raise InputError(f"{reader.path} holds no arrays")
    if default_all or len(arrays) == 1:
        return arrays
    raise ParameterError(
        f"{reader.path} holds several arrays ({', '.join(a.name for a in arrays)}); "
        "choose with -k/--key NAME"
    )


def check_not_empty(reader: Reader, info: ArrayInfo) -> None:
    if info.size == 0:
        raise InputError(
            f"{reader.path}:{info.name} is empty (shape {tuple(info.shape)}); "
            "there is nothing to describe or normalize"
        )


@dataclass
class ArrayStats:
    """The statistics of one array, as ``describe`` reports them."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: tuple[int, ...] | None  # None: over all axes
    stats: dict[str, np.ndarray]
    extra: dict = field(default_factory=dict)


def stats_of(
    reader: Reader,
    info: ArrayInfo,
    axes: tuple[int, ...],
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    exclude_zeros: bool = False,
    progress: Progress | None = None,
    label: str | None = None,
):
    """The Moments of one array over ``axes``, streamed."""
    progress = progress or Progress()
    acc = Accumulator(info.shape, info.dtype, axes, exclude_zeros=exclude_zeros)
    rows = rows_per_chunk(info, chunk_bytes)
    with progress.task(label or f"describe {info.name}", info.nbytes) as task:
        for chunk in reader.iter_chunks(info.name, rows):
            acc.update(chunk)
            task.advance(chunk.nbytes)
    return acc.result()


def apply_nan_policy(reader: Reader, info: ArrayInfo, stats: dict, nan_policy: str) -> None:
    n_nan = int(np.sum(stats["nan"]))
    if n_nan and nan_policy == "raise":
        raise InputError(
            f"{reader.path}:{info.name} holds {n_nan} NaN value{'s' if n_nan != 1 else ''}; "
            "use --nan omit to leave them out or --nan propagate"
        )


def describe_arrays(
    reader: Reader,
    infos: Sequence[ArrayInfo],
    axis: AxisSpec = ALL,
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    exclude_zeros: bool = False,
    nan_policy: str = "omit",
    progress: Progress | None = None,
) -> list[ArrayStats]:
    """``describe``: scipy.stats.describe's figures for each array, streamed."""
    progress = progress or Progress()
    results = []
    with single_blas_thread():
        for info in infos:
            check_not_empty(reader, info)
            axes = resolve_axes(axis, len(info.shape), f"{reader.path}:{info.name}")
            m = stats_of(
                reader,
                info,
                axes,
                chunk_bytes=chunk_bytes,
                exclude_zeros=exclude_zeros,
                progress=progress,
            )
            stats = describe(m, nan_policy=nan_policy)
            apply_nan_policy(reader, info, stats, nan_policy)
            n_nan = int(np.sum(stats["nan"]))
            if n_nan and nan_policy == "omit":
                progress.warn(
                    f"{reader.path}:{info.name} holds {n_nan} NaN value"
                    f"{'s' if n_nan != 1 else ''}; they are left out of the statistics"
                )
            results.append(
                ArrayStats(
                    info.name,
                    tuple(info.shape),
                    info.dtype,
                    None if axis == ALL or axes == tuple(range(len(info.shape))) else axes,
                    stats,
                )
            )
    return results


# -- normalize, fit, invert ----------------------------------------------------------------


@dataclass
class ArrayReport:
    """What ``normalize``/``invert`` did to one array (DESIGN.md's JSON contract)."""

    name: str
    shape: tuple[int, ...]
    dtype_in: np.dtype
    dtype_out: np.dtype
    method: str
    axis: list[int] | None
    params: dict
    before: dict[str, np.ndarray]
    after: dict[str, np.ndarray]


@dataclass
class NormalizeReport:
    input: str
    output: str
    arrays: list[ArrayReport]
    passed: list[str]
    dropped: list[str] = field(default_factory=list)
    params_file: str | None = None
    params: dict | None = None


@dataclass
class NormalizeOptions:
    """Everything about a run but the normalizer itself."""

    keys: Sequence[str] = ()
    fit_key: str | None = None
    dtype: str = "float32"  # float32, float64, or "original" (invert only)
    compression: str | None = None
    chunk_bytes: int = DEFAULT_CHUNK
    nan_policy: str = "raise"
    force: bool = False
    strict: bool = False
    save_params: str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    #: How an image-folder OUTPUT is written (normcli.io.images.ImageOutput), if given.
    image_output: object | None = None


def check_output_path(input_path, output_path, force: bool, fmt: str | None = None) -> None:
    """Refuse to write onto INPUT (also through a link), into or over an input folder, or
    over an existing OUTPUT without ``force``."""
    import os
    from pathlib import Path

    from normcli.errors import OutputError

    src, dst = Path(input_path), Path(output_path)
    real_src, real_dst = os.path.realpath(src), os.path.realpath(dst)
    if src.is_dir() and (real_dst == real_src or real_dst.startswith(real_src + os.sep)):
        raise OutputError(
            f"{output_path} is inside the input folder {src}; normcli never writes into its "
            "input: choose an OUTPUT outside it"
        )
    if fmt == "images" and dst.exists():
        if real_src.startswith(real_dst + os.sep):
            raise OutputError(
                f"{output_path} holds the input {src}; replacing it would delete the input: "
                "choose another OUTPUT"
            )
        if not force:
            raise OutputError(
                f"{output_path} already exists; use --force to replace it with the image "
                f"folder (to write a file into it, give a name such as {dst}/out.npz)"
            )
        from normcli.io.images import check_replaceable

        check_replaceable(dst)
        return
    if dst.exists() or dst.is_symlink():
        try:
            same = dst.exists() and os.path.samefile(src, dst)
        except OSError:
            same = False
        if same:
            raise OutputError(
                f"{dst} is the input file {src}; normcli never overwrites its input: "
                "choose another OUTPUT"
            )
        if dst.is_dir() and not dst.is_symlink():
            raise OutputError(f"{dst} is a directory; give a file name such as {dst}/out.npz")
        if not force:
            raise OutputError(f"{dst} already exists; use --force to replace it")


def _nonfinite_error(reader: Reader, info: ArrayInfo, acc: Accumulator) -> InputError:
    m = acc.result()
    n_nan, n_inf = int(np.sum(m.nan)), int(np.sum(m.inf))
    what = " and ".join(
        w for w in (f"{n_nan} NaN" if n_nan else "", f"{n_inf} infinite" if n_inf else "") if w
    )
    return InputError(
        f"{reader.path}:{info.name} holds {what} value{'s' if n_nan + n_inf != 1 else ''}; "
        "use --nan omit to fit on the finite values and leave the others in place, or "
        "--nan propagate"
    )


class _Pass:
    """One streamed pass over an array: before-statistics, fitting, NaN checks."""

    def __init__(
        self, reader: Reader, info: ArrayInfo, options: NormalizeOptions, progress: Progress
    ):
        self.reader, self.info, self.options, self.progress = reader, info, options, progress
        ndim = len(info.shape)
        self.before = Accumulator(info.shape, info.dtype, tuple(range(ndim)))
        self.rows = rows_per_chunk(info, options.chunk_bytes)
        self._seen_nonfinite = 0

    def chunks(self, label: str):
        with self.progress.task(label, self.info.nbytes) as task:
            for chunk in self.reader.iter_chunks(self.info.name, self.rows):
                yield chunk
                task.advance(chunk.nbytes)

    def observe(self, chunk: np.ndarray) -> None:
        """Before-statistics of a chunk, with --nan raise enforced on the spot."""
        self.before.update(chunk)
        raising = self.options.nan_policy == "raise" and self.info.dtype.kind == "f"
        if raising and self.before.nonfinite() > 0:
            raise _nonfinite_error(self.reader, self.info, self.before)


def _as_stream_shape(chunk: np.ndarray) -> np.ndarray:
    return chunk.reshape(1) if chunk.ndim == 0 else chunk


def fit_array(
    reader: Reader,
    info: ArrayInfo,
    norm,
    options: NormalizeOptions,
    progress: Progress,
    with_before: bool = True,
):
    """Pass 1: fit ``norm`` on the array (and take its before-statistics)."""
    scan = _Pass(reader, info, options, progress)
    norm.reset()
    norm.bind(_stream_shape(info), f"{reader.path}:{info.name}")
    # A global minmax or zscore needs nothing but the before-statistics: one
    # accumulator serves both (a second is used only if non-finite values turn up).
    shared = norm.fits_from_moments and norm.axes_ == tuple(range(len(_stream_shape(info))))
    for chunk in scan.chunks(f"fit {info.name}"):
        chunk = _as_stream_shape(chunk)
        scan.observe(chunk)
        if not shared:
            norm.partial_fit(chunk)
    before = scan.before.result()
    if shared and not norm.fit_from_moments(before):
        for chunk in scan.chunks(f"fit {info.name} (finite values)"):
            norm.partial_fit(_as_stream_shape(chunk))
    return describe(before) if with_before else None


def _stream_shape(info: ArrayInfo) -> tuple[int, ...]:
    return tuple(info.shape) if info.shape else (1,)


def _output_dtype(options: NormalizeOptions, info: ArrayInfo, params: dict | None) -> np.dtype:
    if options.dtype == "original":
        original = (params or {}).get("fitted_on", {}).get("dtype")
        return np.dtype(original or info.dtype)
    return np.dtype(options.dtype)


def _apply_array(
    reader, info, norm, sink, options, progress, *, invert: bool, before_done, out_dtype
) -> tuple[dict, dict]:
    """Pass 2: transform (or invert), write, and measure what was written."""
    scan = _Pass(reader, info, options, progress)
    shape = _stream_shape(info)
    after = Accumulator(shape, sink.stored_dtype, tuple(range(len(shape))))
    out_buf = None
    verb = "invert" if invert else "normalize"
    for chunk in scan.chunks(f"{verb} {info.name}"):
        chunk = _as_stream_shape(chunk)
        if before_done is None:
            scan.observe(chunk)
        if out_buf is None or out_buf.shape[0] < chunk.shape[0]:
            out_buf = np.empty(chunk.shape, dtype=out_dtype)
        out = out_buf[: chunk.shape[0]]
        if invert:
            norm.inverse_transform(chunk, out=out)
        else:
            norm.transform(chunk, out=out)
        stored = sink.encode(out)  # what the format keeps (an image folder quantizes)
        after.update(stored)
        sink.write(stored.reshape(()) if not info.shape else stored)
    before = before_done if before_done is not None else describe(scan.before.result())
    return before, describe(after.result())


def _copy_array(reader: Reader, info: ArrayInfo, writer, options, progress) -> None:
    rows = rows_per_chunk(info, options.chunk_bytes)
    with (
        writer.add(info.name, info.shape, info.dtype) as sink,
        progress.task(f"copy {info.name}", info.nbytes) as task,
    ):
        for chunk in reader.iter_chunks(info.name, rows):
            sink.write(chunk)
            task.advance(chunk.nbytes)


def _warn_split(norm, info: ArrayInfo, where: str, options: NormalizeOptions, progress) -> None:
    from normcli.axes import format_axis, sample_split

    what = sample_split(tuple(info.shape), norm.axes_)
    if what is None:
        return
    message = (
        f"--axis {format_axis(norm.axes_)} on {where} of shape {tuple(info.shape)} normalizes "
        f"{what} separately, which is almost never meant; for one normalization per image use "
        f"--axis {','.join(str(a) for a in range(1, len(info.shape)))} or -m per-image"
    )
    if options.strict:
        raise ParameterError(message + " (an error because of --strict)")
    progress.warn(message)


def normalize_file(
    input_path,
    output_path,
    make_normalizer,
    options: NormalizeOptions,
    *,
    params_doc: dict | None = None,
    params_where: str = "params",
    invert: bool = False,
    progress: Progress | None = None,
) -> NormalizeReport:
    """Normalize (or invert) the selected arrays of INPUT into OUTPUT.

    ``make_normalizer()`` returns a fresh, unfitted normalizer. With ``params_doc`` the
    saved parameters are applied instead; with ``options.fit_key`` one normalizer is
    fitted on that array and applied to every selected one. Arrays not selected are
    copied through unchanged. OUTPUT appears only when everything is written.
    """
    from normcli.io import ONE_ARRAY_FORMATS, open_writer, output_format
    from normcli.normalizers import normalizer_from_params, params_document

    progress = progress or Progress()
    fmt = output_format(output_path)
    if options.image_output is not None and fmt != "images":
        raise ParameterError(
            f"--image-format and --bit-depth apply to an image-folder OUTPUT (a directory, or "
            f"a path ending in /); {output_path} is a .{fmt} file"
        )
    check_output_path(input_path, output_path, options.force, fmt)
    if options.save_params:
        check_output_path(input_path, options.save_params, options.force)
    with open_input(input_path, options.read, progress) as reader:
        selected = select_arrays(reader, options.keys, default_all=False)
        for info in selected:
            check_not_empty(reader, info)
        if options.fit_key is not None:
            reader.info(options.fit_key)  # a missing fit key lists the keys
        one_file = fmt in ONE_ARRAY_FORMATS
        if one_file and len(selected) > 1:
            raise ParameterError(
                f"{output_path}: {ONE_ARRAY_FORMATS[fmt]}; write .npz or .h5 to keep "
                f"{', '.join(a.name for a in selected)}, or choose one with -k"
            )
        shared = None
        before_of: dict[str, dict] = {}
        reports: list[ArrayReport] = []
        passed: list[str] = []
        dropped: list[str] = []
        with (
            open_writer(
                output_path, compression=options.compression, image_output=options.image_output
            ) as writer,
            single_blas_thread(),
        ):
            texts_passed = []
            for name, values in reader.texts().items():  # class and file names
                (texts_passed if writer.add_texts(name, values) else dropped).append(name)
            if params_doc is not None:
                shared = normalizer_from_params(params_doc, params_where, options.nan_policy)
            elif options.fit_key is not None:
                shared = make_normalizer()
                fit_info = reader.info(options.fit_key)
                check_not_empty(reader, fit_info)
                shared.bind(_stream_shape(fit_info), f"{reader.path}:{fit_info.name}")
                if shared.needs_fit:
                    before_of[fit_info.name] = fit_array(
                        reader, fit_info, shared, options, progress
                    )
                else:
                    progress.warn(
                        f"-m {shared.method} over axes {shared.axes_} normalizes each sample "
                        f"with its own statistics; --fit-key {options.fit_key} changes nothing"
                    )
            elif len(selected) > 1:
                probe = make_normalizer().bind(
                    _stream_shape(selected[0]), f"{reader.path}:{selected[0].name}"
                )
                if probe.needs_fit:
                    names = ", ".join(a.name for a in selected)
                    progress.warn(
                        f"{names} are each normalized with their own statistics; to apply "
                        f"the training statistics to the others use --fit-key "
                        f"{selected[0].name}"
                    )
            params_out = None
            for info in reader.arrays():
                where = f"{reader.path}:{info.name}"
                if info not in selected:
                    if one_file:
                        dropped.append(info.name)
                    else:
                        _copy_array(reader, info, writer, options, progress)
                        passed.append(info.name)
                    continue
                norm = shared if shared is not None else make_normalizer()
                norm.bind(_stream_shape(info), where)
                if invert and not norm.invertible:
                    raise ParameterError(norm.not_invertible_reason())
                if not invert:
                    _warn_split(norm, info, where, options, progress)
                before = before_of.get(info.name)
                if shared is None and norm.needs_fit:
                    before = fit_array(reader, info, norm, options, progress)
                out_dtype = _output_dtype(options, info, params_doc)
                with writer.add(info.name, info.shape, out_dtype) as sink:
                    stored_dtype = sink.stored_dtype
                    before, after = _apply_array(
                        reader,
                        info,
                        norm,
                        sink,
                        options,
                        progress,
                        invert=invert,
                        before_done=before,
                        out_dtype=out_dtype,
                    )
                fitted_on = info
                if options.fit_key is not None:
                    fitted_on = reader.info(options.fit_key)
                doc = (
                    params_document(
                        norm,
                        source=str(reader.path),
                        key=fitted_on.name,
                        shape=_stream_shape(fitted_on),
                        dtype=fitted_on.dtype,
                    )
                    if params_doc is None
                    else params_doc
                )
                params_out = params_out or doc
                reports.append(
                    ArrayReport(
                        name=info.name,
                        shape=tuple(info.shape),
                        dtype_in=info.dtype,
                        dtype_out=stored_dtype,
                        method=norm.method,
                        axis=list(norm.axes_) if norm.axes_ is not None else None,
                        params=doc,
                        before=before,
                        after=after,
                    )
                )
            passed.extend(texts_passed)
            params_text = None
            if options.save_params:
                if shared is None and len(reports) > 1:
                    raise ParameterError(
                        "--save-params saves one set of parameters, but each array was fitted "
                        "on itself; add --fit-key NAME"
                    )
                params_text = params_json(params_out, options.save_params)
            writer.commit()
    if params_text is not None:
        write_text_atomically(options.save_params, params_text, force=options.force)
    if dropped:
        reason = ONE_ARRAY_FORMATS.get(fmt, f"a .{fmt} OUTPUT has no place for them")
        verb = "is" if len(dropped) == 1 else "are"
        progress.warn(f"{', '.join(dropped)} {verb} not written: {reason}")
    return NormalizeReport(
        input=str(input_path),
        output=str(output_path),
        arrays=reports,
        passed=passed,
        dropped=dropped,
        params_file=options.save_params,
        params=params_out,
    )


def fit_file(
    input_path, make_normalizer, options: NormalizeOptions, *, progress: Progress | None = None
) -> tuple[dict, dict]:
    """``fit``: the params document of one array, and its before-statistics."""
    from normcli.normalizers import params_document

    progress = progress or Progress()
    with open_input(input_path, options.read, progress) as reader:
        keys = list(options.keys)
        if options.fit_key:
            keys = [options.fit_key]
        selected = select_arrays(reader, keys, default_all=False)
        if len(selected) != 1:
            raise ParameterError("fit takes one array: give one -k NAME")
        info = selected[0]
        check_not_empty(reader, info)
        norm = make_normalizer()
        norm.bind(_stream_shape(info), f"{reader.path}:{info.name}")
        if not norm.needs_fit and norm.method != "scale":
            raise ParameterError(
                f"-m {norm.method} over axes {list(norm.axes_)} normalizes each sample with its "
                "own statistics: there is nothing to fit (include axis 0 to fit across samples)"
            )
        _warn_split(norm, info, f"{reader.path}:{info.name}", options, progress)
        with single_blas_thread():
            before = fit_array(reader, info, norm, options, progress)
        doc = params_document(
            norm,
            source=str(reader.path),
            key=info.name,
            shape=_stream_shape(info),
            dtype=info.dtype,
        )
    return doc, before


def load_params(path) -> dict:
    import json
    from pathlib import Path

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p} does not exist; create it with normcli fit ... -o {p}") from None
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{p} is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def params_json(doc: dict, where) -> str:
    """The params document as JSON text; floats round-trip exactly (shortest repr)."""
    from normcli.jsonfmt import dumps

    try:
        return dumps(doc) + "\n"
    except ValueError:
        raise InputError(
            f"the fitted parameters for {where} contain NaN or infinity (a slice with no "
            "finite values?); nothing was saved"
        ) from None


def write_params(path, doc: dict, *, force: bool) -> None:
    write_text_atomically(path, params_json(doc, path), force=force)


def write_text_atomically(path, text: str, *, force: bool) -> None:
    """Write a small text file atomically (temp file beside it, then os.replace)."""
    from pathlib import Path

    from normcli.errors import OutputError
    from normcli.io.base import remove_quietly, replace_into_place, temp_path_beside

    target = Path(path)
    if (target.exists() or target.is_symlink()) and not force:
        raise OutputError(f"{target} already exists; use --force to replace it")
    tmp = temp_path_beside(target)
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            f.write(text)
    except FileNotFoundError:
        raise OutputError(f"cannot write {target}: its directory does not exist") from None
    except OSError as exc:
        remove_quietly(tmp)
        raise OutputError(f"cannot write {target}: {exc.strerror}") from None
    replace_into_place(tmp, target)
