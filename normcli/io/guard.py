"""The net under every reader: whatever a reading library raises ends as one InputError.

The formats turn the failures they know into :class:`~normcli.errors.InputError` with a
message that says what is wrong. The libraries they use (zipfile, Pillow, tifffile,
h5py, zarr) raise many other kinds on damaged or hostile files: ``struct.error``,
``IndexError``, ``KeyError``, ``NotImplementedError``, zarr's own errors. A mutation
campaign finds new ones faster than they can be named one by one, so every reader
method that parses metadata or decodes data runs under :func:`guarded`, installed by
:class:`~normcli.io.base.Reader` on each subclass: an exception that is not already
normcli's (nor a memory error or an interruption) becomes one line naming the file,
the array and the library's own words.
"""

from __future__ import annotations

import functools
import inspect

from normcli.errors import InputError, NormcliError

#: Reader methods that read the file, wrapped on every subclass that defines them.
GUARDED = ("__init__", "arrays", "texts", "iter_chunks", "iter_chunks_into", "read_rows")


def library_error(reader, exc: Exception, name: str | None = None) -> NormcliError:
    """``exc``, raised by a library while ``reader`` read ``name``, as one line."""
    if isinstance(exc, NormcliError):
        return exc
    if isinstance(exc, OSError) and exc.errno is not None:
        path = getattr(reader, "path", "?")
        return InputError(f"cannot read {path}: {exc.strerror or exc}")
    where = f"{getattr(reader, 'path', '?')}{f':{name}' if name else ''}"
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if len(first) > 200:
        first = first[:200] + "..."
    detail = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return InputError(
        f"cannot read {where} ({detail}); the file is damaged or not valid for its format: "
        "replace it with a good copy"
    )


def _passes(exc: BaseException) -> bool:
    """Exceptions the net lets through: normcli's own, memory errors, and anything that
    is not an Exception (Ctrl-C, SIGTERM, exit)."""
    return isinstance(exc, (NormcliError, MemoryError)) or not isinstance(exc, Exception)


def guarded(method):
    """``method`` (a plain method or a generator) with library errors made InputError."""
    if getattr(method, "_guarded", False):
        return method
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(self, *args, **kwargs):
            try:
                yield from method(self, *args, **kwargs)
            except Exception as exc:
                if _passes(exc):
                    raise
                raise library_error(self, exc, args[0] if args else None) from None

        wrapper = generator
    else:

        @functools.wraps(method)
        def plain(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if _passes(exc):
                    raise
                name = args[0] if args and isinstance(args[0], str) else None
                raise library_error(self, exc, name) from None

        wrapper = plain
    wrapper._guarded = True
    return wrapper


def guard_class(cls) -> None:
    """Wrap the reading methods ``cls`` itself defines (called for each Reader subclass)."""
    for attr in GUARDED:
        method = cls.__dict__.get(attr)
        if method is not None and callable(method):
            setattr(cls, attr, guarded(method))
