"""A zip of class folders (or of loose photos) read in memory, with its limits: size, compression ratio, paths, count."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from dataclasses import dataclass

from .data import IMAGE_EXTENSIONS, DataError

__all__ = ["MAX_ZIP_BYTES", "MAX_ZIP_RATIO", "ZipNote", "read_zip_samples"]

MAX_ZIP_BYTES = 200 * 1024 * 1024  # uncompressed total
MAX_ZIP_RATIO = 200  # uncompressed / compressed for one member; images barely compress


@dataclass(frozen=True)
class ZipNote:
    """A zip member that was skipped, and why (``code``: unsafe_path, symlink, nested_archive, not_image, no_class)."""

    code: str
    name: str

    def __str__(self) -> str:
        return f"skipped {self.name}: {_SKIP_REASONS[self.code]}"


_SKIP_REASONS = {
    "unsafe_path": "unsafe path",
    "symlink": "symbolic link",
    "nested_archive": "archives inside the archive are not opened",
    "not_image": "not an image",
    "no_class": "not inside a class folder (expected <class>/<image>)",
}


def read_zip_samples(
    path: str | os.PathLike,
    *,
    max_images: int,
    max_bytes: int = MAX_ZIP_BYTES,
    max_ratio: float = MAX_ZIP_RATIO,
    class_folders: bool = True,
) -> tuple[dict[str, list[io.BytesIO]], list[ZipNote]]:
    """Images from a zip of class folders (``cats/1.jpg``, ``dogs/2.png``; one enclosing folder is fine), in memory.

    Nothing is extracted to disk. Members with absolute or ``..`` paths, symlinks,
    nested archives, non-image files and files outside a class folder are skipped
    and reported.

    Args:
        path: the zip file.
        max_images: most images read; more raise ``DataError``.
        max_bytes: most bytes all members may expand to.
        max_ratio: most one member may expand relative to its compressed size.
        class_folders: ``False`` reads a zip of loose photos: images at any depth are kept (under
            the key of their folder inside the zip, ``""`` at the top), with the same limits.

    Returns:
        ``({class name: [image bytes, named]}, [notes on what was skipped])``.

    Raises:
        DataError: not a zip, a zip bomb (total size or compression ratio), or too many images.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{os.path.basename(str(path))} is not a readable zip archive ({e})", code="bad_zip", name=os.path.basename(str(path))) from e
    samples: dict[str, list[io.BytesIO]] = {}
    notes: list[ZipNote] = []
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not _hidden(m.filename)]
        declared = sum(m.file_size for m in members)
        if declared > max_bytes:
            raise DataError(f"the zip expands to {declared / 2**20:.0f} MB, over the {max_bytes / 2**20:.0f} MB limit", code="zip_too_large", mb=round(declared / 2**20), limit_mb=round(max_bytes / 2**20))
        parts_of = {m.filename: [p for p in m.filename.replace("\\", "/").split("/") if p] for m in members}
        tops = {parts[0] for parts in parts_of.values() if len(parts) > 2}
        strip = 1 if len(tops) == 1 and all(len(p) > 2 for p in parts_of.values()) else 0  # one enclosing folder
        total = 0
        for m in members:
            name, parts = m.filename, parts_of[m.filename][strip:]
            if name.startswith(("/", "\\")) or ":" in parts_of[name][0] or ".." in parts_of[name]:
                notes.append(ZipNote("unsafe_path", name))
            elif stat.S_ISLNK(m.external_attr >> 16):
                notes.append(ZipNote("symlink", name))
            elif name.lower().endswith((".zip", ".tar", ".gz", ".7z", ".rar")):
                notes.append(ZipNote("nested_archive", name))
            elif not name.lower().endswith(IMAGE_EXTENSIONS):
                notes.append(ZipNote("not_image", name))
            elif class_folders and len(parts) != 2:
                notes.append(ZipNote("no_class", name))
            elif m.compress_size and m.file_size / m.compress_size > max_ratio:
                raise DataError(f"{name} expands {m.file_size / m.compress_size:.0f}-fold: refusing a possible zip bomb", code="zip_bomb", name=name)
            else:
                total += 1
                if total > max_images:
                    raise DataError(f"the zip holds more than {max_images} images; use fewer", code="zip_too_many", limit=max_images)
                with archive.open(m) as f:
                    data = f.read(m.file_size + 1)  # never more than declared, whatever the stream says
                if len(data) > m.file_size:
                    raise DataError(f"{name} is larger than its zip header says: refusing a malformed archive", code="zip_malformed", name=name)
                image = io.BytesIO(data)
                image.name = parts[-1]
                samples.setdefault("/".join(parts[:-1]), []).append(image)  # with class folders: the class
    if not samples and not class_folders:
        raise DataError("the zip holds no images" + (f"; {notes[0]}" if notes else ""), code="zip_no_images")
    if not samples:
        raise DataError("the zip holds no images in class folders (expected <class>/<image>.jpg)" + (f"; {notes[0]}" if notes else ""), code="zip_empty")
    return samples, notes


def _hidden(name: str) -> bool:
    return name.startswith("__MACOSX/") or any(part.startswith(".") and part not in (".", "..") for part in name.split("/"))
