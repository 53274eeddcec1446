-- Reading and reporting (docs/reporting.md). 0003_studies.postgres.sql is the same schema in
-- PostgreSQL's types. A study is one ECG to read (one recording, streamed or uploaded).
-- Timestamps are seconds since the epoch; the first claim/sign/delivery/ack times stay
-- for turnaround figures, the current lock lives in claimed_by/lock_expires_at.
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY,
    recording_id TEXT NOT NULL UNIQUE REFERENCES recordings(id),
    org_id INTEGER NOT NULL REFERENCES orgs(id),
    county_id INTEGER NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('stream', 'upload')),
    requested_by INTEGER NOT NULL REFERENCES users(id),
    requested_priority TEXT NOT NULL CHECK (requested_priority IN ('stat', 'urgent', 'routine')),
    priority TEXT NOT NULL CHECK (priority IN ('stat', 'urgent', 'routine')),
    note TEXT NOT NULL DEFAULT '',
    flags TEXT NOT NULL DEFAULT '[]',
    auto_findings TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL CHECK (status IN ('received', 'claimed', 'signed')),
    received_at REAL NOT NULL,
    claimed_by INTEGER REFERENCES users(id),
    lock_expires_at REAL,
    first_claimed_at REAL,
    first_claimed_by INTEGER REFERENCES users(id),
    signed_at REAL,
    signed_by INTEGER REFERENCES users(id),
    report_version INTEGER NOT NULL DEFAULT 0,
    critical INTEGER NOT NULL DEFAULT 0,
    delivered_at REAL,
    acknowledged_at REAL,
    acknowledged_by INTEGER REFERENCES users(id),
    escalated_at REAL
);
CREATE INDEX IF NOT EXISTS studies_worklist ON studies(county_id, status, priority, received_at);
CREATE INDEX IF NOT EXISTS studies_org ON studies(org_id, received_at);

CREATE TABLE IF NOT EXISTS report_versions (
    study_id INTEGER NOT NULL REFERENCES studies(id),
    version INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'signed')),
    statements TEXT NOT NULL DEFAULT '[]',
    free_text TEXT NOT NULL DEFAULT '',
    measurements TEXT NOT NULL DEFAULT '{}',
    findings TEXT NOT NULL DEFAULT '[]',
    author_id INTEGER NOT NULL REFERENCES users(id),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    signed_at REAL,
    amend_reason TEXT NOT NULL DEFAULT '',
    delivered_at REAL,
    acknowledged_at REAL,
    acknowledged_by INTEGER REFERENCES users(id),
    PRIMARY KEY (study_id, version)
);

CREATE TABLE IF NOT EXISTS annotation_log (
    id INTEGER PRIMARY KEY,
    study_id INTEGER NOT NULL REFERENCES studies(id),
    author_id INTEGER NOT NULL REFERENCES users(id),
    created_at REAL NOT NULL,
    op TEXT NOT NULL,
    sample INTEGER,
    end_sample INTEGER,
    label TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    target INTEGER
);
CREATE INDEX IF NOT EXISTS annotation_log_study ON annotation_log(study_id, id);
