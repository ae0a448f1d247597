"""What the test suite must leave alone: the checkout's ``reports/`` and ``data/``.

A snapshot lists every file and folder under a root with its size and modification time
(and, for files up to :data:`HASHED_BYTES`, a SHA-256 of the bytes); two snapshots that
differ name what a test wrote, deleted or changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# Files up to this size are also compared by content (a rewrite with the same bytes and
# size but a restored mtime would still show), larger ones by size and mtime.
HASHED_BYTES = 2_000_000
# The checkout's folders the suite must not write to (relative to the repository root).
PROTECTED = ("reports", "data")


def snapshot(root: Path) -> dict[str, tuple]:
    """{relative path: (kind, size, mtime_ns, sha256 or "")} of everything under ``root``
    (empty when ``root`` does not exist)."""
    root = Path(root)
    if not root.exists():
        return {}
    seen: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        info = path.lstat()
        if path.is_dir():
            seen[rel + "/"] = ("dir", 0, 0, "")
            continue
        digest = ""
        if path.is_file() and info.st_size <= HASHED_BYTES:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        seen[rel] = ("file", info.st_size, info.st_mtime_ns, digest)
    return seen


def changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """What differs between two snapshots, one line per path: added, removed, changed."""
    lines = [f"added: {p}" for p in sorted(after.keys() - before.keys())]
    lines += [f"removed: {p}" for p in sorted(before.keys() - after.keys())]
    lines += [
        f"changed: {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]
    ]
    return lines


def snapshot_checkout(repo: Path) -> dict[str, dict[str, tuple]]:
    """A snapshot of each :data:`PROTECTED` folder of the checkout at ``repo``."""
    return {name: snapshot(Path(repo) / name) for name in PROTECTED}


def checkout_changes(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    return [
        f"{name}/: {line}"
        for name in PROTECTED
        for line in changes(before.get(name, {}), after.get(name, {}))
    ]
