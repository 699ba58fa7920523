"""``normalize`` and ``invert``: pass 1 where the statistic spans samples, then pass 2
(transform, write, after-statistics on the values written), OUTPUT committed whole.
"""

from __future__ import annotations

import numpy as np

from normcli.engines import LOCAL, ApplyStep, Runner, runner_for, single_blas_thread
from normcli.engines.base import stream_shape
from normcli.errors import InputError, ParameterError, stopped
from normcli.io import ONE_ARRAY_FORMATS, ArrayInfo, open_writer, output_format
from normcli.io.atomic import commit_together, params_writer
from normcli.io.base import check_sample_fits
from normcli.io.paths import check_distinct_outputs, check_output_path
from normcli.moments import describe
from normcli.ops import carry
from normcli.ops.fit import before_accumulator, fit_array, fitted_params, nan_check, warn_split
from normcli.ops.inspect import Watch, normalize_histograms, rank_warning
from normcli.ops.options import NormalizeOptions
from normcli.ops.reports import ArrayReport, NormalizeReport
from normcli.ops.select import check_not_empty, open_input, select_arrays
from normcli.params import normalizer_from_params, params_json
from normcli.ragged import apply_ragged, is_ragged, shape_json
from normcli.reporting import Reporter, warn


def _output_dtype(options: NormalizeOptions, info: ArrayInfo, params: dict | None) -> np.dtype:
    if options.dtype == "original":
        original = (params or {}).get("fitted_on", {}).get("dtype")
        return np.dtype(original or info.dtype)
    return np.dtype(options.dtype)


def _apply_array(
    reader, info, norm, writer, options, progress, *, invert, before_done, out_dtype, watch, runner
) -> tuple[dict, dict, np.dtype]:
    """Pass 2: transform (or invert), write, and measure what was written.

    ``watch(chunk, out)``, when given, sees every input chunk beside what it became.
    Returns the before- and after-statistics and the dtype stored.
    """
    if is_ragged(info):  # a folder of mixed sizes: image by image (normcli.ragged)
        if watch is not None:
            raise ParameterError(
                f"{reader.path}: --hist, --plot and --check-ranks need images of one size; "
                "add --resize WxH (or --resize N --center-crop N)"
            )
        return apply_ragged(reader, info, norm, writer, invert=invert, before_done=before_done,
                            out_dtype=out_dtype, progress=progress)  # fmt: skip
    before = before_accumulator(info) if before_done is None else None
    step = ApplyStep(
        norm, invert=invert, out_dtype=out_dtype, before=before, shape=stream_shape(info)
    )
    stored_dtype = runner.apply(
        reader,
        info,
        step,
        writer,
        chunk_bytes=options.chunk_bytes,
        progress=progress,
        label=f"{'invert' if invert else 'normalize'} {info.name}",
        check=nan_check(reader, info, options, before) if before is not None else None,
        watch=watch,
    )
    before_stats = before_done if before is None else describe(before.result())
    return before_stats, describe(step.after.result()), stored_dtype


def _check_finite_output(where, norm, before: dict, after: dict, out_dtype, invert) -> None:
    """Finite data never come out as NaN or infinity: when they would (values whose
    range or variance exceeds float64, a factor that overflows float32), refuse before
    OUTPUT is committed."""
    nonfinite_in = int(np.sum(before["nan"])) + int(np.sum(before["inf"]))
    nonfinite_out = int(np.sum(after["nan"])) + int(np.sum(after["inf"]))
    if nonfinite_in or not nonfinite_out:
        return
    verb = "inverting" if invert else "normalizing"
    dtype = np.dtype(out_dtype)
    hint = " or write --dtype float64" if dtype.kind == "f" and dtype.itemsize < 8 else ""
    raise InputError(
        f"{verb} {where} with -m {norm.method} gives {nonfinite_out:,} NaN or infinite "
        f"values from finite data: the values or their spread are too large for float64 "
        f"arithmetic or for {dtype} output; scale the data first (-m scale){hint}; "
        "nothing was written"
    )


