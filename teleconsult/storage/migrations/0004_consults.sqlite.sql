-- Video consults (docs/consults.md). 0004_consults.postgres.sql is the same schema in
-- PostgreSQL's types. Times are seconds since the epoch.

-- Kiosks: self-service village clinics that request consults with a token (tck_…), like a
-- device token; only its SHA-256 is stored.
CREATE TABLE IF NOT EXISTS kiosks (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked INTEGER NOT NULL DEFAULT 0
);

-- One consult: requested by a village doctor or a kiosk (requester_kind 'user' | 'kiosk'),
-- accepted by a county doctor. deadline_at is when the current state times out (any node's
-- sweeper applies the timeout, once, with a conditional UPDATE).
CREATE TABLE IF NOT EXISTS consults (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    county_id INTEGER NOT NULL,
    requester_kind TEXT NOT NULL CHECK (requester_kind IN ('user', 'kiosk')),
    requester_id INTEGER NOT NULL,
    acceptor_id INTEGER REFERENCES users(id),
    state TEXT NOT NULL CHECK (state IN ('requested', 'waiting', 'accepted', 'connecting', 'in_call',
                                         'reconnecting', 'ended')),
    outcome TEXT CHECK (outcome IN ('completed', 'cancelled', 'no_answer', 'failed')),
    reason TEXT NOT NULL DEFAULT '',
    urgency TEXT NOT NULL CHECK (urgency IN ('stat', 'urgent', 'routine')),
    patient_ref TEXT NOT NULL DEFAULT '',
    recording_id TEXT REFERENCES recordings(id),
    requested_at REAL NOT NULL,
    accepted_at REAL,
    in_call_at REAL,
    ended_at REAL,
    deadline_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS consults_queue ON consults(county_id, state, requested_at);
CREATE INDEX IF NOT EXISTS consults_org ON consults(org_id, requested_at);
CREATE INDEX IF NOT EXISTS consults_acceptor ON consults(acceptor_id, requested_at);
CREATE INDEX IF NOT EXISTS consults_patient ON consults(org_id, patient_ref);
CREATE INDEX IF NOT EXISTS consults_deadline ON consults(state, deadline_at);

-- Every transition, with who (actor 'user:5' | 'kiosk:2' | 'system'), as which party, and why.
CREATE TABLE IF NOT EXISTS consult_events (
    id INTEGER PRIMARY KEY,
    consult_id INTEGER NOT NULL REFERENCES consults(id),
    at REAL NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    party TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS consult_events_consult ON consult_events(consult_id, id);

-- Chat lines and shared files (bytes in data_dir/consult_files/<consult>/<sha256>).
CREATE TABLE IF NOT EXISTS consult_messages (
    id INTEGER PRIMARY KEY,
    consult_id INTEGER NOT NULL REFERENCES consults(id),
    at REAL NOT NULL,
    author TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('chat', 'file')),
    body TEXT NOT NULL DEFAULT '',
    file_name TEXT NOT NULL DEFAULT '',
    content_type TEXT NOT NULL DEFAULT '',
    size INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS consult_messages_consult ON consult_messages(consult_id, id);

-- County doctors' duty toggle and last heartbeat (presence across nodes).
CREATE TABLE IF NOT EXISTS presence (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    county_id INTEGER NOT NULL,
    on_duty INTEGER NOT NULL DEFAULT 0,
    heartbeat_at REAL NOT NULL,
    node TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS presence_county ON presence(county_id, on_duty);
