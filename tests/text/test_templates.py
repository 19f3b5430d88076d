import numpy as np
import pytest

from recjax.text.templates import ITEM_TEMPLATE, USER_TEMPLATE, render


def col(*values):
    a = np.empty(len(values), object)
    a[:] = list(values)
    return a


def test_item_template_skips_missing_fields():
    f = {"title": col("Toy Story", "", "Heat"), "year": np.array([1995.0, 1995.0, np.nan]),
         "genres": col(("Animation", "Comedy"), ("unknown",), ())}
    assert render(ITEM_TEMPLATE, f, 3) == ["Toy Story (1995). Animation, Comedy", "(1995)",
                                            "Heat"]


def test_nothing_renders_as_nan_or_unknown():
    f = {"text": col("nan", "I like jazz"), "age": np.array([np.nan, 31.5]),
         "gender": col("unknown", "F"), "occupation": col("", "artist")}
    out = render(USER_TEMPLATE, f, 2)
    assert out == ["", "I like jazz | age 31.5 | gender F | occupation artist"]


def test_literal_brackets_and_braces_in_values():
    f = {"title": col("Set {x}"), "year": np.array([2001.0])}
    assert render(r"\[{title}\][ {year}]", f, 1) == ["[Set {x}] 2001"]


def test_bad_templates_and_lengths():
    with pytest.raises(ValueError, match="malformed"):
        render("{title", {"title": col("a")}, 1)
    with pytest.raises(ValueError, match="feature 'title' has 1 rows, expected 2"):
        render("{title}", {"title": col("a")}, 2)
