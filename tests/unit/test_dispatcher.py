"""The ingest's lane bookkeeping, driven with a fake clock and no sockets."""

from __future__ import annotations

import bisect
import itertools
import random
from collections import Counter

import pytest

from live2d_pose.ingest.dispatcher import FACE_PRIOR_MS, Dispatcher, PendingFrame, parse_replicas
from live2d_pose.wire import WARMING_UP, Capacity, FrameMeta

W1, W2, W3 = b"w1", b"w2", b"w3"
HOLISTIC = ("face", "pose", "hands")


def frame(stream: str, seq: int, t: float = 0.0) -> PendingFrame:
    return PendingFrame(FrameMeta(stream, seq, 640, 480, ts_ingest=t or seq), b"jpeg")


def sent(actions) -> list[tuple[bytes, str, str, int]]:
    return [(w, f.meta.stream, f.meta.track, f.meta.seq) for w, f in actions.dispatch]


def done(d: Dispatcher, worker: bytes, f: PendingFrame, now: float = 0.0, error: str | None = None):
    """Answer a dispatched frame as its worker would."""
    m = f.meta
    return d.worker_done(worker, m.stream, m.track, m.seq, m.session, m.replica, error, now)


def holder(d: Dispatcher, stream: str, track: str, replica: int = 0) -> bytes:
    return d.streams[stream].lanes[track].workers[replica]


# ---------------------------------------------------------------- one lane (face only), as before


def test_frame_waits_for_ready_then_goes_out():
    d = Dispatcher()
    d.add_stream("a")
    assert d.submit(frame("a", 1), now=0).dispatch == []
    actions = d.worker_ready(W1, now=0)
    assert sent(actions) == [(W1, "a", "face", 1)]


def test_only_newest_frame_is_kept_and_drops_counted():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.add_stream("a")
    first = d.submit(frame("a", 1), now=0).dispatch[0][1]  # goes out at once: worker busy now
    for seq in (2, 3, 4):
        assert d.submit(frame("a", seq), now=0).dispatch == []
    accepted, actions = done(d, W1, first)
    assert accepted and [f.meta.seq for _, f in actions.dispatch] == [4]
    stats = d.streams["a"].lanes["face"].stats
    assert (stats.dropped, stats.received) == (2, 4)


def test_no_workers_keeps_one_frame_until_one_joins():
    d = Dispatcher()
    d.add_stream("a")
    for seq in range(1, 10):
        d.submit(frame("a", seq), now=0)
    assert [f.meta.seq for _, f in d.worker_ready(W1, now=5).dispatch] == [9]


def test_frames_of_an_unknown_stream_are_ignored():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    assert d.submit(frame("nobody", 1), now=0).dispatch == []


def test_streams_spread_over_workers_and_a_new_worker_takes_some_over():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    for name in "abcd":
        d.add_stream(name)
    actions = d.worker_ready(W2, now=0)
    assert sorted(len(w.seats) for w in d.workers.values()) == [2, 2]
    # The old worker is told to close the moved lanes' MediaPipe instances.
    assert sorted(seat for w, seat in actions.end if w == W1) == sorted(d.workers[W2].seats)


def test_remove_stream_tells_its_workers():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", HOLISTIC)
    ends = d.remove_stream("a").end
    assert sorted(seat for _, seat in ends) == [("a", "face", 0), ("a", "hands", 0), ("a", "pose", 0)]
    assert "a" not in d.streams and not any(w.seats for w in d.workers.values())


def test_errors_and_latency_are_counted():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.add_stream("a")
    f1 = d.submit(frame("a", 1), now=0).dispatch[0][1]
    d.worker_done(W1, "a", "face", 1, 0, 0, "decode_failed", 0, latency_ms=12.0)
    d.submit(frame("a", 2), now=0)
    d.worker_done(W1, "a", "face", 2, 0, 0, None, 0, latency_ms=8.0)
    stats = d.streams["a"].lanes["face"].stats
    assert f1.meta.seq == 1 and (stats.done, stats.errors, stats.mean_latency_ms) == (2, 1, 10.0)


