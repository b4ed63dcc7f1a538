-- The station's own identity: one row, made when the database is created.
CREATE TABLE station (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    station_id  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Every catalog version the station was given, newest wins once effective.
CREATE TABLE catalogs (
    version         INTEGER PRIMARY KEY,
    effective_date  TEXT NOT NULL,
    imported_at     TEXT NOT NULL,
    imported_by     TEXT NOT NULL,
    source          TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    body            TEXT NOT NULL
);

-- Operator overrides of single tariff lines, applied over the active catalog.
CREATE TABLE tariff_overrides (
    provider    TEXT NOT NULL,
    project     TEXT NOT NULL DEFAULT '',
    operation   TEXT NOT NULL,
    item        TEXT NOT NULL,
    amount_fen  INTEGER NOT NULL CHECK (amount_fen >= 0),
    set_by      TEXT NOT NULL,
    set_at      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (provider, project, operation, item)
);

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    number      TEXT NOT NULL UNIQUE,
    provider    TEXT NOT NULL,
    operation   TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX orders_state ON orders (state, updated_at);

-- The sync queue: what the central CA must learn, in station order.
CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    payload_version  INTEGER NOT NULL,
    payload          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    acked_at         TEXT
);

-- Tamper-evident trail: each row carries the hash of the row before it.
CREATE TABLE audit (
    seq        INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    detail     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit (subject, seq);

-- The newest audit row, so that deleting rows at the end is seen too.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
