"""row_ids: repeated ids found however far apart, with memory for a window of ids only."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import InvalidFileError
from chalicelib.parsing import ParseStats, parse_rows
from chalicelib.row_ids import RowIds


def test_a_repeat_within_the_window_is_found_at_once_with_its_first_line(tmp_path):
    ids = RowIds(window=10, directory=str(tmp_path))
    assert ids.add_block(["a", "b", "c"], first_line=2)

    assert ids.add("b", 5) == 3
    assert not ids.add_block(["d", "a"], first_line=6)  # nothing recorded: "d" is still new
    assert "d" not in ids and ids.add("d", 6) is None


def test_repeats_further_apart_than_the_window_are_found_at_the_end(tmp_path):
    ids = RowIds(window=4, partitions=3, directory=str(tmp_path))
    ids.add_block([f"r{n}" for n in range(10)], first_line=2)  # lines 2..11, spilled
    ids.add("r1", 12)                    # far from line 3: not in memory any more
    ids.add("r7", 13, rejected=True)     # a line that already has another problem
    ids.add_block(["x", "r0"], first_line=14)

    count, newly_rejected, repeats = ids.far_repeats(limit=2)

    assert (count, newly_rejected) == (3, 2)
    assert repeats == [(12, "r1", 3), (13, "r7", 9)]  # the first two, by line
    assert list(tmp_path.iterdir()) == []  # the spill files are gone


def test_no_files_while_the_window_is_not_full(tmp_path):
    ids = RowIds(window=100, directory=str(tmp_path))
    ids.add_block([str(n) for n in range(50)], first_line=2)

    assert ids.far_repeats(limit=10) == (0, 0, [])
    assert list(tmp_path.iterdir()) == []


def parse_outcome(data: bytes, cuts: list[int], ids: RowIds | None = None):
    points = sorted({c for c in cuts if c < len(data)} | {0, len(data)})
    stats = ParseStats()
    try:
        rows = list(parse_rows("items", [data[a:b] for a, b in zip(points, points[1:])], "f.csv",
                               max_reported=5, stats=stats, ids=ids))
        return rows, None, (stats.rows_read, stats.rows_rejected)
    except InvalidFileError as exc:
        return None, ([(p.line, p.column, p.value) for p in exc.problems], exc.problem_count), (
            stats.rows_read, stats.rows_rejected)


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.sampled_from([str(n) for n in range(40)] + ["", "bad "]), max_size=60),
       window=st.integers(1, 8), cuts=st.lists(st.integers(0, 400), max_size=5))
def test_a_small_window_finds_the_same_problems_as_a_window_that_holds_the_file(ids, window, cuts):
    data = ("item_id,order_id\n" + "".join(f"{i},1\n" for i in ids)).encode("utf-8")
    whole = parse_outcome(data, cuts)

    small = parse_outcome(data, cuts, RowIds(window=window, partitions=3))

    assert small == whole