def test_without_affinity_any_idle_worker_takes_frames():
    d = Dispatcher(affinity=False)
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a")
    first = d.submit(frame("a", 1), now=0).dispatch
    second = d.submit(frame("a", 2), now=0).dispatch
    assert {first[0][0], second[0][0]} == {W1, W2}


def test_prefetch_keeps_a_second_frame_at_the_worker():
    d = Dispatcher(prefetch=2)
    d.worker_ready(W1, now=0)
    d.add_stream("a")
    first = d.submit(frame("a", 1), now=0).dispatch[0][1]
    assert [f.meta.seq for _, f in d.submit(frame("a", 2), now=0).dispatch] == [2]  # sent at once
    assert d.submit(frame("a", 3), now=0).dispatch == []  # two in flight: it waits here
    assert d.submit(frame("a", 4), now=0).dispatch == []
    assert d.streams["a"].lanes["face"].stats.dropped == 1
    assert [f.meta.seq for _, f in done(d, W1, first)[1].dispatch] == [4]


def test_prefetched_frames_are_all_counted_lost_with_their_worker():
    d = Dispatcher(prefetch=2)
    d.worker_ready(W1, now=0)
    d.add_stream("a")
    d.submit(frame("a", 1), now=0)
    d.submit(frame("a", 2), now=0)
    actions = d.worker_gone(W1, now=0)
    assert [r.seq for r in actions.lost] == [1, 2] and d.streams["a"].lanes["face"].stats.lost == 2


def test_ready_from_a_busy_worker_counts_its_frame_lost():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.add_stream("a")
    d.submit(frame("a", 1), now=0)
    assert [r.seq for r in d.worker_ready(W1, now=1).lost] == [1]  # it reconnected mid-frame


def test_silent_worker_declared_dead_and_lane_moves():
    d = Dispatcher(worker_timeout=1.0)
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a")
    owner = holder(d, "a", "face")
    other = W2 if owner == W1 else W1
    d.submit(frame("a", 1), now=0)  # in flight on owner
    d.worker_seen(other, now=0.9)
    d.submit(frame("a", 2), now=0.9)
    actions = d.expire(now=1.5)
    assert [w for w, _, _ in actions.dead] == [owner]
    assert [r.seq for r in actions.lost] == [1]
    assert sent(actions) == [(other, "a", "face", 2)]


# ---------------------------------------------------------------- lanes


def test_a_frame_becomes_one_pending_frame_per_lane():
    d = Dispatcher()
    d.add_stream("a", HOLISTIC, session=7)
    d.submit(frame("a", 1), now=0)
    for track in HOLISTIC:
        pending = d.streams["a"].lanes[track].pending
        assert (pending.meta.track, pending.meta.seq, pending.meta.session) == (track, 1, 7)


def test_lanes_of_one_stream_run_on_different_workers_at_once():
    d = Dispatcher()
    for w in (W1, W2, W3):
        d.worker_ready(w, now=0)
    d.add_stream("a", HOLISTIC)
    actions = d.submit(frame("a", 1), now=0)
    assert sorted(track for _, _, track, _ in sent(actions)) == sorted(HOLISTIC)
    assert len({w for w, *_ in sent(actions)}) == 3


def test_two_workers_put_the_slowest_lane_alone():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", HOLISTIC)
    pose_worker = holder(d, "a", "pose")
    assert d.workers[pose_worker].seats == {("a", "pose", 0)}  # face and hands share the other


def test_two_holistic_cameras_on_two_workers_split_the_load_evenly():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", HOLISTIC)
    d.add_stream("b", HOLISTIC)
    loads = sorted(d.load_ms(w) for w in d.workers.values())
    assert loads[1] - loads[0] < FACE_PRIOR_MS, loads


