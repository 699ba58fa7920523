"""The command line: click parses, a library function does the work, rich renders.

One module per command; :mod:`normcli.cli.app` holds the group, the error handling
(one ``Error:`` line and an exit code) and the signal handling, and
:mod:`normcli.cli.options` the options several commands share. click is imported
nowhere outside this package.
"""

from __future__ import annotations

from normcli.cli.app import cli, main
from normcli.cli.check import check_command
from normcli.cli.describe import describe_command
from normcli.cli.export import export_command
from normcli.cli.fit import fit_command
from normcli.cli.invert import invert_command
from normcli.cli.ls import ls_command
from normcli.cli.normalize import normalize_command

for _command in (
    ls_command,
    describe_command,
    normalize_command,
    fit_command,
    invert_command,
    check_command,
    export_command,
):
    cli.add_command(_command)

__all__ = ["cli", "main"]
