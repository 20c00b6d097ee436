"""Errors raised by the station registry (osmnx style: subclasses of builtins)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file.

    ``row`` is the row number as a spreadsheet shows it (the header is row 1, the first data row
    is row 2); for GeoJSON it is the feature number (first feature = 1); None for file-level
    problems.  ``column`` is the column header as written in the file.
    """

    row: int | None
    column: str | None
    code: str
    zh: str
    en: str
    value: str = ""

    def format(self) -> str:
        """One line: where, then the message in Chinese and English."""
        where_zh, where_en = [], []
        if self.row is not None:
            where_zh.append(f"第 {self.row} 行")
            where_en.append(f"row {self.row}")
        if self.column:
            where_zh.append(f"列“{self.column}”")
            where_en.append(f"column '{self.column}'")
        shown = f"（值 / value: {self.value!r}）" if self.value != "" else ""
        head = "，".join(where_zh) + (" / " + ", ".join(where_en) if where_en else "")
        prefix = f"{head}：" if head else ""
        return f"{prefix}{self.zh} / {self.en}{shown}"

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {"row": self.row, "column": self.column, "code": self.code, "zh": self.zh,
                "en": self.en, "value": self.value}


class ImportValidationError(ValueError):
    """An input file was rejected; ``problems`` lists every problem found (nothing was written)."""

    def __init__(self, problems: list[Problem], *, n_rows: int | None = None) -> None:
        self.problems = list(problems)
        self.n_rows = n_rows
        super().__init__(self.report())

    def report(self, limit: int = 200) -> str:
        """The per-row report, one problem a line (at most ``limit`` lines, then a count)."""
        bad_rows = {p.row for p in self.problems if p.row is not None}
        head = (f"导入被拒绝：发现 {len(self.problems)} 个问题（涉及 {len(bad_rows)} 行），未写入任何数据。"
                f" / Import rejected: {len(self.problems)} problem(s) in {len(bad_rows)} row(s); "
                "nothing was written.")
        lines = [head] + [p.format() for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"……另有 {len(self.problems) - limit} 个问题 / … {len(self.problems) - limit} more")
        return "\n".join(lines)


class RegistryError(ValueError):
    """A registry operation was refused (unknown id, permission, conflicting edit)."""


class UndoConflict(RegistryError):
    """An undo would overwrite a later change of the same station (undo the later one first)."""


class StaleStation(RegistryError):
    """A conditional change named a version of the station that is no longer current: someone else
    changed (or deleted) it since.  ``current`` is the station now (a
    :class:`~yizhan.stations.storage.Station`, with its ``version``), or None when it is gone."""

    def __init__(self, message: str, *, station_id: str, current: object = None) -> None:
        super().__init__(message)
        self.station_id = station_id
        self.current = current


class WriteConflict(RegistryError):
    """A write collided with a concurrent one (the same new id created twice, a deadlock, a
    serialisation failure); nothing was written — try again."""