def answer_all(d: Dispatcher, actions, now: float, busy_ms: dict[str, float], error: str | None = None):
    """Answer every dispatched frame, and those its answers dispatch, with these busy times."""
    queue = list(actions.dispatch)
    while queue:
        worker, f = queue.pop(0)
        m = f.meta
        _, more = d.worker_done(
            worker, m.stream, m.track, m.seq, m.session, m.replica, error, now, busy_ms=busy_ms[m.track]
        )
        queue += more.dispatch


def feed(d: Dispatcher, stream: str, frames: range, busy_ms: dict[str, float], error: str | None = None):
    for seq in frames:
        answer_all(d, d.submit(frame(stream, seq), now=seq / 30), seq / 30, busy_ms, error)


HANDS_SLOWEST = {"face": 15.0, "pose": 26.0, "hands": 35.0}  # measured on the gesture video here


def tick(d: Dispatcher, now: float):
    """Ingest's periodic check, with every worker heartbeating."""
    for identity in list(d.workers):
        d.worker_seen(identity, now)
    return d.expire(now)


def test_learned_costs_move_a_lane_where_the_load_evens_out():
    """The priors put pose alone and face with hands; where hands cost the most, face moves to pose."""
    d = Dispatcher(rebalance_every=2.0)
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", HOLISTIC)
    pose_worker = holder(d, "a", "pose")
    hands_worker = holder(d, "a", "hands")
    assert holder(d, "a", "face") == hands_worker  # the priors (pose 2.2, hands 1.8 x face)
    feed(d, "a", range(1, 31), HANDS_SLOWEST)
    lanes = d.streams["a"].lanes
    assert {t: round(lanes[t].cost_ms) for t in HOLISTIC} == {"face": 15, "pose": 26, "hands": 35}
    actions = tick(d, 2.0)
    assert holder(d, "a", "face") == pose_worker and d.moves == 1
    assert actions.end[-1] == (hands_worker, ("a", "face", 0))  # its old instance is closed (ingest logs it)
    assert d.workers[hands_worker].seats == {("a", "hands", 0)}
    feed(d, "a", range(31, 91), HANDS_SLOWEST)
    for t in (4.0, 6.0, 8.0):
        tick(d, t)
    assert d.moves == 1  # settled: 35 vs 41 ms is as even as it gets


def test_nothing_moves_when_the_priors_were_right():
    d = Dispatcher(rebalance_every=2.0)
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", HOLISTIC)
    before = {t: holder(d, "a", t) for t in HOLISTIC}
    feed(d, "a", range(1, 31), {"face": 21.6, "pose": 47.0, "hands": 38.0})  # as first measured
    tick(d, 2.0)
    assert {t: holder(d, "a", t) for t in HOLISTIC} == before and d.moves == 0


def test_failed_frames_and_absurd_claims_are_no_cost_samples():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.add_stream("a")
    feed(d, "a", range(1, 5), {"face": 5.0}, error="corrupt_image")
    feed(d, "a", range(5, 9), {"face": 1e9})
    feed(d, "a", range(9, 13), {"face": -3.0})
    assert d.streams["a"].lanes["face"].cost_ms is None
    assert d.tracker_cost_ms["face"] == FACE_PRIOR_MS
    feed(d, "a", range(13, 14), {"face": 12.0})
    assert d.streams["a"].lanes["face"].cost_ms == 12.0


def test_fast_lane_is_not_held_back_by_a_slow_one():
    """Face answers keep getting the newest frame while pose is still busy with frame 1."""
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", ("face", "pose"))
    out = {f.meta.track: (w, f) for w, f in d.submit(frame("a", 1), now=0).dispatch}
    face_worker, face_frame = out["face"]
    for seq in range(2, 6):
        d.submit(frame("a", seq), now=seq)
        _, actions = done(d, face_worker, face_frame, now=seq)
        ((w, face_frame),) = actions.dispatch
        assert (w, face_frame.meta.track, face_frame.meta.seq) == (face_worker, "face", seq)
    assert d.streams["a"].lanes["pose"].stats.done == 0  # pose still on frame 1


