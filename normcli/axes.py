"""The axis rule: ``--axis`` names the axes a statistic is computed over, as numpy does.

``parse_axis`` turns the command-line text into an :data:`AxisSpec` without knowing the
data; ``resolve_axes`` checks it against an array's rank and returns sorted,
non-negative reduce axes. ``sample_split`` recognises the classic mistake of an axis
choice that normalizes parts of each sample (rows, columns) separately.
"""

from __future__ import annotations

from normcli.errors import ParameterError

#: ``"all"``, or a tuple of (possibly negative) ints as given by the user.
AxisSpec = str | tuple[int, ...]

ALL = "all"


def parse_axis(text: str | None) -> AxisSpec | None:
    """``"all"`` -> ``"all"``; ``"0,1,2"`` -> ``(0, 1, 2)``; ``"-1"`` -> ``(-1,)``; None stays.

    Raises ValueError with a message fit for the user on anything else.
    """
    if text is None:
        return None
    value = text.strip().lower()
    if value == ALL:
        return ALL
    inner = value.strip("()")
    parts = [p.strip() for p in inner.split(",")]
    if inner.strip() and "" in parts:
        raise ValueError(
            f"{text!r} has an empty axis (a comma too many?); write e.g. 1,2 or -1 or all"
        )
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError(f"{text!r} is not an axis list; write e.g. 0 or 1,2 or -1 or all")
    try:
        axes = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an axis list; write e.g. 0 or 1,2 or -1 or all"
        ) from None
    if len(set(axes)) != len(axes):
        raise ValueError(f"{text!r} repeats an axis")
    return axes


def format_axis(spec: AxisSpec | None) -> str | None:
    """Inverse of :func:`parse_axis` for messages and params files."""
    if spec is None or spec == ALL:
        return spec
    return ",".join(str(a) for a in spec)


def resolve_axes(spec: AxisSpec, ndim: int, where: str = "") -> tuple[int, ...]:
    """Sorted non-negative reduce axes for an array of rank ``ndim``.

    ``where`` names the array in the error message (``data.npz:x_train``).
    """
    if spec == ALL:
        return tuple(range(ndim))
    resolved = []
    for axis in spec:
        if not -ndim <= axis < ndim:
            raise ParameterError(
                f"--axis {format_axis(spec)} is out of range for {where} with {ndim} "
                f"dimension{'s' if ndim != 1 else ''}; use axes from {-ndim} to {ndim - 1} or all"
            )
        resolved.append(axis % ndim)
    if len(set(resolved)) != len(resolved):
        raise ParameterError(f"--axis {format_axis(spec)} names the same axis twice for {where}")
    return tuple(sorted(resolved))


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of a statistic reduced over ``axes`` (numpy's ``keepdims=False``)."""
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _axis_word(ndim: int, axis: int) -> str:
    """A name for an axis of a sample of ``ndim`` dimensions (axis 0 is the sample axis)."""
    if ndim == 3:
        return {1: "row", 2: "column"}.get(axis, f"axis {axis}")
    if ndim == 4:
        return {1: "row", 2: "column", 3: "pixel"}.get(axis, f"axis {axis}")
    return f"axis-{axis} slice"


def sample_split(shape: tuple[int, ...], axes: tuple[int, ...]) -> str | None:
    """Describe how ``axes`` splits each sample, or None when it does not.

    The reduce axes split a sample when they reduce over some, but not all, of its
    axes and what is kept is not a trailing channel axis (size 4 or less). For
    ``(N, 28, 28)`` and axes ``(1,)`` this returns ``"each column of each image"``; with
    axis 0 among them (one statistic across samples) ``"each column position across
    all images"``.
    """
    across = 0 in axes
    ndim = len(shape)
    inner = set(range(1, ndim))
    reduced_inner = inner & set(axes)
    kept_inner = inner - set(axes)
    if not reduced_inner or not kept_inner:
        return None
    if kept_inner == {ndim - 1} and ndim >= 4 and shape[-1] <= 4:
        return None  # per channel, as torchvision's Normalize
    of_each = " position across all images" if across else " of each image"
    if ndim == 3:
        # (N, H, W): reducing over rows (axis 1) keeps each column, and vice versa.
        what = "column" if kept_inner == {2} else "row"
        return f"each {what}{of_each}"
    if ndim == 4 and kept_inner in ({1, 3}, {2, 3}, {1}, {2}):
        what = "column" if 2 in kept_inner else "row"
        suffix = " and channel" if 3 in kept_inner else ""
        return f"each {what}{suffix}{of_each}"
    if ndim == 4 and kept_inner == {1, 2}:
        return f"each pixel{of_each}"
    kept = ",".join(str(a) for a in sorted(kept_inner))
    if across:
        return f"each slice along axes {kept} across all samples"
    return f"each slice along axes {kept} of each sample"
