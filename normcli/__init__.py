"""normcli: normalize array datasets for training neural networks, and prove what it did.

The Python API (see the README's "From Python"):

- ``describe``, ``fit``, ``normalize``, ``invert``, ``check``: the commands as
  functions (:mod:`normcli.api`), returning what ``--json`` prints;
- ``MinMax``, ``ZScore``, ``Lp``, ``PerImage``, ``Scale``: the normalizers as
  scikit-learn-style estimators on in-memory arrays;
- ``NormcliError`` (and its subclasses) and ``NormcliWarning``.

They are imported when first used, so that ``normcli`` on the command line starts
(and answers Ctrl-C) before numpy is loaded.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "describe": "normcli.api",
    "fit": "normcli.api",
    "normalize": "normcli.api",
    "invert": "normcli.api",
    "check": "normcli.api",
    "MinMax": "normcli.normalizers",
    "ZScore": "normcli.normalizers",
    "Lp": "normcli.normalizers",
    "PerImage": "normcli.normalizers",
    "Scale": "normcli.normalizers",
    "Normalizer": "normcli.normalizers",
    "NormcliError": "normcli.errors",
    "InputError": "normcli.errors",
    "OutputError": "normcli.errors",
    "ParameterError": "normcli.errors",
    "CheckFailed": "normcli.errors",
    "NormcliWarning": "normcli.reporting",
    "Reporter": "normcli.reporting",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'normcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
