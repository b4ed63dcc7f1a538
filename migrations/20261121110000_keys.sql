-- Blank USB keys received from the vendor and what became of them.
CREATE TABLE key_stock (
    serial           TEXT PRIMARY KEY,
    model            TEXT NOT NULL,
    batch            TEXT NOT NULL,
    received_on      TEXT NOT NULL,
    -- in-stock | assigned | issued | defective | returned | retired
    state            TEXT NOT NULL,
    order_id         TEXT,
    first_issued_on  TEXT,
    updated_at       TEXT NOT NULL
);

-- Every certificate the station's sub-CA signed; serials are unique per issuer.
CREATE TABLE certificates (
    serial             TEXT NOT NULL,
    issuer             TEXT NOT NULL,
    subject            TEXT NOT NULL,
    not_before         TEXT NOT NULL,
    not_after          TEXT NOT NULL,
    key_serial         TEXT,
    order_id           TEXT,
    -- issued (signed, not yet on a key) | active | superseded | revoked
    state              TEXT NOT NULL,
    der                BLOB NOT NULL,
    issued_at          TEXT NOT NULL,
    revoked_at         TEXT,
    revocation_reason  INTEGER,
    PRIMARY KEY (issuer, serial)
);
CREATE INDEX certificates_key ON certificates (key_serial, state);

-- The station's issuing sub-CA: its key lives in the station token.
CREATE TABLE station_ca (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    token_label  TEXT NOT NULL,
    key_label    TEXT NOT NULL,
    cert_der     BLOB,
    chain_pem    TEXT,
    crl_number   INTEGER NOT NULL DEFAULT 0,
    crl_url      TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

-- Each personalization step is written here before it runs and after it ends.
CREATE TABLE personalization_journal (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id    TEXT NOT NULL,
    key_serial  TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    step        TEXT NOT NULL,
    phase       TEXT NOT NULL,
    at          TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX personalization_journal_order ON personalization_journal (order_id, id);
