"""The balanced-teachers table (benchmarks/studies/balanced_teachers_table.py) on hand-made results."""

import pytest


def _result(top1, per_class, counts, many=None, medium=None, fit=None, precision="float32"):
    return {"config": {"precision": precision}, "dataset": {"train_counts": counts},
            "reports": {"teacher": {"top1": 0.0, "per_class": [0.0] * len(per_class)},
                        "student (x)": {"top1": top1, "per_class": per_class, "many": many, "medium": medium,
                                        "few": None}},
            "teacher_fit": fit}


def test_row_takes_the_students_report_seed_means_and_the_class_with_fewest_images():
    from benchmarks.studies.balanced_teachers_table import row
    counts = [500, 200, 10, 90]                   # the rarest class is the third, not the last
    r = row("kd@la", {0: _result(60.0, [90.0, 70.0, 20.0, 60.0], counts, many=80.0, medium=40.0),
                      1: _result(64.0, [80.0, 60.0, 40.0, 76.0], counts, many=70.0, medium=58.0)})
    assert r["variant"] == "kd@la" and r["teacher"] == "la"
    assert r["top1_per_seed"] == {0: 60.0, 1: 64.0}
    assert r["top1"] == pytest.approx(62.0) and r["many"] == pytest.approx(75.0) and r["medium"] == pytest.approx(49.0)
    assert r["few"] is None                       # no Few class on either seed
    # head halves (90+70)/2 = 80 and (80+60)/2 = 70 -> 75; tail halves (20+60)/2 = 40, (40+76)/2 = 58 -> 49
    assert r["head"] == pytest.approx(75.0) and r["tail"] == pytest.approx(49.0)
    assert r["rarest"] == pytest.approx(30.0)     # (20 + 40) / 2
    assert r["precision"] == ["float32"]
    assert row("ce", {0: _result(1.0, [1.0, 1.0], [5, 5])})["teacher"] is None


def test_rows_at_another_precision_are_named():
    from benchmarks.studies.balanced_teachers_table import mixed_precision_rows, row
    counts = [5, 1]
    rows = [row("la", {0: _result(60.0, [70.0, 50.0], counts)}),
            row("bkd", {0: _result(61.0, [70.0, 52.0], counts, precision="bfloat16")}),
            row("kd", {0: _result(55.0, [80.0, 30.0], counts),
                       1: _result(56.0, [80.0, 32.0], counts, precision="bfloat16")})]
    assert rows[2]["precision"] == ["bfloat16", "float32"]
    assert mixed_precision_rows(rows) == ["bkd", "kd"]
    assert mixed_precision_rows(rows[:1]) == [] and mixed_precision_rows([]) == []


def test_teacher_fit_averages_seeds_per_class_and_by_half():
    from benchmarks.studies.balanced_teachers_table import teacher_fit
    fits = {0: _result(0, [0] * 4, [4, 3, 2, 1], fit={"teacher_top1": [100.0, 80.0, 40.0, 0.0],
                                                      "target_top1": [30.0, 50.0, 90.0, 100.0]}),
            1: _result(0, [0] * 4, [4, 3, 2, 1], fit={"teacher_top1": [90.0, 70.0, 20.0, None],
                                                      "target_top1": [50.0, 70.0, 100.0, 100.0]}),
            2: _result(0, [0] * 4, [4, 3, 2, 1])}        # a run that records no fit (plain KD) is left out
    fit = teacher_fit(fits)
    assert fit["seeds"] == 2
    assert fit["teacher_top1"] == [95.0, 75.0, 30.0, 0.0]       # a class's missing value is skipped
    assert fit["target_top1"] == [40.0, 60.0, 95.0, 100.0]
    assert fit["teacher_top1_halves"] == [85.0, 15.0] and fit["target_top1_halves"] == [50.0, 97.5]
    assert teacher_fit({0: _result(0, [0], [1])}) is None


def test_beats_compares_seed_by_seed_on_common_seeds_only():
    from benchmarks.studies.balanced_teachers_table import beats
    rows = [{"variant": "la", "top1_per_seed": {0: 66.0, 1: 65.0}},
            {"variant": "a", "top1_per_seed": {0: 67.0, 1: 65.5}},       # above on both
            {"variant": "b", "top1_per_seed": {0: 70.0, 1: 64.0}},       # above on one only
            {"variant": "c", "top1_per_seed": {1: 66.0}},                # only the common seed counts
            {"variant": "d", "top1_per_seed": {2: 90.0}}]                # no common seed
    assert beats(rows, "la") == {"la": None, "a": True, "b": False, "c": True, "d": None}
    assert beats(rows, "absent") == {r["variant"]: None for r in rows}
