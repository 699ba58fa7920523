"""Opening INPUT and choosing its arrays (``-k``), with the checks every command makes."""

from __future__ import annotations

from collections.abc import Sequence

from normcli.errors import InputError, ParameterError
from normcli.io import ArrayInfo, Reader, ReadOptions, open_reader
from normcli.io.base import check_sample_fits, text_info
from normcli.ops import carry
from normcli.reporting import Reporter


def open_input(path, options: ReadOptions | None, progress: Reporter | None = None) -> Reader:
    """Open INPUT with its reader and pass on what opening noticed (files skipped)."""

    reader = open_reader(path, options)
    for note in reader.notes:
        (progress or Reporter()).warn(note)
    return reader


def select_arrays(
    reader: Reader, keys: Sequence[str] | None, *, default_all: bool
) -> list[ArrayInfo]:
    """The arrays named by ``-k`` (in that order), or the default selection.

    Without keys, an image folder means its ``images`` (its labels and names are carried
    through); otherwise ``default_all`` selects every array (``describe``), or a file
    holding one array uses it and a file holding several is an error listing them.
    """
    arrays = reader.arrays()
    if keys:
        by_name = {a.name: a for a in arrays}
        chosen = []
        for key in keys:
            if key not in by_name and key.lstrip("/") in by_name:
                key = key.lstrip("/")  # /group/name, as h5py writes HDF5 paths
            if key not in by_name:
                carry.refuse_skipped(reader, key.lstrip("/"))
            if key not in by_name and key in reader.texts():
                raise ParameterError(
                    f"{key} in {reader.path} is a list of text (names), which is carried "
                    "through unchanged but cannot be described or normalized; choose from: "
                    f"{', '.join(by_name) or 'none'}"
                )
            if key not in by_name:
                listing = ", ".join(by_name) or "no arrays"
                parts = [p.strip() for p in key.split(",")]
                if len(parts) > 1 and all(p.lstrip("/") in by_name for p in parts):
                    repeat = " ".join(f"-k {p}" for p in parts)
                    raise ParameterError(
                        f"no array {key!r} in {reader.path}; to choose several arrays repeat "
                        f"-k: {repeat}"
                    )
                raise ParameterError(f"no array {key!r} in {reader.path}; it holds: {listing}")
            if by_name[key] not in chosen:
                chosen.append(by_name[key])
        return chosen
    if not arrays:
        carry.only_skipped(reader)
        raise InputError(f"{reader.path} holds no arrays")
    if reader.format == "images" and arrays[0].name == "images":
        return arrays[:1]  # an image folder: its images (labels and names carried through)
    if default_all or len(arrays) == 1:
        return arrays
    raise ParameterError(
        f"{reader.path} holds several arrays ({', '.join(a.name for a in arrays)}); "
        "choose with -k/--key NAME"
    )


def check_not_empty(reader: Reader, info: ArrayInfo) -> None:
    """Refuse an array with nothing to stream, or whose samples do not fit in memory."""
    if info.size == 0:
        raise InputError(
            f"{reader.path}:{info.name} is empty (shape {tuple(info.shape)}); "
            "there is nothing to describe or normalize"
        )
    check_sample_fits(info, f"{reader.path}:{info.name}")


def list_arrays(path, options: ReadOptions | None = None, progress: Reporter | None = None):
    """``ls``: the format of INPUT, its arrays followed by its lists of text (an image
    folder's class_names and filenames, with the unicode dtype .npz stores), and the
    arrays it holds but normcli cannot read: ``{name: reason}``."""
    with open_input(path, options, progress) as reader:
        texts = [text_info(name, values) for name, values in reader.texts().items()]
        skipped = {name: carry.skipped_reason(reader, name) for name in reader.skipped}
        return reader.format, reader.arrays() + texts, skipped