def test_lane_keeps_its_worker():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", HOLISTIC)
    owners = {t: holder(d, "a", t) for t in HOLISTIC}
    for seq in range(1, 20):
        for worker, f in d.submit(frame("a", seq), now=seq).dispatch:
            assert worker == owners[f.meta.track]
            done(d, worker, f, now=seq)
    assert {t: holder(d, "a", t) for t in HOLISTIC} == owners


def test_a_reconnecting_camera_keeps_its_lanes_and_workers():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", HOLISTIC, session=1)
    owners = {t: holder(d, "a", t) for t in HOLISTIC}
    actions = d.add_stream("a", HOLISTIC, session=2)
    assert actions.end == [] and {t: holder(d, "a", t) for t in HOLISTIC} == owners
    d.submit(frame("a", 1), now=0)
    assert {lane.pending.meta.session for lane in d.streams["a"].lanes.values() if lane.pending is not None} <= {2}


def test_changing_tracks_ends_only_the_lanes_that_go():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.add_stream("a", HOLISTIC)
    actions = d.add_stream("a", ("face",))
    assert [seat for _, seat in actions.end] in (
        [("a", "pose", 0), ("a", "hands", 0)],
        [("a", "hands", 0), ("a", "pose", 0)],
    )
    assert list(d.streams["a"].lanes) == ["face"]


# ---------------------------------------------------------------- capabilities


def test_workers_get_only_lanes_of_trackers_they_run():
    d = Dispatcher()
    d.worker_ready(W1, now=0, trackers=("pose",))
    d.worker_ready(W2, now=0, trackers=("face", "hands"))
    d.add_stream("a", HOLISTIC)
    assert holder(d, "a", "pose") == W1
    assert holder(d, "a", "face") == W2 and holder(d, "a", "hands") == W2


def test_a_lane_no_worker_can_run_waits_for_one():
    d = Dispatcher()
    d.worker_ready(W1, now=0, trackers=("face",))
    d.add_stream("a", ("face", "pose"))
    assert [t for *_, t, _ in sent(d.submit(frame("a", 1), now=0))] == ["face"]
    actions = d.worker_ready(W2, now=1, trackers=("pose",))
    assert sent(actions) == [(W2, "a", "pose", 1)]


# ---------------------------------------------------------------- fairness


def simulate(
    d: Dispatcher,
    streams: list[str],
    fps: float,
    service_s: dict[bytes, float],
    seconds: float,
    phases: list[float],
    jitter: float = 0.0,
    seed: int = 1,
) -> Counter:
    """Cameras at ``fps`` starting at ``phases`` (s), workers taking ``service_s`` per frame
    (+- ``jitter``, a fraction) and 1 ms to hear back; returns the frames done per stream.
    A discrete-event simulation on a fake clock: deterministic for a seed."""
    rng, order = random.Random(seed), itertools.count()
    events = []  # (time, order, kind, payload), kept sorted

    def push(at, kind, payload):
        bisect.insort(events, (at, next(order), kind, payload))

    def start(actions, now):
        for worker, f in actions.dispatch:
            push(now + 0.001 + service_s[worker] * (1 + rng.uniform(-jitter, jitter)), "done", (worker, f))

    for stream, phase in zip(streams, phases):
        for n in range(int(seconds * fps)):
            push(phase + n / fps, "frame", (stream, n + 1))
    delivered = Counter()
    while events:
        now, _, kind, payload = events.pop(0)
        if kind == "frame":
            start(d.submit(frame(payload[0], payload[1], t=now * 1000 + 1), now), now)
        else:
            worker, f = payload
            delivered[f.meta.stream] += 1
            start(done(d, worker, f, now)[1], now)
    return delivered


# Independent cameras run at arbitrary phases; clustered ones are what starved streams before.
PHASES = ([0.0, 0.001, 0.002, 0.003], [0.0, 0.0083, 0.0166, 0.025], [0.0, 0.02, 0.004, 0.03])


