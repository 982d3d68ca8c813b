"""File access inside an agent's workspace that no link the agent planted can redirect.

Every path is walked from the workspace's directory descriptor one component at a time with
``O_NOFOLLOW`` (an ``openat`` walk), so a symlink anywhere on the way, or a folder swapped for
one while the walk runs, makes the call fail instead of reaching outside. Only regular files
with one link are read or written (a hard link to an outside file, a FIFO, a device or a
socket is refused), and reads and writes are capped in size, so nothing an agent leaves in
its workspace can hang or bloat the process that touches it.

This module uses only the standard library: the Docker executor runs it inside the
container (``python3 -c <this file>``, a JSON request on stdin) so that in that mode no path
is resolved on the host at all. ``handle`` is the one entry point for both.
"""

from __future__ import annotations

import json
import os
import stat
import sys

MAX_FILE_BYTES = 4 * 1024 * 1024  # what one read or write may move
MAX_LISTING = 500  # entries a folder listing returns
SKIP_IN_LISTINGS = {".git", "__pycache__"}


class UnsafePath(ValueError):
    """A path that leaves the workspace, crosses a link, or names something that is not a plain file."""


def parts_of(root: str, path: str) -> list[str]:
    """``path`` (relative, or absolute under ``root``) as components below ``root``; '' is the root itself."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise UnsafePath("path: expected a file path inside the workspace")
    if os.path.isabs(path):
        norm = os.path.normpath(path)
        base = os.path.normpath(root)
        if norm != base and not norm.startswith(base.rstrip("/") + "/"):
            raise UnsafePath(f"path {path!r} is outside the workspace {root}; only files inside it can be used")
        path = os.path.relpath(norm, base)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(f"path {path!r} is outside the workspace {root}; '..' is not allowed")
    return parts


def _open_dir(root_fd: int, parts: list[str], create: bool = False) -> tuple[int, list[str]]:
    """A descriptor of the folder ``parts`` below the root, never following a link; the folders it made."""
    fd = os.dup(root_fd)
    made: list[str] = []
    try:
        for i, name in enumerate(parts):
            try:
                nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(name, 0o755, dir_fd=fd)
                made.append("/".join(parts[: i + 1]))
                nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                _hand_over(nxt, root_fd)
            except OSError as exc:
                raise UnsafePath(
                    f"{'/'.join(parts[: i + 1])} is not a folder inside the workspace "
                    f"(a symbolic link or a file): {exc.strerror}"
                ) from None
            os.close(fd)
            fd = nxt
        return fd, made
    except BaseException:
        os.close(fd)
        raise


def _open_last(folder: int, name: str, flags: int, rel: str) -> int:
    """Open ``name`` in ``folder`` without following a link or blocking on a FIFO (``FileExistsError`` passes)."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644, dir_fd=folder)
    except (FileExistsError, UnsafePath):
        raise
    except FileNotFoundError:
        raise UnsafePath(f"{rel} does not exist") from None
    except OSError as exc:
        raise UnsafePath(f"{rel} cannot be opened without following a link: {exc.strerror}") from None


def _hand_over(fd: int, root_fd: int) -> None:
    """As root, give what was just made to the workspace's owner, so its (non-root) commands can change it."""
    if os.geteuid() != 0:
        return
    owner = os.fstat(root_fd)
    if owner.st_uid != 0:
        os.fchown(fd, owner.st_uid, owner.st_gid)


