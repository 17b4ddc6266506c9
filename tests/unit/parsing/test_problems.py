"""parsing: every problem listed, the cap, the counts, and the fast and exact paths agreeing."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import InvalidFileError
from chalicelib.parsing import FIX_HINT, ParseStats, parse_rows
from tests.unit.parsing.helpers import (
    AMOUNT_REASON,
    ORDERS_HEADER,
    csv_bytes,
    located,
    parse,
    rejection,
)

# --- all problems, the cap, stats and streaming ------------------------------------------

def test_no_rows_after_the_first_problem_but_every_problem_listed():
    data = csv_bytes(ORDERS_HEADER, "1,1,1.00", "2,1,2.00", "3,1,x", "4,1,4.00", "5,,5.00")
    stats = ParseStats()
    yielded: list = []

    with pytest.raises(InvalidFileError) as caught:
        for row in parse_rows("orders", [data], "orders_b1.csv", stats=stats):
            yielded.append(row)

    assert [o.order_id for o in yielded] == ["1", "2"]
    assert located(caught.value) == [(4, "amount", AMOUNT_REASON), (6, "customer_id", "the value is missing")]
    assert (stats.rows_read, stats.rows_rejected) == (5, 2)


def test_stats_of_an_accepted_file():
    stats = ParseStats()
    parse("items", csv_bytes("item_id,order_id", "1,1", "", "2,1", "3,2"), stats=stats)

    assert (stats.rows_read, stats.rows_rejected) == (3, 0)


def test_a_row_with_several_problems_is_one_rejected_row():
    stats = ParseStats()
    error = rejection("orders", csv_bytes(ORDERS_HEADER, "1,1,1.00", ",,bad"), stats=stats)

    assert error.problem_count == 3
    assert (stats.rows_read, stats.rows_rejected) == (2, 1)


def test_max_reported_caps_the_list_but_not_the_count():
    bad_rows = [f"{n},1,bad{n}" for n in range(1, 8)]
    error = rejection("orders", csv_bytes(ORDERS_HEADER, *bad_rows), max_reported=2)

    assert [(p.line, p.value) for p in error.problems] == [(2, "bad1"), (3, "bad2")]
    assert error.problem_count == 7


def test_the_default_cap_is_1000_problems():
    error = rejection("items", csv_bytes("item_id,order_id", *[f"{n}," for n in range(1500)]))

    assert len(error.problems) == 1000
    assert error.problem_count == 1500
    assert error.problems[-1].line == 1001


def test_the_error_message_says_file_where_what_and_what_to_do():
    data = csv_bytes(ORDERS_HEADER, "1,1,-5", "2,,1.00", "2,1,1.00", "4,1,1.234", "5,1,1e2")
    error = rejection("orders", data, max_reported=4)

    assert error.file_name == "orders_b1.csv"
    assert error.problem_count == 5
    assert len(error.problems) == 4
    assert error.hint == FIX_HINT
    assert str(error) == (
        f"orders_b1.csv was rejected: line 2, column 'amount': {AMOUNT_REASON} (value '-5'); "
        "line 3, column 'customer_id': the value is missing; "
        "line 4, column 'order_id': duplicate id: already used on line 3 (value '2'); "
        "and 2 more problem(s). Fix the rows listed and upload the file again under the same key.")


# --- the fast path and the exact path agree ------------------------------------------
# A quoted header sends the whole file down the exact (csv.reader) path; a plain
# header lets every well-formed block take the fast path. Both must give the
# same rows, or the same problems on the same lines.

FIELD = st.one_of(
    st.sampled_from(["1", "07", "1001", "250.00", "1.5", "abc", "a b", "x" * 200, "3 ", " 2", "\u00a0x",
                     "x\t", "", "1e2", "-5", "x" * 201, '"q"', "\u2028", "9" * 16, "1.999", "a\rb",
                     # control characters, bare and quoted; quoted values with spaces or line breaks
                     "a\x00b", "\x7f", "x\x1f", "\x0b1", "\t", "\x1b[0m", '"\x00"', '"a\tb"', '" 1"',
                     '"  Jane "', '"  "', '" 2.50"', '"a\nb"', '"a\r\nb"', '"x"y', '"open', "9" * 22]),
    st.text(alphabet="0129.ab ,\t\r\n\"\u00e9\x00\x1f\x7f", max_size=6))
COLUMNS = {"customers": ["customer_id", "customer_name"],
           "orders": ["order_id", "customer_id", "amount"],
           "items": ["item_id", "order_id"]}


@settings(max_examples=400, deadline=None)
@given(data=st.data(), kind=st.sampled_from(list(COLUMNS)), clean_rows=st.integers(0, 30),
       line_end=st.sampled_from(["\n", "\r\n"]),
       cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_fast_and_exact_paths_give_the_same_rows_or_the_same_problems(data, kind, clean_rows,
                                                                        line_end, cuts):
    columns = COLUMNS[kind]
    # Mostly rows of the header's width, so that blocks of them can take the fast path.
    widths = st.integers(len(columns) - 1, len(columns) + 1) | st.just(len(columns))
    rows = data.draw(st.lists(widths.flatmap(lambda w: st.lists(FIELD, min_size=w, max_size=w)),
                              max_size=8))
    clean = [",".join([f"{kind[0]}{n}"] + ["1.00" if c == "amount" else "v" for c in columns[1:]])
             for n in range(clean_rows)]
    body = "".join(line + line_end for line in clean + [",".join(r) for r in rows]).encode("utf-8")
    plain = (",".join(columns) + line_end).encode("utf-8") + body
    quoted = (",".join(f'"{c}"' for c in columns) + line_end).encode("utf-8") + body

    def outcome(data: bytes):
        points = sorted({c for c in cuts if c < len(data)} | {0, len(data)})
        chunks = [data[a:b] for a, b in zip(points, points[1:])]
        stats = ParseStats()
        try:
            return list(parse_rows(kind, chunks, "f.csv", stats=stats)), None, stats
        except InvalidFileError as exc:
            return None, (exc.problems, exc.problem_count), stats

    assert outcome(plain) == outcome(quoted)


def test_a_repeat_of_an_id_read_by_the_fast_path_names_its_line():
    rows = [f"{n},1" for n in range(1, 200)] + ["150,2"]
    data = csv_bytes("item_id,order_id", *rows)
    cut = data.index(b"190,1")  # the first block is all fast; the repeat is in the second

    error = rejection("items", data, chunks=[data[:cut], data[cut:]])

    assert located(error) == [(201, "item_id", "duplicate id: already used on line 151")]


def test_rows_of_fast_blocks_before_a_bad_block_are_yielded_and_lines_stay_right():
    good = [f"{n},1,1.00" for n in range(1, 101)]
    data = csv_bytes(ORDERS_HEADER, *good, '"101",1,2.00', "102,1,x")
    cut = data.index(b'"101"')
    yielded = []

    with pytest.raises(InvalidFileError) as caught:
        for row in parse_rows("orders", [data[:cut], data[cut:]], "orders_b1.csv"):
            yielded.append(row)

    assert len(yielded) == 101  # the fast block's 100, then the exact path's "101"
    assert located(caught.value) == [(103, "amount", AMOUNT_REASON)]