@pytest.mark.parametrize("affinity", [True, False])
@pytest.mark.parametrize("phases", PHASES)
@pytest.mark.parametrize("jitter", [0.0, 0.3])
def test_four_cameras_on_two_saturated_workers_get_equal_service(affinity, phases, jitter):
    """4 x 30 fps on 2 workers of ~80 fps together gave 280, 287, 48, 53.
    Serving the oldest pending frame first gives these cases 0.12 to 0.68; least recently
    served first gives each stream its share."""
    d = Dispatcher(affinity=affinity)
    workers = {W1: 0.025, W2: 0.025}
    for w in workers:
        d.worker_ready(w, now=0)
    streams = ["s1", "s2", "s3", "s4"]
    for s in streams:
        d.add_stream(s)
    delivered = simulate(d, streams, 30.0, workers, seconds=10, phases=phases, jitter=jitter)
    assert min(delivered.values()) / max(delivered.values()) >= 0.9, delivered


def test_least_recently_served_lane_goes_first_not_the_oldest_frame():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.add_stream("a")
    d.add_stream("b")
    first = d.submit(frame("a", 1, t=10), now=0).dispatch[0][1]  # W1 busy with a
    d.submit(frame("b", 1, t=12), now=0)
    d.submit(frame("a", 2, t=11), now=0)  # a's frame is older than b's, but a was just served
    assert [f.meta.stream for _, f in done(d, W1, first)[1].dispatch] == ["b"]


def test_holistic_lanes_on_one_worker_take_turns():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.add_stream("a", HOLISTIC)
    delivered = Counter()
    pending = d.submit(frame("a", 1), now=0).dispatch
    for seq in range(2, 61):
        d.submit(frame("a", seq), now=seq)
        ((worker, f),) = pending
        delivered[f.meta.track] += 1
        pending = done(d, worker, f, now=seq)[1].dispatch
    assert max(delivered.values()) - min(delivered.values()) <= 1, delivered


# ---------------------------------------------------------------- replicas


def test_a_lane_with_two_replicas_feeds_both_workers_alternately():
    d = Dispatcher(replicas=parse_replicas("pose=2"))
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", ("pose",))
    assert {holder(d, "a", "pose", 0), holder(d, "a", "pose", 1)} == {W1, W2}
    first = d.submit(frame("a", 1), now=0).dispatch
    second = d.submit(frame("a", 2), now=0).dispatch
    assert {w for w, _ in first + second} == {W1, W2}
    assert {f.meta.replica for _, f in first + second} == {0, 1}  # one MediaPipe instance each


def test_replicas_parse_and_refuse_nonsense():
    assert parse_replicas("pose=2, hands=3") == {"pose": 2, "hands": 3}
    assert parse_replicas("") == {}
    for bad in ("pose", "pose=0", "tail=2", "pose=x"):
        with pytest.raises(ValueError):
            parse_replicas(bad)


# ---------------------------------------------------------------- results only from the worker that holds the frame


def test_done_is_accepted_only_from_the_worker_holding_that_frame():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a")
    f = d.submit(frame("a", 1), now=0).dispatch[0][1]
    owner = holder(d, "a", "face")
    other = W2 if owner == W1 else W1
    m = f.meta
    assert not d.worker_done(other, "a", "face", 1, m.session, 0, None, 0)[0]  # not its frame
    assert not d.worker_done(owner, "a", "face", 2, m.session, 0, None, 0)[0]  # never sent
    assert not d.worker_done(owner, "a", "pose", 1, m.session, 0, None, 0)[0]  # another lane
    assert not d.worker_done(owner, "a", "face", 1, m.session + 1, 0, None, 0)[0]  # another session
    assert done(d, owner, f)[0]
    assert not done(d, owner, f)[0]  # once only


def test_an_unknown_worker_is_asked_to_rejoin():
    d = Dispatcher()
    accepted, actions = d.worker_done(W1, "a", "face", 1, 0, 0, None, 0)
    assert not accepted and actions.rejoin == [W1]


# ---------------------------------------------------------------- per-frame deadline


