"""``normcli export``: a params file as code to paste into torchvision or Keras."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("params_path", metavar="PARAMS.json", type=click.Path(path_type=str))
@click.option(
    "--to",
    "target",
    type=click.Choice(["torchvision", "keras", "json"]),
    required=True,
    help="torchvision: transforms.Normalize in ToTensor's units (uint8/255) with the "
    "population std; keras: keras.layers.Normalization in raw pixel units; json: both.",
)
def export_command(params_path, target):
    """Print the parameters of PARAMS.json (from fit or --save-params) as code to paste."""
    from normcli.export import export
    from normcli.params import load_params

    click.echo(export(load_params(params_path), target, params_path))