class Normalization:
    """One ``normalize`` (or ``invert``) of INPUT into OUTPUT, a method per step:
    :meth:`check_paths`, :meth:`select`, :meth:`choose_shared` (the one normalizer
    applied to every array, from --params or --fit-key), :meth:`process` (one array:
    fit, transform, write, measure), :meth:`commit` (the params file and OUTPUT
    together) and :meth:`histograms` (--hist/--plot, after the commit).

    ``make_normalizer()`` returns a fresh, unfitted normalizer. With ``params_doc`` the
    saved parameters are applied instead; with ``options.fit_key`` one normalizer is
    fitted on that array and applied to every selected one. Arrays not selected are
    copied through unchanged. OUTPUT appears only when everything is written.
    """

    def __init__(
        self,
        input_path,
        output_path,
        make_normalizer,
        options: NormalizeOptions,
        *,
        params_doc: dict | None = None,
        params_where: str = "params",
        invert: bool = False,
        progress: Reporter | None = None,
        runner: Runner | None = None,
    ):
        self.input_path, self.output_path = input_path, output_path
        self.make_normalizer, self.options = make_normalizer, options
        self.params_doc, self.params_where, self.invert = params_doc, params_where, invert
        self.progress = progress or Reporter()
        self.runner = runner or LOCAL
        self.inspect = None if invert else options.inspect
        self.fmt = output_format(output_path)
        self.one_file = self.fmt in ONE_ARRAY_FORMATS
        self.selected: list[ArrayInfo] = []
        self.shared = None
        self.before_of: dict[str, dict] = {}
        self.watches: dict[str, Watch] = {}
        self.reports: list[ArrayReport] = []
        self.passed: list[str] = []
        self.dropped: list[str] = []
        self.params_out: dict | None = None

    def _warn(self, message: str) -> None:
        warn(self.progress, message, strict=self.options.strict)

    def run(self) -> NormalizeReport:
        """Every step, in order; the report of what was done."""
        options = self.options
        self.check_paths()
        with open_input(self.input_path, options.read, self.progress) as reader:
            self.select(reader)
            with (
                open_writer(
                    self.output_path,
                    compression=options.compression,
                    image_output=options.image_output,
                    source=reader,
                ) as writer,
                params_writer(options.save_params) as params_file,
                single_blas_thread(),
            ):
                texts_passed = self.carry_texts(reader, writer)
                self.choose_shared(reader)
                for info in reader.arrays():
                    if info in self.selected:
                        self.process(reader, info, writer)
                    elif self.one_file:
                        self.dropped.append(info.name)
                    else:
                        # stored values with all their attributes, where OUTPUT keeps them
                        raw = getattr(reader, "raw", reader) if writer.keeps_attributes else reader
                        self.runner.copy(
                            raw, raw.info(info.name), writer, chunk_bytes=options.chunk_bytes,
                            progress=self.progress,
                        )  # fmt: skip
                        self.passed.append(info.name)
                self.passed.extend(texts_passed)
                self.commit(writer, params_file)
            self.histograms(reader, getattr(writer, "files", None))
        return NormalizeReport(
            input=str(self.input_path),
            output=str(self.output_path),
            arrays=self.reports,
            passed=self.passed,
            dropped=self.dropped,
            params_file=options.save_params,
            params=self.params_out,
        )

    def check_paths(self) -> None:
        """OUTPUT and --save-params: distinct, never INPUT, writable (before any read)."""
        options, output_path = self.options, self.output_path
        if options.image_output is not None and self.fmt != "images":
            raise ParameterError(
                f"--image-format and --bit-depth apply to an image-folder OUTPUT (a directory, "
                f"or a path ending in /); {output_path} is a .{self.fmt} file"
            )
        check_distinct_outputs({"OUTPUT": output_path, "--save-params": options.save_params})
        check_output_path(self.input_path, output_path, options.force, self.fmt)
        from normcli.io.tempfiles import reclaim_beside

        for note in reclaim_beside(output_path):  # what killed runs left beside OUTPUT
            self.progress.warn(note)
        if options.save_params:
            check_output_path(
                self.input_path, options.save_params, options.force, what="--save-params"
            )

    def select(self, reader) -> None:
        """The arrays of -k (or the only one), each checked before anything is written."""
        options = self.options
        self.selected = select_arrays(reader, options.keys, default_all=False)
        for info in self.selected:
            check_not_empty(reader, info)
            if is_ragged(info) and self.fmt != "images":
                raise reader.ragged_error(
                    f"be written to {self.output_path} (a .{self.fmt} holds arrays of one shape)",
                    ", or write an image folder (OUTPUT ending in /), which keeps every size",
                )
        if options.fit_key is not None:
            reader.info(options.fit_key)  # a missing fit key lists the keys
        if not self.one_file:  # the arrays copied through stream in whole samples too
            for info in reader.arrays():
                if info not in self.selected:
                    check_sample_fits(info, f"{reader.path}:{info.name}")
        if self.one_file and len(self.selected) > 1:
            raise ParameterError(
                f"{self.output_path}: {ONE_ARRAY_FORMATS[self.fmt]}; write .npz or .h5 to keep "
                f"{', '.join(a.name for a in self.selected)}, or choose one with -k"
            )

    def carry_texts(self, reader, writer) -> list[str]:
        """Lists of text (class and file names) written where OUTPUT has a place for them;
        what is not written is said before any array is (so --strict can refuse it)."""
        for name in reader.skipped:  # arrays of INPUT normcli cannot read
            self._warn(f"{name} is not written: {carry.skipped_reason(reader, name)}")
            self.dropped.append(name)
        texts_passed = []
        for name, values in reader.texts().items():
            (texts_passed if writer.add_texts(name, values) else self.dropped).append(name)
        not_written = [d for d in self.dropped if d not in reader.skipped] + (
            [a.name for a in reader.arrays() if a not in self.selected] if self.one_file else []
        )
        if not_written:
            reason = ONE_ARRAY_FORMATS.get(self.fmt, f"a .{self.fmt} OUTPUT has no place for them")
            verb = "is" if len(not_written) == 1 else "are"
            self._warn(f"{', '.join(not_written)} {verb} not written: {reason}")
        return texts_passed

    def choose_shared(self, reader) -> None:
        """The normalizer applied to every array: from --params, or fitted on --fit-key;
        none when each array is fitted on itself."""
        options = self.options
        if self.params_doc is not None:
            self.shared = normalizer_from_params(
                self.params_doc, self.params_where, options.nan_policy
            )
        elif options.fit_key is not None:
            shared = self.shared = self.make_normalizer()
            fit_info = reader.info(options.fit_key)
            check_not_empty(reader, fit_info)
            shared.bind(stream_shape(fit_info), f"{reader.path}:{fit_info.name}")
            if shared.needs_fit:
                self.before_of[fit_info.name] = fit_array(
                    reader, fit_info, shared, options, self.progress, runner=self.runner
                )
            else:
                self._warn(
                    f"-m {shared.method} over axes {shared.axes_} normalizes each sample with "
                    f"its own statistics; --fit-key {options.fit_key} changes nothing"
                )
        elif len(self.selected) > 1:
            first = self.selected[0]
            probe = self.make_normalizer().bind(stream_shape(first), f"{reader.path}:{first.name}")
            if probe.needs_fit:
                names = ", ".join(a.name for a in self.selected)
                self._warn(
                    f"{names} are each normalized with their own statistics; to apply the "
                    f"training statistics to the others use --fit-key {first.name}"
                )

    def process(self, reader, info: ArrayInfo, writer) -> None:
        """One selected array: fitted (unless shared), transformed, written, measured."""
        options, progress, invert = self.options, self.progress, self.invert
        where = f"{reader.path}:{info.name}"
        norm = self.shared if self.shared is not None else self.make_normalizer()
        norm.bind(stream_shape(info), where)
        if invert and not norm.invertible:
            raise ParameterError(norm.not_invertible_reason())
        if not invert:
            warn_split(norm, info, where, options, progress)
        before = self.before_of.get(info.name)
        if self.shared is None and norm.needs_fit:
            before = fit_array(reader, info, norm, options, progress, runner=self.runner)
        out_dtype = _output_dtype(options, info, self.params_doc)
        watch = None
        inspect = self.inspect
        if inspect is not None and (inspect.views() or inspect.check_ranks):
            watch = self.watches[info.name] = Watch(inspect)
        before, after, stored_dtype = _apply_array(
            reader, info, norm, writer, options, progress, invert=invert, before_done=before,
            out_dtype=out_dtype, watch=watch, runner=self.runner,
        )  # fmt: skip
        _check_finite_output(where, norm, before, after, out_dtype, invert)
        for note in carry.array_notes(where, info, norm, before):
            progress.warn(note)
        ranks = watch.ranks.result() if watch is not None and watch.ranks else None
        if ranks is not None and ranks.changed:
            self._warn(rank_warning(where, ranks))
        fitted_on = info if options.fit_key is None else reader.info(options.fit_key)
        doc = self.params_doc
        if doc is None:
            doc = fitted_params(norm, reader, fitted_on)
        self.params_out = self.params_out or doc
        if not invert:
            carry.annotate(writer, reader, info.name, norm, doc, before)
        self.reports.append(
            ArrayReport(
                name=info.name,
                shape=tuple(shape_json(info)),
                dtype_in=info.dtype,
                dtype_out=stored_dtype,
                method=norm.method,
                axis=list(norm.axes_) if norm.axes_ is not None else None,
                params=doc,
                before=before,
                after=after,
                ranks=ranks,
            )
        )

    def commit(self, writer, params_file) -> None:
        """The params file written, then it and OUTPUT moved into place together."""
        if params_file is not None:
            if self.shared is None and len(self.reports) > 1:
                raise ParameterError(
                    "--save-params saves one set of parameters, but each array was fitted "
                    "on itself; add --fit-key NAME"
                )
            # written before OUTPUT is committed: a full disk fails both, not one
            params_file.write_text(params_json(self.params_out, self.options.save_params))
        commit_together(
            [writer] + ([params_file] if params_file is not None else []), self.output_path
        )

    def histograms(self, reader, written_files) -> None:
        """--hist/--plot: one pass over INPUT and the written OUTPUT side by side."""
        inspect = self.inspect
        if inspect is None or not inspect.views():
            return
        try:
            for report in self.reports:
                normalize_histograms(
                    reader, self.output_path, report, reader.info(report.name),
                    self.watches[report.name], inspect, self.options, self.progress,
                    written_files,
                )  # fmt: skip
        except BaseException as exc:
            # Ctrl-C (or SIGTERM) now: OUTPUT is complete and stays; say so
            stop = stopped(
                exc, f" while counting the histograms; {self.output_path} was written completely"
            )
            if stop is None:
                raise
            raise stop from None


def normalize_file(
    input_path,
    output_path,
    make_normalizer,
    options: NormalizeOptions,
    *,
    params_doc: dict | None = None,
    params_where: str = "params",
    progress: Reporter | None = None,
    runner: Runner | None = None,
) -> NormalizeReport:
    """Normalize the selected arrays of INPUT into OUTPUT (see :class:`Normalization`)."""
    with runner_for(options.engine, options.scheduler, runner) as runner:
        return Normalization(
            input_path, output_path, make_normalizer, options, params_doc=params_doc,
            params_where=params_where, progress=progress, runner=runner,
        ).run()  # fmt: skip


def invert_file(
    input_path,
    output_path,
    params_doc: dict,
    options: NormalizeOptions,
    *,
    params_where: str = "params",
    progress: Reporter | None = None,
    runner: Runner | None = None,
) -> NormalizeReport:
    """Undo the saved normalization ``params_doc`` of INPUT's arrays into OUTPUT."""
    with runner_for(options.engine, options.scheduler, runner) as runner:
        return Normalization(
            input_path, output_path, None, options, params_doc=params_doc,
            params_where=params_where, invert=True, progress=progress, runner=runner,
        ).run()  # fmt: skip
