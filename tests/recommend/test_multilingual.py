"""The worked multilingual example: the mission's user, typed as Chinese text, is offered the
travel photography book near the top."""

import pytest

TRAVEL_PHOTO = {"b01", "b02", "b03", "b14", "f01", "f08", "p01", "p02", "p03"}


@pytest.mark.parametrize("seed", [0, 1])
def test_mission_user_gets_the_travel_photography_book(seed):
    from experiments.multilingual.run import build

    serving = build(seed=seed)
    recs = serving.for_text("我喜欢阅读、旅行和摄影", 5)
    items = [r.item for r in recs]
    # 一本关于旅行的摄影艺术书籍: in the top 3 of 34 (the dense model alone puts it 5th-6th;
    # the BM25 channel finds the 旅行 and 摄影 it shares with the query).
    assert "b01" in items[:3]
    assert len(TRAVEL_PHOTO & set(items)) >= 4
