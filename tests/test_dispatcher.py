"""The ingest's worker bookkeeping, driven with a fake clock and no sockets."""

from __future__ import annotations

from live2d_pose.ingest.dispatcher import Dispatcher, PendingFrame
from live2d_pose.wire import FrameMeta

W1, W2, W3 = b"w1", b"w2", b"w3"


def frame(stream: str, seq: int, t: float = 0.0) -> PendingFrame:
    return PendingFrame(FrameMeta(stream, seq, 640, 480, ts_ingest=t or seq), b"jpeg")


def test_frame_waits_for_ready_then_goes_out():
    d = Dispatcher()
    assert d.submit(frame("a", 1), now=0).dispatch == []
    actions = d.worker_ready(W1, now=0)
    assert [(w, f.meta.seq) for w, f in actions.dispatch] == [(W1, 1)]


def test_only_newest_frame_is_kept_and_drops_counted():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.submit(frame("a", 1), now=0)  # goes out at once: worker busy now
    for seq in (2, 3, 4):
        assert d.submit(frame("a", seq), now=0).dispatch == []
    actions = d.worker_done(W1, "a", 1, ok=True, now=0)
    assert [f.meta.seq for _, f in actions.dispatch] == [4]
    assert d.streams["a"].stats.dropped == 2
    assert d.streams["a"].stats.received == 4


def test_stream_sticks_to_its_worker():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", now=0)
    owner = d.streams["a"].worker
    for seq in range(1, 6):
        actions = d.submit(frame("a", seq), now=0)
        assert [w for w, _ in actions.dispatch] == [owner]
        d.worker_done(owner, "a", seq, ok=True, now=0)


def test_streams_spread_over_workers():
    d = Dispatcher()
    for w in (W1, W2):
        d.worker_ready(w, now=0)
    for name in "abcd":
        d.add_stream(name, now=0)
    counts = sorted(len(w.streams) for w in d.workers.values())
    assert counts == [2, 2]


def test_new_worker_takes_streams_over():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    for name in "abcd":
        d.add_stream(name, now=0)
    actions = d.worker_ready(W2, now=0)
    assert len(d.workers[W2].streams) == 2
    # The old worker is told to close the moved streams' MediaPipe instances.
    assert sorted(s for w, s in actions.end if w == W1) == sorted(d.workers[W2].streams)


def test_silent_worker_declared_dead_and_stream_moves():
    d = Dispatcher(worker_timeout=1.0)
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", now=0)
    owner = d.streams["a"].worker
    other = W2 if owner == W1 else W1
    d.submit(frame("a", 1), now=0)  # in flight on owner
    d.worker_seen(other, now=0.9)
    d.submit(frame("a", 2), now=0.9)
    actions = d.expire(now=1.5)
    assert actions.dead == [owner]
    assert actions.lost == [("a", 1)]
    assert [(w, f.meta.seq) for w, f in actions.dispatch] == [(other, 2)]
    assert d.streams["a"].stats.lost == 1


def test_bye_moves_streams_without_waiting():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    d.add_stream("a", now=0)
    owner = d.streams["a"].worker
    d.worker_gone(owner, now=0)
    assert d.streams["a"].worker not in (None, owner)


def test_no_workers_keeps_one_frame_until_one_joins():
    d = Dispatcher()
    for seq in range(1, 10):
        d.submit(frame("a", seq), now=0)
    actions = d.worker_ready(W1, now=5)
    assert [f.meta.seq for _, f in actions.dispatch] == [9]


def test_worker_serving_two_streams_takes_the_one_waiting_longest():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.submit(frame("a", 1, t=10), now=0)  # W1 busy with a/1
    d.submit(frame("b", 1, t=12), now=0)
    d.submit(frame("a", 2, t=15), now=0)
    actions = d.worker_done(W1, "a", 1, ok=True, now=0)
    assert [f.meta.stream for _, f in actions.dispatch] == ["b"]


def test_without_affinity_any_idle_worker_takes_frames():
    d = Dispatcher(affinity=False)
    d.worker_ready(W1, now=0)
    d.worker_ready(W2, now=0)
    first = d.submit(frame("a", 1), now=0).dispatch
    second = d.submit(frame("a", 2), now=0).dispatch
    assert {first[0][0], second[0][0]} == {W1, W2}


def test_remove_stream_tells_its_worker():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.add_stream("a", now=0)
    assert d.remove_stream("a").end == [(W1, "a")]
    assert "a" not in d.streams and not d.workers[W1].streams


def test_ready_from_a_busy_worker_counts_its_frame_lost():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.submit(frame("a", 1), now=0)
    actions = d.worker_ready(W1, now=1)  # it reconnected mid-frame
    assert actions.lost == [("a", 1)]


def test_errors_and_latency_are_counted():
    d = Dispatcher()
    d.worker_ready(W1, now=0)
    d.submit(frame("a", 1), now=0)
    d.worker_done(W1, "a", 1, ok=False, now=0, latency_ms=12.0)
    d.submit(frame("a", 2), now=0)
    d.worker_done(W1, "a", 2, ok=True, now=0, latency_ms=8.0)
    stats = d.streams["a"].stats
    assert (stats.done, stats.errors, stats.mean_latency_ms) == (2, 1, 10.0)


def test_prefetch_keeps_a_second_frame_at_the_worker():
    d = Dispatcher(prefetch=2)
    d.worker_ready(W1, now=0)
    assert [f.meta.seq for _, f in d.submit(frame("a", 1), now=0).dispatch] == [1]
    assert [f.meta.seq for _, f in d.submit(frame("a", 2), now=0).dispatch] == [2]  # sent at once
    assert d.submit(frame("a", 3), now=0).dispatch == []  # two in flight: it waits here
    assert d.submit(frame("a", 4), now=0).dispatch == []
    assert d.streams["a"].stats.dropped == 1  # 3 replaced by 4, still only the newest waits
    actions = d.worker_done(W1, "a", 1, ok=True, now=0)
    assert [f.meta.seq for _, f in actions.dispatch] == [4]


def test_prefetched_frames_are_all_counted_lost_with_their_worker():
    d = Dispatcher(prefetch=2)
    d.worker_ready(W1, now=0)
    d.submit(frame("a", 1), now=0)
    d.submit(frame("a", 2), now=0)
    actions = d.worker_gone(W1, now=0)
    assert actions.lost == [("a", 1), ("a", 2)] and d.streams["a"].stats.lost == 2
