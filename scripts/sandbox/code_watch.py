"""Whether the function's code or settings changed since its environments started.

What a deploy would change: ``app.py``, ``chalicelib/``, ``vendor/``,
``requirements.txt`` and ``.chalice/config.json``. The runner looks before it
hands an event to a warm environment (a stat of a few dozen files), and
replaces the environments that started before the change.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_WATCHED = ("app.py", "requirements.txt", ".chalice/config.json")
_WATCHED_FOLDERS = ("chalicelib", "vendor")


@dataclass(frozen=True)
class CodeState:
    """Each watched file's modification time and size, by path relative to the project."""

    files: tuple[tuple[str, int, int], ...]

    def changes_from(self, before: CodeState) -> list[str]:
        """The files added, removed or changed since ``before``."""
        old, new = {f[0]: f for f in before.files}, {f[0]: f for f in self.files}
        return sorted(path for path in old.keys() | new.keys() if old.get(path) != new.get(path))


def code_state(project: Path) -> CodeState:
    paths = [project / name for name in _WATCHED]
    for folder in _WATCHED_FOLDERS:
        if (project / folder).is_dir():
            paths += [p for p in (project / folder).rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts]
    files = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        files.append((path.relative_to(project).as_posix(), stat.st_mtime_ns, stat.st_size))
    return CodeState(tuple(sorted(files)))


def config_changed(changes: list[str]) -> bool:
    return ".chalice/config.json" in changes
