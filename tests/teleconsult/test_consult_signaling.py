"""The signalling protocol without I/O: two sessions joined by a fake channel, as a conversation."""

from __future__ import annotations

import json
from typing import Any

from teleconsult.consults.lifecycle import Event
from teleconsult.consults.signaling import (Action, Chat, Close, Lifecycle, SignalingSession, ToChannel, ToClient)


class Channel:
    """The consult's bus channel: every published message reaches every joined session, the sender too."""

    def __init__(self) -> None:
        self.sessions: list[SignalingSession] = []
        self.client: dict[str, list[dict[str, Any]]] = {}
        self.events: list[tuple[str, Event]] = []
        self.closed: dict[str, int] = {}
        self.chats: list[str] = []

    def join(self, role: str, conn: str) -> SignalingSession:
        session = SignalingSession(7, role, conn)
        self.sessions.append(session)
        self.client[conn] = []
        self.run(session, session.start())
        return session

    def run(self, session: SignalingSession, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, ToClient):
                self.client[session.conn].append(action.message)
            elif isinstance(action, ToChannel):
                self.publish(action.message)
            elif isinstance(action, Lifecycle):
                self.events.append((session.role, action.event))
            elif isinstance(action, Close):
                self.closed[session.conn] = action.code
            elif isinstance(action, Chat):
                self.chats.append(action.text)

    def publish(self, message: dict[str, Any]) -> None:
        for session in list(self.sessions):
            self.run(session, session.receive_channel(json.loads(json.dumps(message))))

    def send(self, session: SignalingSession, message: dict[str, Any]) -> None:
        self.run(session, session.receive_client(json.dumps(message)))

    def leave(self, session: SignalingSession) -> None:
        self.sessions.remove(session)
        self.run(session, session.stop())

    def take(self, conn: str) -> list[dict[str, Any]]:
        out, self.client[conn] = self.client[conn], []
        return out


def test_offer_answer_and_ice_reach_only_the_other_party() -> None:
    ch = Channel()
    village = ch.join("village", "v1")
    assert ch.take("v1") == []  # nobody there yet
    county = ch.join("county", "c1")
    assert ch.take("v1") == [{"t": "peer", "present": True, "role": "county", "rejoined": False, "you_offer": True}]
    assert ch.take("c1") == [{"t": "peer", "present": True, "role": "village", "rejoined": False, "you_offer": False}]
    assert ch.events == [("village", Event.JOIN), ("county", Event.JOIN)]

    ch.send(village, {"t": "offer", "sdp": "v=0 offer", "gen": 1})
    assert ch.take("c1") == [{"t": "offer", "from": "village", "gen": 1, "sdp": "v=0 offer"}]
    assert ch.take("v1") == []
    ch.send(county, {"t": "answer", "sdp": "v=0 answer", "gen": 1})
    assert ch.take("v1") == [{"t": "answer", "from": "county", "gen": 1, "sdp": "v=0 answer"}]
    cand = {"candidate": "candidate:1 1 udp 1 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0,
            "extra": "dropped"}
    ch.send(county, {"t": "ice", "candidate": cand, "gen": 1})
    got = ch.take("v1")
    assert got[0]["candidate"] == {k: v for k, v in cand.items() if k != "extra"}
    ch.send(village, {"t": "ice", "candidate": None, "gen": 1})
    assert ch.take("c1") == [{"t": "ice", "from": "village", "gen": 1, "candidate": None}]
    ch.send(county, {"t": "connected"})
    assert ch.events[-2:] == [("village", Event.OFFER), ("county", Event.CONNECTED)]


def test_roles_are_kept_offers_only_from_the_village_answers_only_from_the_county() -> None:
    ch = Channel()
    village, county = ch.join("village", "v1"), ch.join("county", "c1")
    ch.take("v1"), ch.take("c1")
    ch.send(county, {"t": "offer", "sdp": "x"})
    assert ch.take("c1")[0]["code"] == 4009 and ch.take("v1") == []
    ch.send(village, {"t": "answer", "sdp": "x"})
    assert ch.take("v1")[0]["code"] == 4009 and ch.take("c1") == []
    assert ch.closed == {}


