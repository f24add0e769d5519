"""Seconds from gestures (model/effort/timings.py, issue 29 section 4): every time
sourced, derived or marked ASSUMPTION; seconds with scaled times; the sensitivity
table; the table in docs/cli.md (simulate) is the module's."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from model.effort import timings as T
from model.effort.action_costs import (ACCEPT, BOX, CLICK, KINDS, OBJECT, REJECT, STROKE, VERTEX,
                                  Tally)

ROOT = Path(__file__).resolve().parents[2]
CLI_MD = ROOT / "docs" / "cli.md"


def tally(**kinds) -> Tally:
    t = Tally()
    for k, n in kinds.items():
        t.add(k, n)
    return t


def test_every_kind_has_a_time_and_says_where_it_comes_from():
    assert set(T.TIMINGS) == set(KINDS)
    for kind, t in T.TIMINGS.items():
        assert t.seconds > 0 and t.status in ("sourced", "derived", "ASSUMPTION"), kind
        # the table in the module docstring and in docs/cli.md says the same
        row = f"| {kind} | {t.seconds:.2f} | {t.status} |"
        assert row in T.__doc__, row
        assert row in CLI_MD.read_text(encoding="utf-8"), row


def test_the_derived_times_add_up_to_their_sources():
    # COCO's 79.2 s per polygon: the per-object overhead plus 31.0 vertices
    assert T.OBJECT_S + T.COCO_VERTICES * T.SECONDS_PER_GESTURE[VERTEX] == pytest.approx(79.2)
    # a corner-drag box (Su et al.'s drawing stage) is 25.5 s with finding the object
    assert T.SECONDS_PER_GESTURE[BOX] + T.SECONDS_PER_GESTURE[OBJECT] == pytest.approx(25.5)
    assert 4 * T.SECONDS_PER_GESTURE[CLICK] == pytest.approx(7.0)  # an extreme-click box
    assert T.SECONDS_PER_GESTURE[REJECT] == 1.6  # a yes/no on a box


def test_seconds_with_scaled_times():
    t = tally(accept=2, stroke=3, vertex=10, object=1)
    base = T.seconds(t)
    s = T.SECONDS_PER_GESTURE
    assert base == pytest.approx(2 * s[ACCEPT] + 3 * s[STROKE] + 10 * s[VERTEX] + s[OBJECT])
    assert T.seconds(t, {STROKE: 0.5}) == pytest.approx(base - 1.5 * s[STROKE])
    assert T.seconds(t, {VERTEX: 2.0, ACCEPT: 0.0}) == pytest.approx(
        base + 10 * s[VERTEX] - 2 * s[ACCEPT])
    assert T.seconds(t, {BOX: 2.0}) == base  # a kind the tally lacks changes nothing
    for bad in ({STROKE: math.nan}, {STROKE: -1.0}, {STROKE: math.inf}, {"wave": 2.0}):
        with pytest.raises(ValueError, match="scale"):
            T.seconds(t, bad)


def test_the_sensitivity_table_halves_and_doubles_each_time():
    model = tally(accept=10)  # every object offered exactly
    none = tally(object=10, vertex=40)
    rows = T.sensitivity({"exact": (model, none)})
    assert len(rows) == 1 + 2 * len(KINDS)
    assert rows[0]["kind"] is None
    base = rows[0]["ratios"]["exact"]
    assert base == pytest.approx(T.seconds(model) / T.seconds(none))
    by = {(r["kind"], r["factor"]): r["ratios"]["exact"] for r in rows[1:]}
    assert by[(ACCEPT, 2.0)] == pytest.approx(2 * base)
    assert by[(ACCEPT, 0.5)] == pytest.approx(base / 2)
    assert by[(STROKE, 2.0)] == pytest.approx(base)  # in neither tally
    assert by[(VERTEX, 2.0)] < base < by[(VERTEX, 0.5)]
    text = T.format_sensitivity(rows)
    assert text.splitlines()[0] == "| time scaled | exact |"
    assert f"| as sourced | {base:.2f}x |" in text
    assert "| accept (ASSUMPTION) x2 |" in text
    assert T.sensitivity({"x": (model, Tally())})[0]["ratios"]["x"] is None  # no baseline


def test_the_bench_script_prints_the_table(tmp_path, capsys):
    import json
    import sys
    from model.data.synthetic import shapes_dataset
    sys.path.insert(0, str(ROOT))
    from bench.sensitivity import main
    gt = shapes_dataset(tmp_path / "set", n=2, size=64)
    pred = tmp_path / "pred.json"
    d = json.loads(gt.read_text())
    for a in d["annotations"]:
        a["score"] = 0.9
    pred.write_text(json.dumps(d))
    assert main([str(gt), f"exact={pred}"]) == 0
    out = capsys.readouterr().out
    assert "| time scaled | exact |" in out and "| vertex (derived) x0.5 |" in out
