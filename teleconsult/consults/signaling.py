"""The signalling socket ``/ws/consult`` as a sans-I/O state machine (docs/consults.md).

One :class:`SignalingSession` per joined socket. The adapter feeds it the client's text
messages (:meth:`SignalingSession.receive_client`) and the consult channel's messages from
the bus (:meth:`SignalingSession.receive_channel`), and carries out the actions it
returns, in order: :class:`ToClient` (send JSON to this socket), :class:`ToChannel`
(publish on the consult's bus channel, which reaches the other party on any node),
:class:`Lifecycle` (a lifecycle event for the service), :class:`Chat` (store a chat line,
then announce it), :class:`Close` (close this socket). The session never awaits.

Roles: the requester's side is ``village`` (it sends offers), the acceptor's ``county``
(it answers). Every channel message carries the sender's role and connection id
(``conn``); relayed offers, answers and ICE candidates are addressed (``to``) to the
peer connection this session last saw join, so a socket that has been replaced never
receives, and never injects, signalling for a peer connection that no longer exists.

Calling order: ``s = SignalingSession(consult_id, role, conn)``; ``s.start()`` once the
socket is accepted; then ``receive_client``/``receive_channel`` as messages arrive;
``s.stop()`` when the socket is gone (returns the ``leave`` announcement and, unless the
party hung up, the ``drop`` lifecycle event).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from teleconsult.consults.lifecycle import Event

VILLAGE = "village"
COUNTY = "county"
SERVER = "server"
ROLES = (VILLAGE, COUNTY)
MAX_SDP_CHARS = 48_000
MAX_CANDIDATE_CHARS = 1_000
MAX_CHAT_CHARS = 2_000
MAX_REASON_CHARS = 200

# close codes (the same numbers as the ECG sockets, docs/protocol.md)
NORMAL = 1000
BAD_FRAME = 4000
UNAUTHENTICATED = 4001
FORBIDDEN = 4003
NOT_FOUND = 4004
BAD_STATE = 4009
SUPERSEDED = 4012


@dataclass(frozen=True, slots=True)
class ToClient:
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToChannel:
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Lifecycle:
    event: Event
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Chat:
    text: str


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


Action = ToClient | ToChannel | Lifecycle | Chat | Close


def error(code: int, reason: str, **extra: Any) -> dict[str, Any]:
    return {"t": "error", "code": code, "reason": reason, **extra}


@dataclass
class SignalingSession:
    consult_id: int
    role: str
    conn: str
    peer_conn: str | None = None
    hung_up: bool = False
    closed: bool = False  # no more messages are handled (an error, superseded, the consult ended)
    superseded: bool = False
    ended: bool = False
    stopped: bool = False
    offers: int = 0
    _seen_peer_conns: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")

    @property
    def peer_role(self) -> str:
        return COUNTY if self.role == VILLAGE else VILLAGE

    @property
    def offerer(self) -> bool:
        return self.role == VILLAGE

    def _out(self, t: str, **fields: Any) -> ToChannel:
        return ToChannel({"t": t, "from": self.role, "conn": self.conn, **fields})

    def start(self) -> list[Action]:
        """Announce this socket on the channel (the peer answers ``here``) and record the join."""
        return [self._out("join"), Lifecycle(Event.JOIN, f"{self.role} joined")]

    def stop(self) -> list[Action]:
        """The socket is gone: tell the peer; unless the party hung up, was superseded by a newer
        socket or the consult ended, the consult records a drop."""
        if self.stopped:
            return []
        self.stopped = self.closed = True
        actions: list[Action] = [self._out("leave")]
        if not (self.hung_up or self.superseded or self.ended):
            actions.append(Lifecycle(Event.DROP, f"{self.role} socket closed"))
        return actions

    # -- from the browser / agent ---------------------------------------------------------

    def receive_client(self, text: str) -> list[Action]:
        """One text message from this socket's client."""
        if self.closed:
            return []
        try:
            msg = json.loads(text)
        except ValueError:
            return self._fail(BAD_FRAME, "not JSON")
        if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
            return self._fail(BAD_FRAME, 'expected a JSON object with a string "t"')
        kind = msg["t"]
        handler = _CLIENT.get(kind)
        if handler is None:
            return self._fail(BAD_FRAME, f"unknown message type {kind[:40]!r}")
        return handler(self, msg)

    def _fail(self, code: int, reason: str) -> list[Action]:
        self.closed = True
        return [ToClient(error(code, reason)), Close(code, reason)]

    def _offer(self, msg: dict[str, Any]) -> list[Action]:
        if not self.offerer:
            return [ToClient(error(BAD_STATE, "only the village side sends offers; answer them"))]
        sdp = msg.get("sdp")
        if not isinstance(sdp, str) or not sdp or len(sdp) > MAX_SDP_CHARS:
            return self._fail(BAD_FRAME, f"offer needs an sdp string of at most {MAX_SDP_CHARS} characters")
        if self.peer_conn is None:
            return [ToClient(error(BAD_STATE, "the other party is not connected yet; wait for peer present"))]
        self.offers += 1
        return [self._out("offer", to=self.peer_conn, sdp=sdp, gen=_gen(msg)),
                Lifecycle(Event.OFFER, f"offer {self.offers} from {self.role}")]

    def _answer(self, msg: dict[str, Any]) -> list[Action]:
        if self.offerer:
            return [ToClient(error(BAD_STATE, "the village side sends offers, not answers"))]
        sdp = msg.get("sdp")
        if not isinstance(sdp, str) or not sdp or len(sdp) > MAX_SDP_CHARS:
            return self._fail(BAD_FRAME, f"answer needs an sdp string of at most {MAX_SDP_CHARS} characters")
        if self.peer_conn is None:
            return [ToClient(error(BAD_STATE, "the other party is not connected"))]
        return [self._out("answer", to=self.peer_conn, sdp=sdp, gen=_gen(msg))]

    def _ice(self, msg: dict[str, Any]) -> list[Action]:
        candidate = msg.get("candidate")
        if candidate is not None:  # null: end of candidates
            if not isinstance(candidate, dict) or not isinstance(candidate.get("candidate", ""), str) or \
                    len(json.dumps(candidate)) > MAX_CANDIDATE_CHARS:
                return self._fail(BAD_FRAME, "ice needs a candidate object (RTCIceCandidateInit) or null")
            candidate = {k: candidate[k] for k in ("candidate", "sdpMid", "sdpMLineIndex", "usernameFragment")
                         if k in candidate}
        if self.peer_conn is None:
            return []  # nobody to trickle to: the next offer gathers afresh
        return [self._out("ice", to=self.peer_conn, candidate=candidate, gen=_gen(msg))]

    def _connected(self, _msg: dict[str, Any]) -> list[Action]:
        return [Lifecycle(Event.CONNECTED, f"{self.role} peer connection connected")]

    def _hangup(self, msg: dict[str, Any]) -> list[Action]:
        self.hung_up = True
        reason = msg.get("reason")
        text = reason[:MAX_REASON_CHARS] if isinstance(reason, str) and reason else f"{self.role} hung up"
        return [Lifecycle(Event.HANGUP, text)]

    def _chat(self, msg: dict[str, Any]) -> list[Action]:
        text = msg.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_CHAT_CHARS:
            return [ToClient(error(BAD_FRAME, f"chat needs text of 1 to {MAX_CHAT_CHARS} characters"))]
        return [Chat(text)]

    def _ping(self, _msg: dict[str, Any]) -> list[Action]:
        return [ToClient({"t": "pong"})]

    # -- from the consult's channel (the other party, or the server) --------------------------

    def receive_channel(self, msg: dict[str, Any]) -> list[Action]:
        """One message published on the consult's channel (by any node)."""
        if self.closed:
            return []
        sender, conn, kind = msg.get("from"), msg.get("conn"), msg.get("t")
        if sender == SERVER:  # state changes, chat lines and files, stored before they were announced
            out = {k: v for k, v in msg.items() if k not in ("from", "conn")}
            actions: list[Action] = [ToClient(out)]
            if kind == "state" and msg.get("state") == "ended":
                self.closed = self.ended = True
                actions.append(Close(NORMAL, "consult ended"))
            return actions
        if not isinstance(conn, str) or conn == self.conn:
            return []  # our own message back
        if sender == self.role:
            if kind == "join":  # the same party joined again elsewhere: this socket is stale
                self.closed = self.superseded = True
                return [ToClient(error(SUPERSEDED, "this consult was joined again from another connection")),
                        Close(SUPERSEDED, "superseded")]
            return []
        if sender != self.peer_role:
            return []
        if kind in ("join", "here"):
            actions = []
            if kind == "join":
                actions.append(self._out("here"))
            if conn != self.peer_conn:
                self.peer_conn = conn
                rejoined = conn not in self._seen_peer_conns and bool(self._seen_peer_conns)
                self._seen_peer_conns.add(conn)
                actions.append(ToClient({"t": "peer", "present": True, "role": self.peer_role,
                                         "rejoined": rejoined, "you_offer": self.offerer}))
            return actions
        if kind == "leave":
            if conn != self.peer_conn:
                return []
            self.peer_conn = None
            return [ToClient({"t": "peer", "present": False, "role": self.peer_role})]
        if kind in ("offer", "answer", "ice"):
            if msg.get("to") != self.conn or conn != self.peer_conn:
                return []  # for (or from) a connection that has been replaced
            out = {"t": kind, "from": sender, "gen": msg.get("gen", 0)}
            if kind == "ice":
                out["candidate"] = msg.get("candidate")
            else:
                out["sdp"] = msg.get("sdp")
            return [ToClient(out)]
        return []


def _gen(msg: dict[str, Any]) -> int:
    gen = msg.get("gen", 0)
    return gen if isinstance(gen, int) and not isinstance(gen, bool) else 0


_CLIENT = {
    "offer": SignalingSession._offer,
    "answer": SignalingSession._answer,
    "ice": SignalingSession._ice,
    "connected": SignalingSession._connected,
    "hangup": SignalingSession._hangup,
    "chat": SignalingSession._chat,
    "ping": SignalingSession._ping,
}


__all__ = ["Action", "COUNTY", "Chat", "Close", "Lifecycle", "ROLES", "SERVER", "SignalingSession", "ToChannel",
           "ToClient", "VILLAGE", "error"]