def test_an_offer_before_the_peer_is_there_is_refused_without_closing() -> None:
    ch = Channel()
    village = ch.join("village", "v1")
    ch.send(village, {"t": "offer", "sdp": "x"})
    assert ch.take("v1")[0]["code"] == 4009
    ch.send(village, {"t": "ice", "candidate": None})  # trickling to nobody is dropped
    assert ch.take("v1") == [] and ch.closed == {}


def test_bad_messages_close_with_4000() -> None:
    for bad in ("not json", "[1, 2]", json.dumps({"t": 5}), json.dumps({"t": "teleport"}),
                json.dumps({"t": "offer", "sdp": 5}), json.dumps({"t": "offer", "sdp": "x" * 60_000})):
        ch = Channel()
        village, county = ch.join("village", "v1"), ch.join("county", "c1")
        ch.take("v1"), ch.take("c1")
        ch.run(village, village.receive_client(bad))
        assert ch.closed == {"v1": 4000}, bad
        assert ch.take("v1")[0]["t"] == "error"
        assert ch.take("c1") == []  # nothing of it reached the other party
    ch.send(county, {"t": "ice", "candidate": {"candidate": 5}})
    assert ch.closed["c1"] == 4000


def test_a_dropped_village_rejoins_and_the_stale_connection_gets_nothing() -> None:
    ch = Channel()
    village, county = ch.join("village", "v1"), ch.join("county", "c1")
    ch.send(village, {"t": "offer", "sdp": "o1", "gen": 1})
    ch.take("v1"), ch.take("c1")
    ch.leave(village)
    assert ch.take("c1") == [{"t": "peer", "present": False, "role": "village"}]
    assert ch.events[-1] == ("village", Event.DROP)
    # A late message addressed to the old connection (e.g. an answer in flight) is not delivered anywhere.
    ch.send(county, {"t": "answer", "sdp": "late", "gen": 1})
    assert ch.take("c1")[0]["code"] == 4009  # the county is told nobody is there
    village2 = ch.join("village", "v2")
    assert ch.take("v2") == [{"t": "peer", "present": True, "role": "county", "rejoined": False, "you_offer": True}]
    assert ch.take("c1") == [{"t": "peer", "present": True, "role": "village", "rejoined": True, "you_offer": False}]
    ch.send(village2, {"t": "offer", "sdp": "o2", "gen": 2})
    assert ch.take("c1") == [{"t": "offer", "from": "village", "gen": 2, "sdp": "o2"}]
    ch.send(county, {"t": "answer", "sdp": "a2", "gen": 2})
    assert ch.take("v2") == [{"t": "answer", "from": "county", "gen": 2, "sdp": "a2"}]
    assert ch.take("v1") == []


def test_a_second_socket_of_the_same_party_supersedes_the_first_without_a_drop() -> None:
    ch = Channel()
    old = ch.join("village", "v1")
    ch.join("county", "c1")
    ch.join("village", "v2")
    assert ch.closed == {"v1": 4012}
    ch.leave(old)
    assert ("village", Event.DROP) not in ch.events
    assert ch.take("c1")[-1]["present"] is True  # the county still sees the new village socket


def test_hangup_records_no_drop_and_the_end_closes_both() -> None:
    ch = Channel()
    village, county = ch.join("village", "v1"), ch.join("county", "c1")
    ch.send(county, {"t": "hangup", "reason": "done"})
    assert ch.events[-1] == ("county", Event.HANGUP)
    ch.publish({"t": "state", "state": "ended", "outcome": "completed", "from": "server", "conn": ""})
    assert ch.closed == {"v1": 1000, "c1": 1000}
    assert ch.take("v1")[-1] == {"t": "state", "state": "ended", "outcome": "completed"}
    ch.leave(county)
    ch.leave(village)
    assert ("county", Event.DROP) not in ch.events and ("village", Event.DROP) not in ch.events


def test_chat_is_stored_by_the_service_and_ping_answers() -> None:
    ch = Channel()
    village = ch.join("village", "v1")
    ch.send(village, {"t": "chat", "text": "ST elevation in V2-V4?"})
    ch.send(village, {"t": "chat", "text": ""})
    ch.send(village, {"t": "ping"})
    assert ch.chats == ["ST elevation in V2-V4?"]
    assert [m["t"] for m in ch.take("v1")] == ["error", "pong"]
