-- Seals of the audit trail: the station's issuing key, in the station
-- token, signs the hash of a row (kiosk_sync::audit::Seal). Whoever holds
-- only this file cannot make one; anyone with the station's certificate
-- can check one. Kept beside the trail, not in it: sealing does not move
-- the trail's head.
CREATE TABLE audit_seals (
    audit_seq  INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    at         TEXT NOT NULL,
    signature  TEXT NOT NULL
);
