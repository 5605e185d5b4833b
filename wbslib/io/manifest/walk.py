"""Walk a folder of DICOM files: every regular file below it, and every entry that cannot be used as a
named error (quarantined by the caller), never skipped silently.

Symbolic links are followed: a link to a file is that file, a link to a folder is walked, unless it
leads back into a folder already walked (a loop, or a second way into one folder). A link to nothing
(dangling), a loop of links, a folder that cannot be listed and an entry that is neither file nor
folder are errors (`UnreadableInputError`). Hidden names (`.*`: temporary files of our writers, OS
metadata) and DICOMDIR are skipped.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from wbslib.core.errors import UnreadableInputError
from wbslib.core.fileio import os_reason


def _skipped(name: str) -> bool:
    return name.startswith(".") or name.upper() == "DICOMDIR"


def _link_error(rel: str, exc: OSError) -> UnreadableInputError:
    if exc.errno == errno.ELOOP:
        what = "is a symbolic link in a loop of links"
    elif exc.errno == errno.ENOENT:
        what = "is a dangling symbolic link (its target does not exist)"
    else:
        what = f"is a symbolic link whose target cannot be read ({os_reason(exc)})"
    return UnreadableInputError(f"{rel} {what}; fix or remove the link, then rerun (the other files went on).")


def walk_folder(folder: str | os.PathLike) -> tuple[list[str], list[tuple[str, UnreadableInputError]]]:
    """(relative POSIX paths of the files below `folder`, sorted; [(relative path, error)] of the entries
    that cannot be walked, sorted)."""
    root = Path(folder)
    top = root.stat()
    seen = {(top.st_dev, top.st_ino)}
    files: list[str] = []
    problems: list[tuple[str, UnreadableInputError]] = []
    stack, linked = [(root, "")], []  # folders reached without links first, so a loop is the link's fault
    while stack or linked:
        if not stack:
            path, rel, info = linked.pop(0)
            if (info.st_dev, info.st_ino) in seen:
                problems.append((rel, _loop(rel)))
                continue
            seen.add((info.st_dev, info.st_ino))
            stack.append((path, rel))
        path, rel = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(
                (
                    rel or ".",
                    UnreadableInputError(
                        f"Folder {rel or '.'} cannot be listed ({os_reason(exc)}); check its permissions, then "
                        "rerun (the other files went on)."
                    ),
                )
            )
            continue
        for entry in entries:
            if _skipped(entry.name):
                continue
            child = f"{rel}/{entry.name}" if rel else entry.name
            link = entry.is_symlink()
            try:
                info = os.stat(entry.path)
            except OSError as exc:
                problems.append((child, _link_error(child, exc) if link else _unlisted(child, exc)))
                continue
            if stat.S_ISDIR(info.st_mode) and link:
                linked.append((Path(entry.path), child, info))
            elif stat.S_ISDIR(info.st_mode):
                seen.add((info.st_dev, info.st_ino))
                stack.append((Path(entry.path), child))
            elif stat.S_ISREG(info.st_mode):
                files.append(child)
            else:
                problems.append(
                    (
                        child,
                        UnreadableInputError(
                            f"{child} is neither a file nor a folder (a device, pipe or socket); move it out of "
                            "the folder (the other files went on)."
                        ),
                    )
                )
    return sorted(files), sorted(problems, key=lambda p: p[0])


def _unlisted(rel: str, exc: OSError) -> UnreadableInputError:
    return UnreadableInputError(
        f"{rel} cannot be read ({os_reason(exc)}); check its permissions, then rerun (the other files went on)."
    )


def _loop(rel: str) -> UnreadableInputError:
    return UnreadableInputError(
        f"{rel} is a symbolic link into a folder already walked (a loop, or a second way into that folder); "
        "remove the link or point it elsewhere, then rerun (the other files went on)."
    )
