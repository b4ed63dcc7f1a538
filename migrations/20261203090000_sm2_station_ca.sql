-- The station's SM2 issuing sub-CA, beside the P-256 one: its key lives in
-- the station's SM2 token (the vendor module named by the key config), and
-- it signs the SM3withSM2 certificates, CRLs and electronic seals of the
-- providers whose profile asks for SM2.
CREATE TABLE station_ca_sm2 (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    token_label  TEXT NOT NULL,
    key_label    TEXT NOT NULL,
    cert_der     BLOB,
    chain_pem    TEXT,
    crl_number   INTEGER NOT NULL DEFAULT 0,
    crl_url      TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

-- Every CRL the SM2 sub-CA signed, numbered on their own.
CREATE TABLE crls_sm2 (
    number       INTEGER PRIMARY KEY,
    this_update  TEXT NOT NULL,
    next_update  TEXT NOT NULL,
    der          BLOB NOT NULL,
    revoked      INTEGER NOT NULL,
    uploaded_at  TEXT
);
