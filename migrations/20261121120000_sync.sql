-- Sync with the central CA: one row of progress and last outcome.
-- `acked_seq` is the highest outbox seq the central has committed; the
-- central acknowledges a contiguous prefix, so one number says it all.
CREATE TABLE sync_state (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    acked_seq           INTEGER NOT NULL DEFAULT 0,
    last_attempt_at     TEXT,
    last_success_at     TEXT,
    last_error_code     TEXT,
    last_error_message  TEXT,
    decisions_cursor    INTEGER NOT NULL DEFAULT 0,
    revocations_cursor  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO sync_state (id) VALUES (1);

CREATE INDEX outbox_unacked ON outbox (seq) WHERE acked_at IS NULL;

-- Certificates revoked at other stations or at the central CA, as the
-- central published them.
CREATE TABLE central_revocations (
    issuer       TEXT NOT NULL,
    serial       TEXT NOT NULL,
    reason       INTEGER NOT NULL,
    revoked_at   TEXT NOT NULL,
    station_id   TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (issuer, serial)
);
