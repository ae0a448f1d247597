"""Small-cell suppression for the principal and district reports.

A count table is published with its margins (row totals, column totals, grand total).
Every published number built from fewer than ``min_cell_size`` students (default 10)
is hidden as ``n<10`` (*primary* suppression). Hiding those alone is not enough: a
hidden cell alone in its row could be worked out as the row total minus the visible
cells. So further cells are hidden (*complementary* suppression, shown as ``hidden``)
until no hidden cell can be recovered exactly, even by someone who knows that every
``n<10`` cell lies in 0..9, every ``hidden`` cell is at least 10, and all counts are
non-negative (Willenborg & de Waal, *Elements of Statistical Disclosure Control*, 2001,
ch. 5; the "audit" is the pair of linear programs per hidden cell of their §5.4).

Two further rules close the usual gaps:

- in every line (row or column) whose total is published, the hidden cells of that line
  sum to at least ``min_cell_size`` (their sum is always derivable, so it must not be a
  small count itself);
- tables that share their column totals (for example the tier-by-grade table and the
  subgroup tables of one school) are suppressed together (:func:`suppress_linked`), so
  a total hidden in one table is hidden in all.

The functions here compute; they format only as far as the strings a table shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linprog

TOTAL = "Total"
COMPLEMENTARY_TEXT = "hidden"


def small_text(min_cell_size: int) -> str:
    """What a primary-suppressed cell shows, e.g. ``n<10``."""
    return f"n<{min_cell_size}"


def with_margins(counts: pd.DataFrame, total: str = TOTAL) -> pd.DataFrame:
    """``counts`` with a total column and a total row appended."""
    inner = counts.astype("int64")
    out = inner.assign(**{total: inner.sum(axis=1)})
    out.loc[total] = out.sum(axis=0)
    return out.astype("int64")


@dataclass(frozen=True)
class Suppressed:
    """A count table with margins and which of its cells are hidden, and why."""

    counts: pd.DataFrame  # with the total row and column (last)
    primary: pd.DataFrame  # bool: fewer than min_cell_size
    complementary: pd.DataFrame  # bool: hidden to protect a primary cell
    min_cell_size: int

    @property
    def hidden(self) -> pd.DataFrame:
        return self.primary | self.complementary

    def shown(self, row, column) -> bool:
        return not bool(self.hidden.loc[row, column])

    def value(self, row, column) -> int | None:
        """The count if it is published, else ``None``."""
        return int(self.counts.loc[row, column]) if self.shown(row, column) else None

    def display(self) -> pd.DataFrame:
        """Counts as text: ``n<10`` for small cells, ``hidden`` for complementary ones."""
        text = self.counts.astype(str)
        text = text.mask(self.complementary, COMPLEMENTARY_TEXT)
        return text.mask(self.primary, small_text(self.min_cell_size))

    def share(self, row, columns: list, of: str = TOTAL) -> float | None:
        """Percent of ``row``'s total in ``columns``, or ``None`` when it would reveal more
        than the published cells do: published if every cell in ``columns`` is, or if
        the remaining cells of the row are (then the sum is derivable anyway), and the
        row total is published."""
        if not self.shown(row, of):
            return None
        inner = [c for c in self.counts.columns if c != of]
        rest = [c for c in inner if c not in columns]
        if not (all(self.shown(row, c) for c in columns) or all(self.shown(row, c) for c in rest)):
            return None
        total = int(self.counts.loc[row, of])
        if total == 0:
            return None
        return float(self.counts.loc[row, columns].sum()) / total * 100

    def share_text(self, row, columns: list, of: str = TOTAL) -> str:
        """:meth:`share` as text: ``38 %``; ``n<10`` when it comes from fewer than
        ``min_cell_size`` students; ``hidden`` when it is held back to protect a cell."""
        value = self.share(row, columns, of)
        if value is not None:
            return f"{value:.0f} %"
        small = int(self.counts.loc[row, columns].sum()) < self.min_cell_size or bool(
            self.primary.loc[row, of]
        )
        return small_text(self.min_cell_size) if small else COMPLEMENTARY_TEXT


def format_percent(value: float | None, min_cell_size: int, digits: int = 0) -> str:
    return small_text(min_cell_size) if value is None else f"{value:.{digits}f} %"


def _lines(n_rows: int, n_cols: int) -> list[tuple[list[tuple[int, int]], tuple[int, int]]]:
    """Every additive line of a table with margins: (cells, total cell). The last row and
    column hold the totals."""
    r, c = n_rows - 1, n_cols - 1
    rows = [([(i, j) for j in range(c)], (i, c)) for i in range(n_rows)]
    cols = [([(i, j) for i in range(r)], (r, j)) for j in range(n_cols)]
    return rows + cols


def recoverable_cells(
    values: np.ndarray,
    primary: np.ndarray,
    complementary: np.ndarray,
    min_cell_size: int,
    first_only: bool = False,
) -> list[tuple[int, int]]:
    """Hidden cells whose exact value follows from the published cells, the additivity of
    the margins and what the labels say (``n<k`` is 0..k-1, ``hidden`` is >= k).

    A cell is recovered when the totals pin it down (it has no component in the null
    space of the line equations), or when its minimum and maximum subject to the
    equations and the bounds coincide (a pair of linear programmes). The constraint
    matrix is a network matrix, so the extremes are integers: "min < max" means at least
    two values fit. The programmes are needed only when some hidden cell sits on a
    bound (a 0, a 9 or a hidden 10); otherwise every null-space direction is open.
    """
    hidden = primary | complementary
    cells = [tuple(int(v) for v in ix) for ix in np.argwhere(hidden)]
    if not cells:
        return []
    a_eq, b_eq = _line_equations(values, cells)
    current = np.array([values[cell] for cell in cells], dtype=float)
    lower = np.array([0 if primary[cell] else min_cell_size for cell in cells], dtype=float)
    upper = np.array([min_cell_size - 1 if primary[cell] else np.inf for cell in cells])
    free = _free_cells(a_eq, len(cells))
    on_bound = bool(((current == lower) | (current == upper)).any())
    bounds = list(zip(lower, [None if np.isinf(u) else u for u in upper], strict=True))
    # Every LP solution is a table consistent with the page: a cell that differs between
    # two of them is not recovered, so later cells often need no programme of their own.
    points = [current]
    recovered = []
    for k, cell in enumerate(cells):
        if not free[k]:
            recovered.append(cell)
        elif on_bound and np.ptp([p[k] for p in points]) < 0.5:
            if _pinned(k, current, (a_eq, b_eq, bounds), points):
                recovered.append(cell)
        if recovered and first_only:
            break
    return recovered


def _line_equations(
    values: np.ndarray, cells: list[tuple[int, int]]
) -> tuple[list[np.ndarray], list[float]]:
    """Each additive line holding a hidden cell as an equation in the hidden ``cells``:
    (the cells' coefficients, minus the sum of its published cells with their signs)."""
    index = {cell: k for k, cell in enumerate(cells)}
    a_eq, b_eq = [], []
    for members, total in _lines(*values.shape):
        row = np.zeros(len(cells))
        known = 0.0
        for cell, sign in [(m, 1.0) for m in members] + [(total, -1.0)]:
            if cell in index:
                row[index[cell]] += sign
            else:
                known += sign * values[cell]
        if row.any():
            a_eq.append(row)
            b_eq.append(-known)
    return a_eq, b_eq


def _free_cells(a_eq: list[np.ndarray], n_cells: int) -> np.ndarray:
    """Which hidden cells the equations leave free to move: those with a component in
    the null space of the equation matrix (the others the totals fix)."""
    if a_eq:
        _, singular, vt = np.linalg.svd(np.array(a_eq))
        rank = int((singular > 1e-9).sum())
        null = vt[rank:].T
    else:
        null = np.eye(n_cells)
    return np.abs(null).sum(axis=1) > 1e-9 if null.size else np.zeros(n_cells, bool)


def _pinned(k: int, current: np.ndarray, constraints: tuple, points: list[np.ndarray]) -> bool:
    """Whether hidden cell ``k`` can hold no value but its own: its minimum and its
    maximum subject to the equations and bounds (``constraints``: a_eq, b_eq, bounds)
    are both its value. Each table the programmes find is added to ``points``."""
    a_eq, b_eq, bounds = constraints
    for sign in (1.0, -1.0):
        objective = np.zeros(len(current))
        objective[k] = sign
        result = linprog(objective, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if result.status != 0:  # unbounded (or numerically lost): not pinned
            return False
        points.append(result.x)
        if abs(result.x[k] - current[k]) > 0.5:
            return False
    return True


def _first_weak_line(
    values: np.ndarray, hidden: np.ndarray, min_cell_size: int
) -> list[tuple[int, int]] | None:
    """The first line (in the order of :func:`_lines`: rows, then columns) whose total is
    published but whose hidden cells sum to a small count, or None."""
    r, c = values.shape[0] - 1, values.shape[1] - 1
    # Per row (over the inner columns) and per column (over the inner rows): is a hidden
    # cell there, and the sum of the hidden cells.
    row_hidden, col_hidden = hidden[:, :c], hidden[:r, :]
    row_sum = np.where(row_hidden, values[:, :c], 0).sum(axis=1)
    weak_rows = np.flatnonzero(~hidden[:, c] & row_hidden.any(axis=1) & (row_sum < min_cell_size))
    if len(weak_rows):
        return [(int(weak_rows[0]), j) for j in range(c)]
    col_sum = np.where(col_hidden, values[:r, :], 0).sum(axis=0)
    weak_cols = np.flatnonzero(~hidden[r, :] & col_hidden.any(axis=0) & (col_sum < min_cell_size))
    if len(weak_cols):
        return [(i, int(weak_cols[0])) for i in range(r)]
    return None


def _cheapest(values: np.ndarray, hidden: np.ndarray, cells: list[tuple[int, int]]):
    """The published cell to hide next: inner cells before totals (a hidden total puzzles
    a reader more), then a cell that closes a cycle (its row and its column already hold
    a hidden cell, so the hidden cells can trade values around the cycle), then the
    smallest count. Closing cycles first keeps the pattern small instead of running down
    a whole column."""
    r, c = values.shape[0] - 1, values.shape[1] - 1
    candidates = [cell for cell in cells if not hidden[cell]]
    if not candidates:
        return None

    def closes(cell: tuple[int, int]) -> bool:
        return bool(hidden[cell[0], :].any() and hidden[:, cell[1]].any())

    return min(
        candidates,
        key=lambda cell: (cell[0] == r or cell[1] == c, not closes(cell), values[cell], cell),
    )


def _suppress_array(
    values: np.ndarray, min_cell_size: int, force: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    primary = values < min_cell_size
    complementary = np.zeros_like(primary)
    if force is not None:
        complementary |= force & ~primary
    n_rows, n_cols = values.shape
    everything = [(i, j) for i in range(n_rows) for j in range(n_cols)]
    while True:
        hidden = primary | complementary
        weak = _first_weak_line(values, hidden, min_cell_size)
        if weak is not None:
            pick = _cheapest(values, hidden, weak) or _cheapest(values, hidden, everything)
        else:
            recovered = recoverable_cells(
                values, primary, complementary, min_cell_size, first_only=True
            )
            if not recovered:
                return primary, complementary
            i, j = recovered[0]
            same_lines = [(i, y) for y in range(n_cols)] + [(x, j) for x in range(n_rows)]
            pick = _cheapest(values, hidden, same_lines) or _cheapest(values, hidden, everything)
        if pick is None:  # everything is hidden: nothing can be recovered
            return primary, complementary
        complementary[pick] = True


def suppress(
    counts: pd.DataFrame, min_cell_size: int = 10, force_total_row: pd.Series | None = None
) -> Suppressed:
    """Suppress a table of counts (rows x columns, no margins) and its margins.

    ``force_total_row`` (bool per column, total column included) hides those cells of
    the total row whatever their size; :func:`suppress_linked` uses it.
    """
    full = with_margins(counts)
    values = full.to_numpy()
    force = None
    if force_total_row is not None:
        force = np.zeros(values.shape, dtype=bool)
        force[-1, :] = force_total_row.reindex(full.columns, fill_value=False).to_numpy(bool)
    primary, complementary = _suppress_array(values, min_cell_size, force)
    frame = lambda a: pd.DataFrame(a, index=full.index, columns=full.columns)  # noqa: E731
    return Suppressed(full, frame(primary), frame(complementary), min_cell_size)


def suppress_linked(
    tables: list[pd.DataFrame],
    min_cell_size: int = 10,
    force_total_row: pd.Series | None = None,
) -> list[Suppressed]:
    """Suppress tables that share their column totals (same population, same columns), so
    that a total hidden in one table is hidden in every one of them. ``force_total_row``
    hides shared totals that another report hides."""
    forced: pd.Series | None = None
    if force_total_row is not None and force_total_row.any():
        forced = force_total_row.astype(bool)
    while True:
        results = [suppress(t, min_cell_size, forced) for t in tables]
        union = pd.concat([r.hidden.iloc[-1] for r in results], axis=1).any(axis=1)
        if forced is not None:
            union = union | forced.reindex(union.index, fill_value=False)
        if forced is not None and union.equals(forced):
            return results
        if forced is None and not union.any():
            return results
        forced = union


def suppress_counts(counts: pd.Series, min_cell_size: int = 10) -> pd.Series:
    """A list of separate counts that are not added up anywhere (e.g. students per
    program): each shown as its number or ``n<10``. No totals, so no complementary step."""
    return counts.astype("int64").map(
        lambda n: small_text(min_cell_size) if n < min_cell_size else str(n)
    )
