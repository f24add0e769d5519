"""The review queue without Qt (model/editing/queue.py): its filters and orders, where the
review keys go at the ends, U's wrapping, what it tells its listeners, and the rule that
the image shown stays listed until you leave it."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.data.annotations import ImageRecord
from model.editing.queue import ATTENTION, FILE, SUSPECTS, QueueChange, ReviewQueue

NAMES = ["a0.png", "a1.png", "a2.png", "B0.png", "b1.png", "b2.png"]


def records(status=("unreviewed",) * 6, attention=(None,) * 6) -> list[ImageRecord]:
    return [ImageRecord(k + 1, name, 64, 64, status=s, attention=a)
            for k, (name, s, a) in enumerate(zip(NAMES, status, attention))]


def queue(images=None, **kw) -> tuple[ReviewQueue, list[QueueChange]]:
    q = ReviewQueue(records() if images is None else images, **kw)
    heard: list[QueueChange] = []
    q.listeners.append(heard.append)
    return q, heard


# ------------------------------------------------------------------ filters
def test_every_image_in_file_order_without_a_filter():
    q, _ = queue()
    assert q.visible() == [0, 1, 2, 3, 4, 5] and not q.filtered and len(q) == 6


def test_the_state_filter():
    q, _ = queue(records(status=["done", "unreviewed", "in_progress", "done", "unreviewed",
                                 "done"]))
    q.set_filter(state="done")
    assert q.visible() == [0, 3, 5] and q.filtered
    q.set_filter(state="in_progress")
    assert q.visible() == [2]
    q.set_filter(state="")
    assert q.visible() == [0, 1, 2, 3, 4, 5] and not q.filtered


def test_the_name_filter_ignores_case_and_combines_with_the_state():
    q, _ = queue(records(status=["unreviewed"] * 3 + ["done", "unreviewed", "unreviewed"]))
    q.set_filter(text="b")
    assert q.visible() == [3, 4, 5]  # B0 too
    q.set_filter(state="unreviewed")  # the name filter stays
    assert q.visible() == [4, 5]
    q.set_filter(text="A1")
    assert q.visible() == [1] and q.text == "a1"


def test_the_id_filter_and_clearing_it():
    q, _ = queue()
    q.set_image_ids([2, 5, 99])
    assert q.visible() == [1, 4] and q.filtered
    q.set_image_ids(None)
    assert q.visible() == [0, 1, 2, 3, 4, 5] and not q.filtered


def test_the_suspects_filter_lists_the_images_with_a_suspect_ranked_whatever_the_order():
    scores = {2: 0.4, 5: 0.9, 6: 0.4}  # image id -> best open suspect
    q, _ = queue(records(attention=[0.9, 0.1, 0.2, 0.3, 0.4, 0.5]), suspect_score=scores.get)
    q.set_filter(state=SUSPECTS)
    assert q.visible() == [4, 1, 5] and q.ranking == SUSPECTS  # a tie keeps file order
    q.set_order(ATTENTION)
    assert q.visible() == [4, 1, 5]
    scores[6] = 0.95  # the suspects changed
    q.refresh()
    assert q.visible() == [5, 4, 1]


def test_an_unknown_state_or_order_is_refused():
    q, _ = queue()
    with pytest.raises(ValueError, match="unknown state 'finished'"):
        q.set_filter(state="finished")
    with pytest.raises(ValueError, match="unknown order 'random'"):
        q.set_order("random")
    with pytest.raises(ValueError, match="unknown order"):
        ReviewQueue(records(), order="name")


# ------------------------------------------------------------------- orders
def test_the_attention_order_most_unsure_first_never_predicted_last_ties_in_file_order():
    q, heard = queue(records(attention=[0.2, None, 0.8, 0.2, float("nan"), 1.0]))
    q.set_order(ATTENTION)
    assert q.visible() == [5, 2, 0, 3, 1, 4] and q.ranking == ATTENTION
    assert heard == [QueueChange(listed=True, order=True)]
    q.set_order(ATTENTION)  # no change: nothing to say
    assert len(heard) == 1
    q.set_order(FILE)
    assert q.visible() == [0, 1, 2, 3, 4, 5]


def test_an_attention_given_by_the_caller():
    q, _ = queue(order=ATTENTION, attention=lambda rec: -rec.id)
    assert q.visible() == [0, 1, 2, 3, 4, 5]
    q, _ = queue(order=ATTENTION, attention=lambda rec: rec.id)
    assert q.visible() == [5, 4, 3, 2, 1, 0]


def test_a_new_attention_moves_the_image():
    images = records(attention=[0.5, 0.4, 0.3, 0.2, 0.1, None])
    q, heard = queue(images, order=ATTENTION)
    assert q.visible() == [0, 1, 2, 3, 4, 5]
    images[5].attention = 0.45
    q.touch(5)
    assert q.visible() == [0, 5, 1, 2, 3, 4]
    assert heard == [QueueChange(listed=True, moves=((5, 5, 1),))]  # from the end to 2nd
    images[5].attention = 0.42  # still between 0.5 and 0.4: nowhere else to go
    q.touch(5)
    assert q.visible() == [0, 5, 1, 2, 3, 4] and len(heard) == 1


# ------------------------------------------------------------------ answers
def test_next_and_previous_stop_at_the_ends():
    q, _ = queue()
    q.set_filter(text="a")
    q.set_current(0)
    assert q.next() == 1 and q.previous() == 0  # the first is its own previous
    q.set_current(2)
    assert q.next() == 2 and q.previous() == 1  # the last is its own next
    assert q.step(5, row=0) == 2 and q.step(-5, row=2) == 0


def test_from_an_image_not_listed_next_is_the_first_and_previous_the_last():
    q, _ = queue()
    q.set_filter(text="b")
    assert q.current == -1
    assert q.next() == 3 and q.previous() == 5
    assert q.next(row=1) == 3 and q.previous(row=1) == 5


def test_nothing_listed_nothing_next():
    q, _ = queue()
    q.set_filter(text="zzz")
    assert q.next() is None and q.previous() is None and q.next_unreviewed() is None
    assert q.visible() == [] and list(q.after()) == [] and q.next_rows(2) == []


def test_next_unreviewed_skips_done_images_and_says_when_it_wrapped():
    q, _ = queue(records(status=["unreviewed", "done", "unreviewed", "done", "in_progress",
                                 "done"]))
    q.set_current(0)
    assert q.next_unreviewed() == (2, False)
    q.set_current(2)
    assert q.next_unreviewed() == (4, False)
    q.set_current(4)
    assert q.next_unreviewed() == (0, True)  # past the end: back to the first
    q.set_current(5)  # done itself: the search starts after it
    assert q.next_unreviewed() == (0, True)


def test_next_unreviewed_none_when_every_other_listed_image_is_done():
    q, _ = queue(records(status=["unreviewed"] + ["done"] * 5))
    q.set_current(0)
    assert q.next_unreviewed() is None
    q.set_current(3)
    assert q.next_unreviewed() == (0, True)


def test_next_unreviewed_follows_the_order_and_the_filter():
    q, _ = queue(records(attention=[0.1, 0.9, 0.5, 0.7, 0.3, 0.2]), order=ATTENTION)
    assert q.visible() == [1, 3, 2, 4, 5, 0]
    q.set_current(2)
    assert q.next_unreviewed() == (4, False)
    q.set_filter(text="b")  # B0 b1 b2: 0.7 0.3 0.2
    q.set_current(4)
    assert q.next_unreviewed() == (5, False)
    q.set_current(5)
    assert q.next_unreviewed() == (3, True)


def test_after_wraps_with_the_row_itself_last_and_next_rows_does_not_wrap():
    q, _ = queue()
    assert list(q.after(4)) == [5, 0, 1, 2, 3, 4]
    q.set_current(4)
    assert q.next_rows(2) == [5] and q.next_rows(3, row=1) == [2, 3, 4]
    q.set_filter(text="a")
    assert q.next_rows(2) == []  # the image shown is not listed: nothing is next


def test_visible_is_a_copy():
    q, _ = queue()
    rows = q.visible()
    rows.clear()
    assert q.visible() == [0, 1, 2, 3, 4, 5]


# ----------------------------------------------------- the image shown stays
def test_the_image_shown_stays_listed_until_you_leave_it():
    images = records()
    q, heard = queue(images)
    q.set_filter(state="unreviewed")
    q.set_current(1)
    heard.clear()
    images[1].status = "done"  # M on the image shown
    q.touch(1)
    assert q.visible() == [0, 1, 2, 3, 4, 5] and heard == []  # it stays: nothing moved
    assert q.position(1) == 1 and q.next() == 2 and q.previous() == 0
    q.set_current(2)  # another image shown: the done one leaves
    assert q.visible() == [0, 2, 3, 4, 5]
    assert heard == [QueueChange(listed=True, moves=((1, 1, -1),), current=True)]
    q.set_current(-1)  # none shown: nothing pinned, the unreviewed one stays
    assert q.visible() == [0, 2, 3, 4, 5] and q.current == -1 and q.last == 2


def test_a_new_filter_keeps_the_image_shown_only_if_it_lists_it():
    images = records()
    q, _ = queue(images)
    q.set_filter(state="unreviewed")
    q.set_current(3)
    images[3].status = "done"
    q.touch(3)
    q.set_filter(text="b")  # a new filter: the done image is no longer pinned
    assert q.visible() == [4, 5]
    assert q.choose() == 4  # the caller shows the first listed
    q.set_filter(state="done")
    assert q.visible() == [3] and q.choose() == 3  # it lists the image shown: it stays


def test_an_image_that_changes_while_another_is_shown_leaves_at_once():
    images = records()
    q, heard = queue(images)
    q.set_filter(state="unreviewed")
    q.set_current(0)
    heard.clear()
    images[4].status = "done"  # a change to an image not shown (a prediction, an undo)
    q.touch(4)
    assert q.visible() == [0, 1, 2, 3, 5]
    assert heard == [QueueChange(listed=True, moves=((4, 4, -1),))]


def test_choose_the_shown_then_the_last_shown_then_the_first():
    q, _ = queue()
    q.set_current(4)
    q.set_filter(text="zzz")
    assert q.choose() is None and q.visible() == []
    q.set_current(-1)  # the caller shows none
    q.set_filter(text="")  # the image shown before comes back
    assert q.choose() == 4
    q.set_filter(text="a")
    assert q.choose() == 0


# --------------------------------------------------------------- listeners
def test_what_each_change_says():
    images = records()
    q, heard = queue(images)
    q.set_filter(state="unreviewed")
    assert heard[-1] == QueueChange(listed=True, filter=True) and q.version == 1
    q.set_current(2)
    assert heard[-1] == QueueChange(listed=False, current=True)  # already listed
    q.set_current(2)
    assert len(heard) == 2  # the same image: nothing
    images[0].file_name = "c0.png"  # no state change: the same rows
    q.touch(0)
    assert len(heard) == 2
    q.refresh()
    assert len(heard) == 2 and q.version == 1  # the listed rows never changed since
    q.reset(records()[:2])
    assert heard[-1] == QueueChange(listed=True, current=True, filter=True, reset=True)
    assert q.visible() == [0, 1] and q.state == "" and q.current == q.last == -1


def test_a_reset_clears_the_filter_and_keeps_the_order():
    q, _ = queue(order=ATTENTION)
    q.set_filter(text="b", state="done")
    q.set_image_ids([1])
    q.reset(records(attention=[None, 0.5, None, None, None, 0.9]))
    assert (q.text, q.state, q.image_ids, q.order) == ("", "", None, ATTENTION)
    assert q.visible() == [5, 1, 0, 2, 3, 4]


def test_touching_a_row_out_of_range_does_nothing():
    q, heard = queue()
    q.touch(-1)
    q.touch(6)
    assert heard == [] and q.visible() == [0, 1, 2, 3, 4, 5]


# ------------------------------------------- one row at a time == all anew
STATUSES = ["unreviewed", "in_progress", "done"]
ops = st.one_of(
    st.tuples(st.just("status"), st.integers(0, 5), st.sampled_from(STATUSES)),
    st.tuples(st.just("attention"), st.integers(0, 5),
              st.one_of(st.none(), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]))),
    st.tuples(st.just("show"), st.integers(-1, 5)),
    st.tuples(st.just("state"), st.sampled_from(["", *STATUSES])),
    st.tuples(st.just("text"), st.sampled_from(["", "a", "b", "1"])),
    st.tuples(st.just("order"), st.sampled_from([FILE, ATTENTION])))


@settings(max_examples=200, deadline=None)
@given(st.lists(ops, max_size=25))
def test_the_listed_rows_are_what_the_rule_says_after_any_changes(steps):
    """Each change moves one row at a time; the result is the filter (plus the image
    shown, pinned until another is shown or a new filter leaves it out) in the order."""
    images = records()
    q, heard = queue(images)
    shown = q.visible()  # what a listener that applies the moves shows

    def follow(change: QueueChange) -> None:
        nonlocal shown
        if not change.moves:
            shown = q.visible()
        for row, at, to in change.moves:
            if at >= 0:
                assert shown.pop(at) == row
            if to >= 0:
                shown.insert(to, row)
    q.listeners.append(follow)
    pinned = -1
    for op, *args in steps:
        if op == "status":
            images[args[0]].status = args[1]
            q.touch(args[0])
        elif op == "attention":
            images[args[0]].attention = args[1]
            q.touch(args[0])
        elif op == "show":
            q.set_current(args[0])
            pinned = args[0]
        elif op in ("state", "text"):
            q.set_filter(**{op: args[0]})
            pinned = q.current if q.current >= 0 and q.matches(q.current) else -1
        else:
            q.set_order(args[0])

        def key(r: int):
            a = images[r].attention if q.order == ATTENTION else 0.0
            return (a is None, -(a or 0.0), r)
        want = sorted((r for r in range(6) if r == pinned or q.matches(r)), key=key)
        assert q.visible() == want and shown == want
        assert [q.position(r) for r in range(6)] == [want.index(r) if r in want else -1
                                                      for r in range(6)]
