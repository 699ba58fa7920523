"""``normcli ls``: the arrays of INPUT."""

from __future__ import annotations

import click

from normcli.cli.options import (
    allow_external_option,
    check_output_modes,
    csv_option,
    image_read_options,
    input_argument,
    output_options,
    raw_option,
    read_options_from,
)
from normcli.cli.render import Renderer, render_ls
from normcli.ops.select import list_arrays


@click.command("ls")
@input_argument
@image_read_options
@allow_external_option
@raw_option
@output_options
@csv_option
def ls_command(input_path, image_mode, max_pixels, as_json, quiet, as_csv):
    """List the arrays in INPUT: name, shape, dtype and bytes.

    Lists of text carried with the arrays (an image folder's class_names and
    filenames) are listed too, with the unicode dtype .npz stores them as.
    """
    check_output_modes(as_json, as_csv)
    renderer = Renderer(as_json=as_json, quiet=quiet, as_csv=as_csv)
    options = read_options_from(image_mode, max_pixels)
    fmt, infos, skipped = list_arrays(input_path, options, renderer.progress())
    render_ls(renderer, input_path, fmt, infos, skipped)
