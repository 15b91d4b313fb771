"""Writing output files atomically, never clobbering an existing file unless asked."""
import os
import tempfile
from pathlib import Path


def write_atomically(path, write, force=False):
    """Call ``write(temporary_path)``, then move the finished file onto ``path`` in one step.

    A reader never sees a half-written file, and a failed write leaves ``path`` as it was.

    Args:
        path: destination file.
        write: callable taking the temporary path (same directory, same suffix) and writing it.
        force: replace an existing ``path``; otherwise an existing file is a FileExistsError.

    Returns:
        The destination as a Path.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output directory {path.parent} does not exist")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path
