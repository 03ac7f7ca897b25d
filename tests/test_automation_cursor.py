"""The arrival sensor's judgement, without a server or a clock: when a business date runs."""

import json
from datetime import date

from toast_assets.automation.cursor import (
    ArrivalCursor,
    ArrivalSettings,
    date_digest,
    decide,
    location_summary,
    skip_message,
)

D1, D2 = date(2026, 10, 1), date(2026, 10, 2)
NOW = 1_800_000_000.0
SETTINGS = ArrivalSettings(settle_seconds=600, cutoff_seconds=4 * 3600)
A, B = "185129", "185130"


def files(mtime: float, size: int = 100) -> list[tuple[str, int, int]]:
    return [("OrderDetails.csv", size, int(mtime)), ("PaymentDetails.csv", 50, int(mtime))]


def actions(decisions) -> dict[date, str]:
    return {d.business_date: d.action for d in decisions}


def test_summary_and_digest_ignore_order_and_see_every_change() -> None:
    one = files(NOW)
    assert location_summary(one) == location_summary(list(reversed(one)))
    assert location_summary(one).startswith("2:150:")
    assert location_summary(files(NOW, size=101)) != location_summary(one)
    assert location_summary(files(NOW + 1)) != location_summary(one)
    assert date_digest({A: one, B: one}) == date_digest({B: one, A: one})
    assert date_digest({A: one}) != date_digest({A: one, B: one})


def test_fresh_files_wait_for_a_second_look_then_run_once() -> None:
    listing = {D1: {A: files(NOW - 5), B: files(NOW - 5)}}
    first, cursor = decide(listing, ArrivalCursor(), [A, B], NOW, SETTINGS)
    assert actions(first) == {D1: "wait"}
    assert "files still arriving" in first[0].reason and A in first[0].reason
    assert D1.isoformat() not in cursor.ran

    second, cursor = decide(listing, ArrivalCursor.from_json(cursor.to_json()), [A, B], NOW + 60, SETTINGS)
    assert actions(second) == {D1: "run"}
    assert second[0].trigger == "complete" and second[0].locations == (A, B) and second[0].missing == ()
    assert second[0].run_key == f"2026-10-01:{date_digest(listing[D1])}"

    third, cursor = decide(listing, cursor, [A, B], NOW + 120, SETTINGS)
    assert actions(third) == {D1: "unchanged"}
    assert "nothing new" in skip_message(third, "business dates 2026-09-21 to 2026-10-01")


def test_growing_file_keeps_waiting() -> None:
    _, cursor = decide({D1: {A: files(NOW - 5, 100)}}, ArrivalCursor(), [A], NOW, SETTINGS)
    decisions, _ = decide({D1: {A: files(NOW + 25, 900)}}, cursor, [A], NOW + 30, SETTINGS)
    assert actions(decisions) == {D1: "wait"}


def test_old_files_are_settled_on_the_first_look() -> None:
    decisions, cursor = decide({D1: {A: files(NOW - 3600), B: files(NOW - 3600)}}, ArrivalCursor(), [A, B], NOW, SETTINGS)
    assert actions(decisions) == {D1: "run"}
    assert cursor.ran[D1.isoformat()] == decisions[0].digest


def test_missing_location_waits_until_the_cutoff_then_runs_without_it() -> None:
    listing = {D1: {A: files(NOW - 3600)}}
    before, cursor = decide(listing, ArrivalCursor(), [A, B], NOW, SETTINGS)
    assert actions(before) == {D1: "wait"}
    assert f"waiting for location(s) {B}" in before[0].reason and "cutoff" in before[0].reason
    assert B in skip_message(before, "x")

    after, cursor = decide(listing, cursor, [A, B], NOW - 3600 + SETTINGS.cutoff_seconds + 1, SETTINGS)
    assert actions(after) == {D1: "run"}
    assert after[0].trigger == "cutoff" and after[0].missing == (B,)

    # The late location arrives: the date runs again, with both.
    late = {D1: {A: files(NOW - 3600), B: files(NOW - 10)}}
    settling, cursor = decide(late, cursor, [A, B], NOW + 5 * 3600, SETTINGS)
    assert actions(settling) == {D1: "run"}  # its files are already 5 h old at this look
    assert settling[0].trigger == "redelivery" and settling[0].missing == ()


def test_changed_file_of_a_past_date_runs_that_date_again() -> None:
    listing = {D1: {A: files(NOW - 7200)}, D2: {A: files(NOW - 3600)}}
    _, cursor = decide(listing, ArrivalCursor(), [A], NOW, SETTINGS)
    assert set(cursor.ran) == {D1.isoformat(), D2.isoformat()}

    corrected = {D1: {A: files(NOW + 60, size=120)}, D2: listing[D2]}
    waiting, cursor = decide(corrected, cursor, [A], NOW + 61, SETTINGS)
    assert actions(waiting) == {D1: "wait", D2: "unchanged"}
    rerun, cursor = decide(corrected, cursor, [A], NOW + 400, SETTINGS)
    assert actions(rerun) == {D1: "run", D2: "unchanged"}
    assert rerun[0].trigger == "redelivery"
    assert rerun[0].run_key != f"2026-10-01:{date_digest(listing[D1])}"


def test_dates_the_lake_already_holds_do_not_run() -> None:
    listing = {D1: {A: files(NOW - 7200)}, D2: {A: files(NOW - 3600)}}
    landed = {D1}
    decisions, cursor = decide(listing, ArrivalCursor(), [A], NOW, SETTINGS, already_landed=lambda d, f: d in landed)
    assert actions(decisions) == {D1: "landed", D2: "run"}
    assert set(cursor.ran) == {D1.isoformat(), D2.isoformat()}


def test_cursor_is_compact_json_and_forgets_dates_gone_from_the_server() -> None:
    listing = {D1: {A: files(NOW - 7200), B: files(NOW - 7200)}}
    _, cursor = decide(listing, ArrivalCursor(), [A, B], NOW, SETTINGS)
    text = cursor.to_json()
    body = json.loads(text)
    assert body["v"] == 1 and set(body) == {"v", "look", "ran"}
    assert body["look"]["2026-10-01"][A].startswith("2:150:")
    assert " " not in text and len(text) < 200

    _, later = decide({D2: {A: files(NOW)}}, ArrivalCursor.from_json(text), [A, B], NOW, SETTINGS)
    assert set(later.look) == {D2.isoformat()} and D1.isoformat() not in later.ran


def test_unreadable_or_old_cursor_starts_afresh() -> None:
    for text in (None, "", "not json", "[]", '{"v": 0, "look": {}}'):
        cursor = ArrivalCursor.from_json(text)
        assert cursor.look == {} and cursor.ran == {}


def test_nothing_on_the_server_says_so() -> None:
    decisions, _ = decide({}, ArrivalCursor(), [A], NOW, SETTINGS)
    assert decisions == []
    assert skip_message(decisions, "business dates 2026-09-21 to 2026-10-01") == (
        "no export files for business dates 2026-09-21 to 2026-10-01 on the server yet"
    )
