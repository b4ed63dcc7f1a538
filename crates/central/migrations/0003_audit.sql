-- Each station's audit trail as the central has checked it. `audit_seq`
-- and `audit_hash`: the newest row the central holds sealed; a station's
-- next rows must chain from it. The rows and seals received are kept for
-- the auditor. `payload_sha256`: the SHA-256 of a record's payload as the
-- station sent it (the text; `payload` is its jsonb), which its audit row
-- vouches for.
ALTER TABLE stations ADD COLUMN audit_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE stations ADD COLUMN audit_hash text;
ALTER TABLE records ADD COLUMN payload_sha256 text;

CREATE TABLE audit_rows (
    station_id  text NOT NULL REFERENCES stations (id),
    seq         bigint NOT NULL,
    row         jsonb NOT NULL,
    hash        text NOT NULL,
    PRIMARY KEY (station_id, seq)
);

CREATE TABLE audit_seals (
    station_id   text NOT NULL REFERENCES stations (id),
    seq          bigint NOT NULL,
    hash         text NOT NULL,
    at           text NOT NULL,
    signature    text NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (station_id, seq)
);
