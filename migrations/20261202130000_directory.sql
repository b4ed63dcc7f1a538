-- The central's directory of every certificate of the providers this
-- station serves (issued here, at other stations, or by the CAs' own
-- systems): the facts a lost-key replacement or a revocation without the
-- key needs, not the certificates. Fetched by version, oldest first.
CREATE TABLE directory (
    issuer      TEXT NOT NULL,
    serial      TEXT NOT NULL,
    provider    TEXT NOT NULL,
    name        TEXT NOT NULL,
    uscc        TEXT NOT NULL,
    not_before  TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    status      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (issuer, serial)
) WITHOUT ROWID;
CREATE INDEX directory_by_serial ON directory (serial);
CREATE INDEX directory_by_uscc ON directory (uscc);

ALTER TABLE sync_state ADD COLUMN directory_cursor INTEGER NOT NULL DEFAULT 0;
