"""Finding the images of a folder: which files, in which order, with which labels.

A directory holding image files directly is one dataset; a directory holding one
subfolder per class (torchvision's ImageFolder layout) also gets labels. Class folders
and files are taken in plain sorted order of their names (Python's ``sorted``, what
torchvision's ``ImageFolder`` and Keras's ``image_dataset_from_directory`` do), so a
label means the same class in every tool; ``order="natural"`` takes them in natural
order instead (img2 before img10). Hidden entries, zero-byte files, non-image files
and symbolic links that leave the folder (or loop) are skipped and counted.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from normcli.errors import InputError
from normcli.io.base import input_os_error

#: Extensions read as images, and the formats their content must be.
EXTENSIONS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}

#: How class folders and files are ordered: plain sorted names (as the frameworks) or natural.
ORDERS = ("sorted", "natural")


def natural_key(text: str) -> tuple:
    """Sort key putting img2 before img10 (digits compare as numbers, case ignored)."""
    parts = re.split(r"(\d+)", text)
    key = tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts))
    return (key, text)


def order_key(order: str):
    """The sort key of names for ``order``: ``sorted`` (plain strings) or ``natural``."""
    return natural_key if order == "natural" else None


# -- scanning the folder -----------------------------------------------------------------


@dataclass
class Skipped:
    """What the scan left out, by reason, with a few names of each."""

    counts: dict
    examples: dict

    def add(self, reason: str, rel: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < 3:
            self.examples[reason].append(rel)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def describe(self) -> str:
        parts = []
        for reason, n in self.counts.items():
            names = ", ".join(self.examples[reason])
            more = ", ..." if n > len(self.examples[reason]) else ""
            parts.append(f"{n} {reason} ({names}{more})")
        return "; ".join(parts)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _Scan:
    """Walk the folder once: image files per class, and everything skipped."""

    def __init__(self, root: Path, order: str = "sorted"):
        self.root = root
        self.order = order
        self.real_root = os.path.realpath(root)
        self.skipped = Skipped({}, {})

    def entries(self, directory: str, rel: str, ancestors: frozenset):
        """(rel, path, is_dir) of the directory's usable entries, links checked."""
        try:
            with os.scandir(directory) as it:
                found = list(it)
        except OSError as exc:
            raise input_os_error(Path(directory), exc) from None
        key = order_key(self.order)
        for entry in sorted(found, key=lambda e: key(e.name) if key else e.name):
            child = f"{rel}/{entry.name}" if rel else entry.name
            if entry.name.startswith("."):
                self.skipped.add("hidden", child)
                continue
            try:
                st = os.stat(entry.path)  # follows links
            except OSError:
                self.skipped.add("broken or looping links", child)
                continue
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                if not _inside(real, self.real_root):
                    self.skipped.add("links leaving the folder", child)
                    continue
                if stat.S_ISDIR(st.st_mode) and real in ancestors:
                    self.skipped.add("broken or looping links", child)
                    continue
            if stat.S_ISDIR(st.st_mode):
                yield child, entry.path, True, os.path.realpath(entry.path)
            elif stat.S_ISREG(st.st_mode):
                if Path(entry.name).suffix.lower() not in EXTENSIONS:
                    self.skipped.add("not images", child)
                elif st.st_size == 0:
                    self.skipped.add("empty files", child)
                else:
                    yield child, entry.path, False, None
            else:
                self.skipped.add("not regular files", child)

    def images_under(self, directory: str, rel: str, ancestors: frozenset) -> list[str]:
        """The images below ``directory``: in natural order depth first, or as
        torchvision's ``sorted(os.walk(...))`` then ``sorted(files)`` lists them (every
        folder's own files, the folders in the sorted order of their paths)."""
        if self.order == "natural":
            out = []
            for child, path, is_dir, real in self.entries(directory, rel, ancestors):
                if is_dir:
                    out.extend(self.images_under(path, child, ancestors | {real}))
                else:
                    out.append(child)
            return out
        folders: list[tuple[str, list[str]]] = []
        self._walk(directory, rel, ancestors, folders)
        folders.sort(key=lambda item: item[0])
        return [f for _, files in folders for f in files]

    def _walk(self, directory, rel, ancestors, folders) -> None:
        files = []
        folders.append((directory, files))
        for child, path, is_dir, real in self.entries(directory, rel, ancestors):
            if is_dir:
                self._walk(path, child, ancestors | {real}, folders)
            else:
                files.append(child)


@dataclass
class FolderLayout:
    files: list[str]  # relative posix paths, in order
    labels: np.ndarray | None  # int64 per file, class layout only
    class_names: list[str] | None
    skipped: Skipped


def scan_folder(root: Path, order: str = "sorted") -> FolderLayout:
    """The images of ``root`` in ``order`` (see ORDERS), and its classes if it has them."""
    if order not in ORDERS:
        raise InputError(f"--class-order {order}: use sorted or natural")
    scan = _Scan(root, order)
    top_files: list[str] = []
    folders: list[tuple[str, list[str]]] = []
    ancestors = frozenset({scan.real_root})
    for rel, path, is_dir, real in scan.entries(str(root), "", ancestors):
        if is_dir:
            folders.append((rel, scan.images_under(path, rel, ancestors | {real})))
        else:
            top_files.append(rel)
    with_images = [(name, files) for name, files in folders if files]
    if top_files and with_images:
        raise InputError(
            f"{root} holds images both at its top level ({top_files[0]}) and in subfolders "
            f"({with_images[0][0]}/); put every image in a class subfolder, or all at the top"
        )
    if top_files:
        for name, _ in folders:
            scan.skipped.add("folders without images", name + "/")
        return FolderLayout(top_files, None, None, scan.skipped)
    if not with_images:
        what = f"; skipped {scan.skipped.describe()}" if scan.skipped.total else ""
        raise InputError(
            f"{root} holds no images ({', '.join(sorted(set(EXTENSIONS)))}){what}; "
            "give a folder of image files or of class subfolders"
        )
    empty = [name for name, files in folders if not files]
    if empty:
        raise InputError(
            f"{root}/{empty[0]} is a class folder without images, which would shift the "
            "labels of the classes after it; remove it or add its images"
        )
    files, labels = [], []
    for index, (_, class_files) in enumerate(folders):
        files.extend(class_files)
        labels.extend([index] * len(class_files))
    return FolderLayout(
        files, np.asarray(labels, dtype=np.int64), [name for name, _ in folders], scan.skipped
    )
