-- Every CRL the station signed: the app re-signs when a revocation is newer
-- than the last one or its nextUpdate draws near, and sync uploads them.
CREATE TABLE crls (
    number       INTEGER PRIMARY KEY,
    this_update  TEXT NOT NULL,
    next_update  TEXT NOT NULL,
    der          BLOB NOT NULL,
    revoked      INTEGER NOT NULL,
    uploaded_at  TEXT
);
