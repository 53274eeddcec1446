-- SQLite schema; 0001_init.postgres.sql is the same schema in PostgreSQL's types.
-- Organisations form a county -> township -> village tree; county_id is denormalised
-- so that "same county" checks are one comparison.
CREATE TABLE IF NOT EXISTS orgs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('county', 'township', 'village')),
    parent_id INTEGER REFERENCES orgs(id),
    county_id INTEGER
);

CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('village_doctor', 'county_reader', 'admin')),
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    display_name TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    county_id INTEGER NOT NULL,
    device_id INTEGER NOT NULL REFERENCES devices(id),
    patient_ref TEXT NOT NULL DEFAULT '',
    fs_hz REAL NOT NULL,
    leads TEXT NOT NULL,
    gain REAL NOT NULL,
    sample_type TEXT NOT NULL,
    block INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('live', 'ended')),
    connected INTEGER NOT NULL DEFAULT 0,
    node TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    ended_at REAL,
    n_samples INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS recordings_county ON recordings(county_id, status);

CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    remote TEXT NOT NULL DEFAULT ''
);
