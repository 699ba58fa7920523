"""Output-path safety: never onto INPUT, never into an input folder, never over an
existing OUTPUT without ``--force``, and an unwritable place refused before any work.
"""

from __future__ import annotations

import os
from pathlib import Path

from normcli.errors import OutputError, ParameterError
from normcli.io.base import probe_writable
from normcli.io.image_writer import check_replaceable
from normcli.io.zarr import is_zarr_store


def check_output_path(
    input_path, output_path, force: bool, fmt: str | None = None, what: str = "OUTPUT"
) -> None:
    """Refuse to write onto INPUT (also through a hard or symbolic link), into or over an
    input folder, or over an existing OUTPUT without ``force``; then check that a file
    can be created beside OUTPUT, so that an unwritable directory fails before any data
    are read. ``what`` names the path in messages (OUTPUT, --save-params, --plot, -o).

    An OUTPUT that is a symbolic link is never written through: with ``force`` the link
    itself is replaced (the new file is renamed onto it), its target stays untouched.
    """

    src, dst = Path(input_path), Path(output_path)
    real_src, real_dst = os.path.realpath(src), os.path.realpath(dst)
    another = "choose an OUTPUT outside it" if what == "OUTPUT" else f"choose another {what}"
    if src.is_dir() and (real_dst == real_src or real_dst.startswith(real_src + os.sep)):
        raise OutputError(
            f"{output_path} is inside the input folder {src}; normcli never writes into its "
            f"input: {another}"
        )
    link = ""
    if dst.is_symlink():
        link = (
            f" (a symbolic link to {os.readlink(dst)}; --force replaces the link itself, never "
            "its target)"
        )
    if fmt == "images" and dst.exists():
        if real_src.startswith(real_dst + os.sep):
            raise OutputError(
                f"{output_path} holds the input {src}; replacing it would delete the input: "
                "choose another OUTPUT"
            )
        if not force:
            raise OutputError(
                f"{output_path} already exists{link}; use --force to replace it with the image "
                f"folder (to write a file into it, give a name such as {dst}/out.npz)"
            )
        check_replaceable(dst)
        probe_writable(dst, "folders")
        return
    if dst.exists() or dst.is_symlink():
        try:
            same = dst.exists() and os.path.samefile(src, dst)
        except OSError:
            same = False
        if same:
            raise OutputError(
                f"{dst} is the input file {src}; normcli never overwrites its input: "
                f"{'choose another OUTPUT' if what == 'OUTPUT' else another}"
            )
        if dst.is_dir() and not dst.is_symlink() and not (fmt == "zarr" and is_zarr_store(dst)):
            raise OutputError(
                f"{dst} is a directory (and not a Zarr store); give a file name such as "
                f"{dst}/out.npz"
            )
        if not force:
            raise OutputError(f"{dst} already exists{link}; use --force to replace it")
    probe_writable(dst, "folders" if fmt in ("images", "zarr") else "files")


def check_distinct_outputs(paths: dict[str, object]) -> None:
    """Refuse two outputs of one command at the same place (--save-params OUTPUT)."""

    seen: dict[str, str] = {}
    for what, path in paths.items():
        if not path:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise ParameterError(
                f"{what} and {seen[key]} are both {path}; one would overwrite the other: "
                "give them different paths"
            )
        seen[key] = what
