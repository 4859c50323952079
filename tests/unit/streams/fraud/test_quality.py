from streams.fraud.quality import precision_recall


def test_precision_and_recall_count_each_kind_of_verdict() -> None:
    judged = [(True, True), (True, True), (True, False), (False, True), (False, False)]
    assert precision_recall(judged) == (2 / 3, 2 / 3)


def test_nothing_flagged_or_nothing_to_find_is_not_a_miss() -> None:
    assert precision_recall([(False, False)]) == (1.0, 1.0)
    assert precision_recall([(True, False)]) == (1.0, 0.0)
    assert precision_recall([(False, True)]) == (0.0, 1.0)