def test_a_worker_that_never_answers_loses_the_frame_and_the_lane_moves_on():
    d = Dispatcher(worker_timeout=100, frame_timeout=2.0, ban_seconds=30)
    d.worker_ready(W1, now=0)
    d.add_stream("a")
    d.submit(frame("a", 1), now=0)  # W1 takes it and never answers (but heartbeats)
    d.worker_ready(W2, now=0.5)
    d.submit(frame("a", 2), now=1.0)  # waits: the lane is W1's
    for t in (1.0, 1.5, 1.9):
        d.worker_seen(W1, t)
        assert d.expire(now=t).dead == []
    d.worker_seen(W1, 2.1)
    actions = d.expire(now=2.1)
    assert [w for w, _, _ in actions.dead] == [W1] and [r.seq for r in actions.lost] == [1]
    assert sent(actions) == [(W2, "a", "face", 2)]
    # it cannot come straight back for more frames, nor ask to be asked
    assert d.worker_ready(W1, now=3).dispatch == [] and W1 not in d.workers
    accepted, actions = d.worker_done(W1, "a", "face", 1, 0, 0, None, 3)
    assert not accepted and actions.rejoin == []
    d.worker_ready(W1, now=40.0)  # after the ban
    assert W1 in d.workers


# ---------------------------------------------------------------- quarantine


def test_a_stream_whose_frames_keep_costing_workers_is_quarantined():
    d = Dispatcher(quarantine_after=3)
    d.worker_ready(W1, now=0)
    d.add_stream("bomb")
    d.add_stream("fine")
    for seq in (1, 2):
        f = d.submit(frame("bomb", seq), now=seq).dispatch[0][1]
        assert done(d, W1, f, seq, error="decode_timeout")[1].quarantine == []
    f = d.submit(frame("bomb", 3), now=3).dispatch[0][1]
    assert done(d, W1, f, 3, error="decode_timeout")[1].quarantine == ["bomb"]


def test_a_frame_that_comes_back_fine_forgives():
    d = Dispatcher(quarantine_after=3)
    d.worker_ready(W1, now=0)
    d.add_stream("a")
    for seq, error in enumerate(
        [
            "decode_timeout",
            "decode_timeout",
            None,
            "decode_timeout",
            "decode_failed",
            "decode_timeout",
            "decode_timeout",
        ],
        start=1,
    ):
        f = d.submit(frame("a", seq), now=seq).dispatch[0][1]
        assert done(d, W1, f, seq, error=error)[1].quarantine == []


def test_frames_lost_with_dead_workers_count_towards_quarantine():
    d = Dispatcher(quarantine_after=2)
    d.add_stream("a")
    d.worker_ready(W1, now=0)
    d.submit(frame("a", 1), now=0)
    assert d.worker_gone(W1, now=1).quarantine == []
    d.worker_ready(W2, now=1)
    d.submit(frame("a", 2), now=1)
    assert d.worker_gone(W2, now=2).quarantine == ["a"]


def test_frames_lost_with_a_worker_that_left_on_purpose_do_not_count_towards_quarantine():
    d = Dispatcher(quarantine_after=1)
    for worker in (W1, W2):
        d.worker_ready(worker, now=0)
    d.add_stream("a", HOLISTIC)
    d.submit(frame("a", 1), now=0)  # each lane's frame is in flight
    assert d.worker_gone(W1, now=0.1, costly=False).quarantine == []  # a BYE
    assert d.worker_ready(W2, now=0.2).quarantine == []  # a known worker's READY again: it reconnected
    assert not d.streams["a"].quarantined


# ---------------------------------------------------------------- fairness by cost


