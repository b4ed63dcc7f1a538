-- Personal data (ID numbers, phones, addresses) of an order is kept out of
-- the order's body and its outbox payloads, which hold digests in its
-- place (kiosk_sync::personal); the values sit beside them, encrypted under
-- the order's key, in `personal`. An order's key is derived in the station
-- token from `nonce` (sealed = 1), or from the nonce alone on a station with
-- no token set up (sealed = 0). The purge sets the nonce and every
-- `personal` of the order to NULL.
CREATE TABLE personal_keys (
    subject     TEXT PRIMARY KEY,
    nonce       BLOB,
    sealed      INTEGER NOT NULL CHECK (sealed IN (0, 1)),
    created_at  TEXT NOT NULL,
    purged_at   TEXT
);
ALTER TABLE orders ADD COLUMN personal BLOB;
ALTER TABLE outbox ADD COLUMN personal BLOB;
ALTER TABLE outbox ADD COLUMN personal_subject TEXT;
CREATE INDEX outbox_personal ON outbox (personal_subject, acked_at) WHERE personal_subject IS NOT NULL;
