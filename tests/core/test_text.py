"""Plain-English pieces of the headlines: lists, counted nouns, signed per cents."""

from __future__ import annotations

from wbslib.core.text import counted, listed, signed_percent


def test_listed_joins_with_commas_and_a_final_and():
    assert [listed([]), listed(["1x"]), listed(["1x", "2x"]), listed(["1x", "2x", "3x"])] == [
        "",
        "1x",
        "1x and 2x",
        "1x, 2x and 3x",
    ]


def test_counted_uses_the_plural_except_for_one():
    assert [counted(0, "file"), counted(1, "file"), counted(2, "count mismatch", "count mismatches")] == [
        "0 files",
        "1 file",
        "2 count mismatches",
    ]


def test_signed_percent_has_a_true_minus_and_fewer_decimals_when_large():
    assert [signed_percent(-3.24), signed_percent(2.0), signed_percent(1556.4), signed_percent(0.01)] == [
        "−3.2 %",
        "+2.0 %",
        "+1556 %",
        "±0 %",
    ]
    assert signed_percent(float("nan")) == "n/a"