def test_a_cheap_camera_is_not_crowded_out_by_costly_ones():
    """One worker, three costly cameras always waiting (100 ms a frame: 4K, say) and a cheap one
    at 5 fps (10 ms a frame). Taking turns (least recently served) served the cheap one every
    fourth frame, 310 ms apart: 3 of its 5 fps. By cost it goes first whenever it waits: it
    needs far less than its share of the worker, so it gets every frame; the costly ones share
    the rest evenly."""
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    cost_ms = {"cheap": 10.0, "c1": 100.0, "c2": 100.0, "c3": 100.0}
    for stream in cost_ms:
        d.add_stream(stream)
    delivered, seq = Counter(), itertools.count(1)
    working = []  # [(frame, done at)]: what W1 works on (prefetch 1: one at a time)

    def start(actions, now):
        working.extend((f, now + cost_ms[f.meta.stream] / 1000) for _, f in actions.dispatch)

    for tick in range(1000):  # 10 s in steps of 10 ms
        now = tick / 100
        if working and now >= working[0][1]:
            f, _ = working.pop(0)
            delivered[f.meta.stream] += 1
            start(
                d.worker_done(W1, f.meta.stream, "face", f.meta.seq, 0, 0, None, now, busy_ms=cost_ms[f.meta.stream])[
                    1
                ],
                now,
            )
        if tick % 20 == 0:
            start(d.submit(frame("cheap", next(seq), t=now * 1000 + 1), now), now)
        for stream in ("c1", "c2", "c3"):  # as fast as they can
            start(d.submit(frame(stream, next(seq), t=now * 1000 + 1), now), now)
    costly = [delivered[s] for s in ("c1", "c2", "c3")]
    assert delivered["cheap"] >= 0.95 * 50, delivered
    assert min(costly) / max(costly) >= 0.9, delivered


# ---------------------------------------------------------------- capacity and warming


def face_capacity(faces: int) -> Capacity:
    return Capacity(memory_mb=25.0 * faces + 1, instance_mb={"face": 25.0, "pose": 75.0, "hands": 40.0}, instances=64)


def test_a_worker_gets_no_more_lanes_than_fit_and_a_camera_that_does_not_fit_is_refused():
    d = Dispatcher()
    d.worker_ready(W1, now=0, capacity=face_capacity(3))
    for stream in ("a", "b", "c"):
        assert d.has_room(stream, ("face",))
        d.add_stream(stream)
    assert not d.has_room("d", ("face",)) and not d.has_room("d", ("pose",))
    assert d.has_room("a", ("face",))  # a camera reconnecting keeps its lanes: no room needed
    d.remove_stream("b")
    assert d.has_room("d", ("face",))
    assert not d.has_room("d", ("face", "pose"))  # 2 faces + a face + a pose: over


def test_lanes_without_room_wait_for_it_then_are_seated():
    d = Dispatcher()
    d.worker_ready(W1, now=0, capacity=face_capacity(2))
    d.worker_ready(W2, now=0, capacity=face_capacity(2))
    for stream in "abcd":
        d.add_stream(stream)
    assert d.unseated() == 0
    d.worker_gone(W2, now=1)
    assert d.unseated() == 2 and len(d.workers[W1].seats) == 2  # W1 is full: two lanes wait
    waiting = [s for s in "abcd" if holder(d, s, "face") is None]
    assert sent(d.submit(frame(waiting[0], 1), now=1)) == []  # its frame waits (a newer one replaces it)
    actions = d.worker_ready(W3, now=2, capacity=face_capacity(2))
    assert d.unseated() == 0 and sent(actions) == [(W3, waiting[0], "face", 1)]


def test_a_lane_being_warmed_gets_its_frame_back_and_nothing_more_until_built():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.add_stream("new")
    d.add_stream("old")
    ((_, first),) = d.submit(frame("new", 1), now=0).dispatch
    accepted, actions = done(d, W1, first, now=0.01, error=WARMING_UP)
    assert accepted and sent(actions) == []  # sent back: the frame waits on its lane again
    lane = d.streams["new"].lanes["face"]
    assert lane.pending.meta.seq == 1 and lane.stats.warming == 1 and lane.stats.dispatched == 0
    ((_, old),) = d.submit(frame("old", 1), now=0.02).dispatch  # the worker's other lanes go on
    assert sent(done(d, W1, old, now=0.03)[1]) == []  # free again, but "new" is still warming
    assert sent(d.worker_built(W1, ("new", "face", 0), now=0.1)) == [(W1, "new", "face", 1)]
