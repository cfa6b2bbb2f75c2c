"""Pure tests: schema documents, payload validation, the SQLite store-and-forward queue."""

from __future__ import annotations

import json
from pathlib import Path

from cloud_helpers import STATE

from roadedge.cloud import schema
from roadedge.cloud.layout import DeviceIdentity, parse_uplink_topic, valid_id
from roadedge.cloud.queue import StoreAndForwardQueue

ROOT = Path(__file__).resolve().parents[2]


def test_schema_files_are_current() -> None:
    folder = ROOT / "config" / "cloud" / "schema"
    for name, doc in schema.all_documents().items():
        path = folder / name
        assert path.exists(), f"{path} missing: python -m roadedge.cloud.schema config/cloud/schema"
        assert path.read_text() == schema.render(doc), f"{path} is stale"


def test_uplink_validation() -> None:
    assert schema.check_uplink_data("state", STATE) is None
    bad = {**STATE, "speed": 99.0}
    assert "speed" in (schema.check_uplink_data("state", bad) or "")
    assert schema.check_uplink_data("state", {**STATE, "mode": "flying"}) is not None
    assert schema.check_uplink_data("state", {k: v for k, v in STATE.items() if k != "pose"}) is not None
    assert schema.check_uplink_data("state", {**STATE, "extra": 1}) is not None
    assert schema.check_uplink_data("nope", {}) is not None
    ok_ack = {"command_id": None, "command": None, "status": "rejected", "reason": "x", "digest": "0" * 16}
    assert schema.check_uplink_data("ack", ok_ack) is None


def test_layout() -> None:
    ident = DeviceIdentity("city", "north", "sw-0001")
    assert ident.up("state") == "roadedge/v1/city/north/sw-0001/up/state"
    assert parse_uplink_topic(ident.up("state")) == ("city", "north", "sw-0001", "state")
    assert ident.command_of("roadedge/v1/city/north/sw-0001/down/remote_stop") == "remote_stop"
    assert ident.command_of("roadedge/v1/city/north/sw-0002/down/remote_stop") is None
    for bad in ("", "a/b", "a+", "#", "A", "x" * 65):
        assert not valid_id(bad)
    for profile_bad in ("signal",):
        try:
            ident.up(profile_bad)
        except ValueError:
            pass
        else:
            raise AssertionError("a vehicle has no signal stream")


def test_queue_order_ack_and_persistence(tmp_path: Path) -> None:
    q = StoreAndForwardQueue(tmp_path / "q.db", capacity=10)
    seqs = [q.put("task", float(i), json.dumps({"i": i}), droppable=False) for i in range(5)]
    assert seqs == sorted(seqs) and len(q) == 5
    assert [e.seq for e in q.peek(0, 3)] == seqs[:3]
    assert [e.seq for e in q.peek(seqs[1], 10)] == seqs[2:]
    q.ack(seqs[0])
    epoch = q.epoch
    q.close()
    q2 = StoreAndForwardQueue(tmp_path / "q.db", capacity=10)
    assert q2.epoch == epoch and len(q2) == 4
    assert [e.seq for e in q2.peek(0, 10)] == seqs[1:]
    for s in seqs[1:]:
        q2.ack(s)
    assert len(q2) == 0
    # a seq is never reused, even when the queue was empty and reopened
    assert q2.put("task", 0.0, "{}", droppable=False) > seqs[-1]


def test_queue_bound_drops_droppable_first(tmp_path: Path) -> None:
    q = StoreAndForwardQueue(tmp_path / "q.db", capacity=4)
    task = [q.put("task", 0.0, "{}", droppable=False) for _ in range(2)]
    state = [q.put("state", 0.0, "{}", droppable=True) for _ in range(2)]
    newest = q.put("state", 0.0, "{}", droppable=True)
    assert len(q) == 4 and q.dropped["state"] == 1
    assert [e.seq for e in q.peek(0, 10)] == [*task, state[1], newest]
    for _ in range(4):
        q.put("task", 0.0, "{}", droppable=False)
    assert len(q) == 4 and q.dropped["state"] == 3 and q.dropped["task"] == 2
