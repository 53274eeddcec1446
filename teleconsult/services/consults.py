"""Video consults: requests, the county's queue, acceptance, the lifecycle's timers, presence,
history, chat and files. Application logic only: no aiohttp, no SQL (that is
:class:`~teleconsult.storage.consults.ConsultStore`), decisions in :mod:`teleconsult.consults`.

Every state change goes through :func:`teleconsult.consults.lifecycle.transition` and then one
conditional update in the store, so two nodes (or two doctors) racing for the same consult
change it once. After a change the service announces it on the consult's bus channel
(``consult:<id>``: both parties' signalling sockets, on whichever node) and on the county's
notice channel (``notify:county:<id>``: the queue on every doctor's page). Like the report
notices, these say *that* something changed; pages re-read the record.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teleconsult import auth
from teleconsult.bus import SIGNAL, Bus, BusItem, Subscription
from teleconsult.consults import presence
from teleconsult.consults.errors import (BadRequest, Conflict, Forbidden, NotFound, TooLarge, Unauthenticated,
                                         Unsupported)
from teleconsult.consults.lifecycle import SIGNALLING, Event, Party, State, transition
from teleconsult.consults.model import URGENCIES, Consult, Message, Principal, Transition, may_see, party_of
from teleconsult.consults.signaling import COUNTY, SERVER, VILLAGE
from teleconsult.consults.turn import IceConfig
from teleconsult.services.notices import Notices, county_channel
from teleconsult.services.observations import Observations
from teleconsult.storage.consults import ConsultStore
from teleconsult.storage.sql import AsyncDatabase, User

log = logging.getLogger(__name__)
RETAIN_SIGNALS = 200  # per consult channel, in a Redis stream
MAX_REASON_CHARS = 500
MAX_PATIENT_REF_CHARS = 128
# What may be shared in a call: an ECG PDF or an image, recognised by its first bytes too.
FILE_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}


def consult_channel(consult_id: int) -> str:
    return f"consult:{consult_id}"


# Request -> first in call: the waiting for a county doctor (up to the 2-minute answer timeout)
# plus the call setup (a fraction of a second on a LAN, seconds over 4G and TURN).
SETUP_BUCKETS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)


@dataclass
class ConsultStats:
    """Plain counters of what happened to consults on this node, read by the metrics endpoint at
    scrape time. Keys are states, events, outcomes, urgencies, signalling roles and message
    types; never anything of the patient."""

    requested: Counter[str] = field(default_factory=Counter)  # urgency
    transitions: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (from, to, event); no self-loops
    ended: Counter[tuple[str, str]] = field(default_factory=Counter)  # (outcome, urgency)
    sockets: Counter[str] = field(default_factory=Counter)  # signalling sockets open now, by role
    relayed: Counter[str] = field(default_factory=Counter)  # party messages put on consult channels, by type
    setup_s: dict[str, Observations] = field(default_factory=dict)  # urgency -> request -> first in call

    def __post_init__(self) -> None:
        for urgency in URGENCIES:
            self.setup_s[urgency] = Observations(SETUP_BUCKETS_S)

    def changed(self, before: Consult, after: Consult, event: Event) -> None:
        self.transitions[(before.state, after.state, event.value)] += 1
        if after.state == State.ENDED.value:
            self.ended[(after.outcome or "", after.urgency)] += 1
        if before.state == State.CONNECTING.value and after.state == State.IN_CALL.value and after.in_call_at:
            self.setup_s.setdefault(after.urgency, Observations(SETUP_BUCKETS_S)).observe(
                after.in_call_at - after.requested_at)


class NobodyOnDuty(Conflict):
    """The request was recorded and ended at once: no county doctor of the county is on duty."""

    def __init__(self, consult: Consult) -> None:
        super().__init__("no county doctor of your county is on duty now")
        self.consult = consult


def principal_of(user: User) -> Principal:
    return Principal("user", user.id, user.role, user.org_id, user.county_id, user.display_name or user.username)


class ConsultService:
    def __init__(self, db: AsyncDatabase, store: ConsultStore, bus: Bus, notices: Notices, files_dir: Path,
                 ice: IceConfig, *, node_id: str = "", answer_timeout_s: float = 120.0,
                 connect_timeout_s: float = 60.0, reconnect_grace_s: float = 30.0, presence_ttl_s: float = 45.0,
                 check_s: float = 1.0, file_max_bytes: int = 10 * 1024 * 1024,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.store = store
        self.bus = bus
        self.notices = notices
        self.files_dir = files_dir
        self.ice = ice
        self.node_id = node_id
        self.answer_timeout_s = answer_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.reconnect_grace_s = reconnect_grace_s
        self.presence_ttl_s = presence_ttl_s
        self.check_s = check_s
        self.file_max_bytes = file_max_bytes
        self.clock = clock
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stats = ConsultStats()

    async def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_loop(), name="consult-timeouts")

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` to its end even if the request that started it is cancelled (kept until done)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.db.call(fn, *args)

    async def audit(self, who: Principal | str, action: str, consult_id: int | None, outcome: str,
                    remote: str = "") -> None:
        actor = who if isinstance(who, str) else who.actor
        obj = "" if consult_id is None else f"consult:{consult_id}"
        await self._call(self.db.db.audit, actor, action, obj, outcome, remote)

    # -- who is acting ------------------------------------------------------------------------

    async def kiosk_principal(self, token: str) -> Principal:
        """The kiosk a ``tck_…`` token belongs to.

        Raises:
            Unauthenticated: unknown, revoked or expired token.
        """
        kiosk = await self._call(self.store.kiosk_for_token, auth.token_hash(token))
        if kiosk is None:
            raise Unauthenticated("unknown kiosk token")
        problem = auth.kiosk_problem(kiosk.revoked, kiosk.expires_at, self.clock())
        if problem:
            raise Unauthenticated(problem)
        return Principal("kiosk", kiosk.id, "kiosk", kiosk.org_id, kiosk.county_id, kiosk.name)

    async def _get(self, consult_id: int) -> Consult:
        consult: Consult | None = await self._call(self.store.get, consult_id)
        if consult is None:
            raise NotFound("no such consult")
        return consult

    async def visible(self, who: Principal, consult_id: int, action: str, remote: str = "") -> Consult:
        consult = await self._get(consult_id)
        if not may_see(who, consult):
            await self.audit(who, action, consult_id, "forbidden", remote)
            raise Forbidden("consult of another organisation or county")
        return consult

    async def _party(self, who: Principal, consult_id: int, action: str, remote: str = "") -> Consult:
        """The consult, if ``who`` is one of its two parties (chat, files, ICE servers)."""
        consult = await self._get(consult_id)
        if party_of(who, consult) not in (Party.REQUESTER, Party.ACCEPTOR):
            await self.audit(who, action, consult_id, "forbidden", remote)
            raise Forbidden("only the two parties of the consult may do this")
        return consult

    # -- lifecycle --------------------------------------------------------------------------------

    def _deadline(self, consult: Consult, next_state: State, now: float) -> float | None:
        if next_state.value == consult.state:
            return consult.deadline_at  # a self-loop (join, drop, offer) never extends the deadline
        return {State.WAITING: now + self.answer_timeout_s, State.ACCEPTED: now + self.connect_timeout_s,
                State.CONNECTING: now + self.connect_timeout_s,
                State.RECONNECTING: now + self.reconnect_grace_s}.get(next_state)

    async def _apply(self, consult: Consult, event: Event, party: Party, actor: str, reason: str,
                     acceptor_id: int | None = None, due_only: bool = False) -> Consult | None:
        step = transition(State(consult.state), event, party)
        now = self.clock()
        changed: Consult | None = await self._call(
            lambda: self.store.apply(consult.id, consult.state, step.next.value, event.value, actor, party.value,
                                     reason, now, outcome=None if step.outcome is None else step.outcome.value,
                                     deadline_at=self._deadline(consult, step.next, now), acceptor_id=acceptor_id,
                                     due_only=due_only))
        if changed is not None:
            self._announce(consult, changed, event, actor, reason)
        return changed

    async def act(self, who: Principal, consult_id: int, event: Event, reason: str = "", remote: str = "") -> Consult:
        """``who`` causes ``event`` on the consult (accept, cancel, join, drop, offer, connected, hang-up).

        Raises:
            NotFound, Forbidden (audited), Conflict: as :func:`~teleconsult.consults.lifecycle.transition`
            decides, or when the consult changed meanwhile in a way that no longer allows it.
        """
        for _attempt in range(3):  # the consult may change between reading and the conditional update
            consult = await self._get(consult_id)
            party = party_of(who, consult)
            try:
                transition(State(consult.state), event, party)
            except Forbidden:
                await self.audit(who, f"consult.{event.value}", consult_id, "forbidden", remote)
                raise
            if event is Event.ACCEPT:
                await self._check_may_accept(who, consult, party)
            changed = await self._apply(consult, event, party, who.actor, reason[:MAX_REASON_CHARS],
                                        acceptor_id=who.id if event is Event.ACCEPT else None)
            if changed is not None:
                if event not in (Event.JOIN, Event.DROP, Event.OFFER, Event.CONNECTED):
                    await self.audit(who, f"consult.{event.value}", consult_id, "ok", remote)
                return changed
            if event is Event.ACCEPT:
                raise Conflict("the consult was accepted by another doctor, or cancelled")
        raise Conflict("the consult changed meanwhile; try again")

    async def _check_may_accept(self, who: Principal, consult: Consult, party: Party) -> None:
        if party is not Party.COUNTY_DOCTOR:
            return  # transition() refuses with the reason
        now = self.clock()
        row = await self._call(self.store.presence_of, who.id)
        busy = await self._call(self.store.active_for, who.id)
        status = presence.status(row, busy is not None, now, self.presence_ttl_s)
        if status == presence.OFFLINE:
            raise Conflict("go on duty before accepting consults")
        if status == presence.BUSY:
            raise Conflict(f"you are in consult {busy.id if busy else '?'} already")

    def _announce(self, before: Consult, after: Consult, event: Event, actor: str, reason: str) -> None:
        """A change of state to both parties and to the county's doctors (self-loops are only logged)."""
        if after.state == before.state:
            return
        self.stats.changed(before, after, event)
        self.publish(after.id, {"t": "state", "state": after.state, "outcome": after.outcome, "event": event.value,
                                "by": actor, "reason": reason, "consult": after.public(self.clock())})
        self.notices.publish(county_channel(after.county_id), {
            "t": "consult", "event": after.state, "consult": after.id, "urgency": after.urgency,
            "outcome": after.outcome})

    def publish(self, consult_id: int, message: dict[str, Any]) -> None:
        """A server message on the consult's channel (both parties' sockets, any node)."""
        data = json.dumps({**message, "from": SERVER, "conn": ""}, separators=(",", ":")).encode("utf-8")
        self.bus.publish(consult_channel(consult_id), BusItem(SIGNAL, 0, data=data), RETAIN_SIGNALS)

    async def subscribe(self, consult_id: int, callback: Callable[[dict[str, Any]], None]) -> Subscription:
        def on_item(item: BusItem) -> None:
            if item.kind != SIGNAL:
                return
            try:
                message = json.loads(item.data)
            except ValueError:
                log.warning("malformed signal on consult %s", consult_id)
                return
            if isinstance(message, dict):
                callback(message)

        return await self.bus.subscribe(consult_channel(consult_id), on_item)

    def relay(self, consult_id: int, message: dict[str, Any]) -> None:
        """A party's message (already checked by its signalling session) to the consult's channel."""
        data = json.dumps(message, separators=(",", ":")).encode("utf-8")
        self.bus.publish(consult_channel(consult_id), BusItem(SIGNAL, 0, data=data), RETAIN_SIGNALS)
        self.stats.relayed[str(message.get("t", ""))] += 1

    async def request(self, who: Principal, urgency: str, reason: str, patient_ref: str = "",
                      recording_id: str | None = None, remote: str = "") -> tuple[Consult, dict[str, Any]]:
        """A village doctor or a kiosk asks for a consult; it is queued for the county's doctors.

        Raises:
            Forbidden: not a village doctor or kiosk, or a recording of another organisation.
            BadRequest: bad urgency, reason, patient reference or recording.
            NobodyOnDuty: recorded, and ended at once (outcome ``no_answer``).
        """
        if not who.may_request:
            raise Forbidden("only village doctors and kiosks request consults")
        if urgency not in URGENCIES:
            raise BadRequest(f"urgency must be one of {', '.join(URGENCIES)}")
        if not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS:
            raise BadRequest(f"reason must be text of at most {MAX_REASON_CHARS} characters")
        if not isinstance(patient_ref, str) or len(patient_ref) > MAX_PATIENT_REF_CHARS:
            raise BadRequest(f"patient_ref must be text of at most {MAX_PATIENT_REF_CHARS} characters")
        if recording_id is not None:
            await self._check_recording(who, recording_id, remote)
        now = self.clock()
        consult: Consult = await self._call(
            lambda: self.store.create(who.org_id, who.county_id, who.kind, who.id, urgency, reason, patient_ref,
                                      recording_id, who.actor, now))
        self.stats.requested[urgency] += 1
        await self.audit(who, "consult.request", consult.id, "ok", remote)
        summary = await self.presence_summary(who.county_id)
        if summary["on_duty"] == 0:
            ended = await self._apply(consult, Event.NOBODY_ON_DUTY, Party.SYSTEM, "system",
                                      "no county doctor on duty")
            raise NobodyOnDuty(ended or consult)
        queued = await self._apply(consult, Event.QUEUE, Party.SYSTEM, "system",
                                   f"offered to {summary['on_duty']} doctor(s) on duty")
        return queued or consult, summary

    async def _check_recording(self, who: Principal, recording_id: str, remote: str) -> None:
        if not isinstance(recording_id, str) or not recording_id:
            raise BadRequest("recording_id must be a recording id")
        recording = await self._call(self.db.db.get_recording, recording_id)
        if recording is None:
            raise BadRequest("no such recording")
        if recording.org_id != who.org_id:
            await self.audit(who, "consult.recording", None, "forbidden", remote)
            raise Forbidden("recording of another organisation")

    async def link_recording(self, who: Principal, consult_id: int, recording_id: str, remote: str = "") -> Consult:
        """Show this recording's live ECG to both parties (the requester links one of its organisation's)."""
        consult = await self._party(who, consult_id, "consult.recording", remote)
        if party_of(who, consult) is not Party.REQUESTER:
            raise Forbidden("only the requesting side links its ECG")
        await self._check_recording(who, recording_id, remote)
        changed: Consult | None = await self._call(self.store.set_recording, consult_id, recording_id, self.clock())
        if changed is None:
            raise Conflict("the consult has ended")
        self.publish(consult_id, {"t": "recording", "recording_id": recording_id})
        await self.audit(who, "consult.recording", consult_id, "ok", remote)
        return changed

    async def sweep(self) -> int:
        """Time out every consult whose deadline has passed (every node runs this; each changes once)."""
        now = self.clock()
        done = 0
        for consult in await self._call(self.store.due, now):
            reason = {"waiting": "no county doctor answered", "accepted": "the call did not start",
                      "connecting": "the call did not connect",
                      "reconnecting": "the dropped party did not come back"}.get(consult.state, "timeout")
            try:
                if await self._apply(consult, Event.TIMEOUT, Party.SYSTEM, "system", reason, due_only=True):
                    done += 1
            except (Conflict, Forbidden):
                continue
        return done

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consult timeout sweep failed")

    # -- signalling ---------------------------------------------------------------------------------

    async def signalling_role(self, who: Principal, consult_id: int, remote: str = "") -> tuple[Consult, str]:
        """Which side ``who`` signals for (``village`` or ``county``).

        Raises:
            NotFound: no such consult.
            Forbidden: not one of its two parties (a third user, another county's doctor; audited).
            Conflict: the consult has ended, or has not been accepted yet (the county side).
        """
        consult = await self._get(consult_id)
        party = party_of(who, consult)
        if party not in (Party.REQUESTER, Party.ACCEPTOR):
            await self.audit(who, "consult.signal", consult_id, "forbidden", remote)
            if party is Party.COUNTY_DOCTOR and consult.acceptor_id is not None:
                raise Forbidden("this consult was accepted by another doctor")
            if party is Party.COUNTY_DOCTOR:
                raise Forbidden("accept the consult before joining it")
            raise Forbidden("not a party to this consult")
        if State(consult.state) not in SIGNALLING:
            raise Conflict(f"the consult is {consult.state}")
        await self.audit(who, "consult.signal", consult_id, "ok", remote)
        return consult, VILLAGE if party is Party.REQUESTER else COUNTY

    async def ice_servers(self, who: Principal, consult_id: int, remote: str = "") -> list[dict[str, Any]]:
        """STUN, and TURN with credentials for this principal only (parties of the consult only)."""
        await self._party(who, consult_id, "consult.ice", remote)
        return self.ice.servers_for(f"{who.kind}{who.id}", self.clock())

    # -- history ---------------------------------------------------------------------------------------

    async def history(self, who: Principal, patient_ref: str | None = None, doctor_id: int | None = None,
                      remote: str = "") -> list[Consult]:
        """Consults ``who`` may see: a village's own, a county's; by patient and by doctor."""
        if who.kind == "kiosk":
            rows = await self._call(lambda: self.store.history(requester=("kiosk", who.id), patient_ref=patient_ref))
        elif who.role == "village_doctor":
            rows = await self._call(lambda: self.store.history(org_id=who.org_id, patient_ref=patient_ref,
                                                               acceptor_id=doctor_id))
        else:
            rows = await self._call(lambda: self.store.history(county_id=who.county_id, patient_ref=patient_ref,
                                                               acceptor_id=doctor_id))
        await self.audit(who, "consult.history", None, "ok", remote)
        return list(rows)

    async def detail(self, who: Principal, consult_id: int, remote: str = "") -> tuple[Consult, list[Transition],
                                                                                        list[Message]]:
        consult = await self.visible(who, consult_id, "consult.view", remote)
        transitions = await self._call(self.store.transitions, consult_id)
        messages = await self._call(self.store.messages, consult_id)
        await self.audit(who, "consult.view", consult_id, "ok", remote)
        return consult, transitions, messages

    async def queue_position(self, consult: Consult) -> dict[str, int] | None:
        """Where a waiting consult stands in its county's queue (1 = next), or None."""
        if consult.state != "waiting":
            return None
        waiting = await self._call(self.store.queue, consult.county_id)
        ids = [c.id for c in waiting]
        return {"position": ids.index(consult.id) + 1 if consult.id in ids else len(ids) + 1,
                "waiting": len(ids)}

    async def queue(self, who: Principal) -> list[Consult]:
        if who.kind != "user" or who.role not in ("county_reader", "admin"):
            raise Forbidden("the queue is for county doctors")
        return list(await self._call(self.store.queue, who.county_id))

    # -- presence -------------------------------------------------------------------------------------------

    async def set_duty(self, who: Principal, on_duty: bool, remote: str = "") -> dict[str, Any]:
        if not who.is_county_doctor:
            raise Forbidden("only county doctors go on duty")
        await self._call(self.store.set_duty, who.id, who.county_id, on_duty, self.clock(), self.node_id)
        await self.audit(who, "presence.on" if on_duty else "presence.off", None, "ok", remote)
        self.notices.publish(county_channel(who.county_id), {"t": "presence", "user": who.id, "on_duty": on_duty})
        return await self.my_presence(who)

    async def heartbeat(self, who: Principal) -> dict[str, Any]:
        if not who.is_county_doctor:
            raise Forbidden("only county doctors have presence")
        await self._call(self.store.heartbeat, who.id, self.clock(), self.node_id)
        return await self.my_presence(who)

    async def my_presence(self, who: Principal) -> dict[str, Any]:
        row = await self._call(self.store.presence_of, who.id)
        busy = await self._call(self.store.active_for, who.id)
        return {"user_id": who.id, "status": presence.status(row, busy is not None, self.clock(), self.presence_ttl_s),
                "consult": None if busy is None else busy.id, "ttl_s": self.presence_ttl_s}

    async def presence_summary(self, county_id: int) -> dict[str, Any]:
        rows = await self._call(self.store.presence, county_id)
        busy = await self._call(self.store.busy_ids, county_id)
        return presence.summary(rows, busy, self.clock(), self.presence_ttl_s)

    # -- chat and files ----------------------------------------------------------------------------------------

    async def chat(self, who: Principal, consult_id: int, text: str, remote: str = "") -> Message:
        consult = await self._party(who, consult_id, "consult.chat", remote)
        if not isinstance(text, str) or not text.strip() or len(text) > 2000:
            raise BadRequest("chat needs text of 1 to 2000 characters")
        if consult.state == "ended":
            raise Conflict("the consult has ended")
        message: Message = await self._call(lambda: self.store.add_message(consult_id, who.actor, "chat",
                                                                           self.clock(), body=text))
        self.publish(consult_id, {"t": "chat", "message": message.public()})
        return message

    async def add_file(self, who: Principal, consult_id: int, name: str, content_type: str, data: bytes,
                       remote: str = "") -> Message:
        """Share a file (PDF, PNG, JPEG; at most ``file_max_bytes``) with the other party; kept with the consult.

        Raises:
            Forbidden: not a party. TooLarge: over the limit. Unsupported: another type, or bytes
            that are not what the content type says. Conflict: the consult has ended.
        """
        consult = await self._party(who, consult_id, "consult.file", remote)
        if consult.state == "ended":
            raise Conflict("the consult has ended")
        if len(data) > self.file_max_bytes:
            raise TooLarge(f"files are limited to {self.file_max_bytes} bytes")
        content_type = content_type.split(";")[0].strip().lower()
        magic = FILE_TYPES.get(content_type)
        if magic is None:
            raise Unsupported(f"only {', '.join(FILE_TYPES)} may be shared")
        if not any(data.startswith(m) for m in magic):
            raise Unsupported(f"the file is not a {content_type}")
        name = Path(name or "file").name[:120] or "file"
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write_file, consult_id, digest, data)
        message: Message = await self._call(lambda: self.store.add_message(
            consult_id, who.actor, "file", self.clock(), file_name=name, content_type=content_type, size=len(data),
            sha256=digest))
        await self.audit(who, "consult.file", consult_id, "ok", remote)
        self.publish(consult_id, {"t": "file", "message": message.public()})
        return message

    def _file_path(self, consult_id: int, digest: str) -> Path:
        return self.files_dir / str(consult_id) / digest

    def _write_file(self, consult_id: int, digest: str, data: bytes) -> None:
        path = self._file_path(consult_id, digest)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    async def file(self, who: Principal, consult_id: int, message_id: int, remote: str = "") -> tuple[Message, Path]:
        await self._party(who, consult_id, "consult.file.view", remote)
        message: Message | None = await self._call(self.store.message, consult_id, message_id)
        if message is None or message.kind != "file":
            raise NotFound("no such file")
        await self.audit(who, "consult.file.view", consult_id, "ok", remote)
        return message, self._file_path(consult_id, message.sha256)


__all__ = ["ConsultService", "ConsultStats", "FILE_TYPES", "NobodyOnDuty", "SETUP_BUCKETS_S", "consult_channel",
           "principal_of"]