def _check_plain(fd: int, rel: str, limit: int, hint: str) -> None:
    """The open file is a regular file with one link and at most ``limit`` bytes, or ``UnsafePath``."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePath(f"{rel} is not a regular file; only regular files can be read or written")
    if info.st_nlink > 1:
        raise UnsafePath(f"{rel} has {info.st_nlink} hard links; a file linked from elsewhere is refused")
    if info.st_size > limit:
        raise UnsafePath(f"{rel} is {info.st_size} bytes, over the {limit}-byte limit; {hint}")


def _read_all(fd: int, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes from ``fd``'s start (one more than allowed tells the caller it is too big)."""
    chunks, size = [], 0
    while size <= limit:
        chunk = os.pread(fd, min(1 << 20, limit + 1 - size), size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _kind(mode: int) -> str:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


class Workspace:
    """The operations, on one workspace folder opened once."""

    def __init__(self, root: str) -> None:
        self.root = os.path.normpath(root)
        # The workspace folder itself must not be a link either (swapped for one after the workspace was made).
        self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self, path: str) -> dict:
        """What ``path`` is without following it: kind (file, dir, link, other, missing), size, links."""
        parts = parts_of(self.root, path)
        if not parts:
            return {"kind": "dir", "size": 0, "links": 1}
        try:
            folder, _ = _open_dir(self.fd, parts[:-1])
        except FileNotFoundError:
            return {"kind": "missing", "size": 0, "links": 0}
        try:
            found = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return {"kind": "missing", "size": 0, "links": 0}
        finally:
            os.close(folder)
        return {"kind": _kind(found.st_mode), "size": found.st_size, "links": found.st_nlink}

    def read_bytes(self, path: str, limit: int = MAX_FILE_BYTES) -> bytes:
        parts = parts_of(self.root, path)
        rel = "/".join(parts) or "."
        if not parts:
            raise UnsafePath(". is a folder, not a file")
        folder, _ = _open_dir(self.fd, parts[:-1])
        try:
            fd = _open_last(folder, parts[-1], os.O_RDONLY, rel)
        finally:
            os.close(folder)
        try:
            _check_plain(fd, rel, limit, "read part of it with bash (head, sed -n)")
            data = _read_all(fd, limit)
            if len(data) > limit:
                raise UnsafePath(f"{rel} grew past the {limit}-byte limit while it was read")
            return data
        finally:
            os.close(fd)

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def read_if_file(self, path: str) -> str | None:
        """``path``'s text, or None where nothing is there; a link or special file is still ``UnsafePath``."""
        kind = self.info(path)["kind"]
        return None if kind == "missing" else self.read_text(path)

    def write_bytes(self, path: str, data: bytes, limit: int = MAX_FILE_BYTES) -> tuple[list[str], bytes | None]:
        """Write ``data`` to ``path`` (its folders made as needed); the paths it created, and what the file held
        before (None for a new file), read through the same descriptor (the editor's undo needs no second call)."""
        parts = parts_of(self.root, path)
        rel = "/".join(parts)
        if not parts:
            raise UnsafePath(". is a folder, not a file")
        if len(data) > limit:
            raise UnsafePath(f"{rel}: {len(data)} bytes is over the {limit}-byte limit of one write")
        folder, made = _open_dir(self.fd, parts[:-1], create=True)
        previous: bytes | None = None
        try:
            try:
                fd = _open_last(folder, parts[-1], os.O_RDWR | os.O_CREAT | os.O_EXCL, rel)
                made.append(rel)
                _hand_over(fd, self.fd)
            except FileExistsError:
                fd = _open_last(folder, parts[-1], os.O_RDWR, rel)
        finally:
            os.close(folder)
        try:
            _check_plain(fd, rel, limit, "change it with bash")
            if rel not in made:
                previous = _read_all(fd, limit)
            os.ftruncate(fd, 0)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        return made, previous

    def write_text(self, path: str, text: str) -> tuple[list[str], str | None]:
        made, previous = self.write_bytes(path, text.encode("utf-8"))
        return made, None if previous is None else previous.decode("utf-8", errors="replace")

    def remove(self, path: str) -> None:
        """Unlink ``path`` (a link itself, never what it points to)."""
        parts = parts_of(self.root, path)
        if not parts:
            raise UnsafePath("the workspace itself cannot be removed")
        folder, _ = _open_dir(self.fd, parts[:-1])
        try:
            os.unlink(parts[-1], dir_fd=folder)
        except FileNotFoundError:
            pass
        finally:
            os.close(folder)

    def listing(self, path: str, limit: int = MAX_LISTING) -> list[str]:
        """Paths below ``path`` (folders end with '/'), without entering links, .git or caches."""
        parts = parts_of(self.root, path)
        out: list[str] = []
        start, _ = _open_dir(self.fd, parts)
        stack = [(start, "/".join(parts))]
        try:
            while stack and len(out) < limit:
                fd, prefix = stack.pop()
                try:
                    entries = sorted(os.scandir(fd), key=lambda e: e.name)
                    for entry in entries:
                        if entry.name in SKIP_IN_LISTINGS:
                            continue
                        rel = f"{prefix}/{entry.name}" if prefix else entry.name
                        is_dir = entry.is_dir(follow_symlinks=False)
                        out.append(rel + ("/" if is_dir else ""))
                        if is_dir:
                            try:
                                sub = os.open(
                                    entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd
                                )
                            except OSError:
                                continue
                            stack.append((sub, rel))
                finally:
                    os.close(fd)
        finally:
            for fd, _ in stack:
                os.close(fd)
        return sorted(out)[:limit]

    def copy_out(self, path: str, destination: str) -> list[str]:
        """Copy the file or folder ``path`` to ``destination`` on this machine; links are refused, not followed."""
        parts = parts_of(self.root, path)
        found = self.info(path)
        copied: list[str] = []
        if found["kind"] == "file":
            os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
            with open(destination, "wb") as out:
                out.write(self.read_bytes(path, limit=1 << 62))
            return ["/".join(parts)]
        if found["kind"] != "dir":
            raise UnsafePath(f"{path} is a {found['kind']}; only files and folders are copied out")
        os.makedirs(destination, exist_ok=True)
        for rel in self.listing(path, limit=1 << 62):
            inner = rel[len("/".join(parts)) :].lstrip("/") if parts else rel
            target = os.path.join(destination, inner)
            if rel.endswith("/"):
                os.makedirs(target, exist_ok=True)
                continue
            kind = self.info(rel)["kind"]
            if kind != "file":
                raise UnsafePath(f"{rel} is a {kind}; links and special files are not copied out")
            with open(target, "wb") as out:
                out.write(self.read_bytes(rel, limit=1 << 62))
            copied.append(rel)
        return copied


def handle(request: dict) -> dict:
    """One operation from a JSON-able request: {"op", "root", "path", ...} -> {"ok", ...} or {"error"}."""
    try:
        with Workspace(request["root"]) as ws:
            op, path = request["op"], request.get("path", ".")
            if op == "info":
                return {"ok": True, **ws.info(path)}
            if op == "read":
                return {"ok": True, "text": ws.read_text(path)}
            if op == "read_if_file":
                return {"ok": True, "text": ws.read_if_file(path)}
            if op == "write":
                made, previous = ws.write_text(path, request["text"])
                return {"ok": True, "made": made, "previous": previous}
            if op == "remove":
                ws.remove(path)
                return {"ok": True}
            if op == "listing":
                return {"ok": True, "paths": ws.listing(path)}
            return {"error": f"op: expected info, read, read_if_file, write, remove or listing, got {op!r}"}
    except (UnsafePath, OSError) as exc:
        return {"error": str(exc) if isinstance(exc, UnsafePath) else f"{type(exc).__name__}: {exc}"}


def main() -> None:
    json.dump(handle(json.load(sys.stdin)), sys.stdout)


if __name__ == "__main__":
    main()
