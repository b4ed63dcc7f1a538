-- A keyed audit trail: each row also carries HMAC-SHA256 of its hash under
-- a key derived in the station token for one epoch (one process's life).
-- Whoever holds only this file cannot compute it again after a rewrite.
ALTER TABLE audit ADD COLUMN key_epoch TEXT;
ALTER TABLE audit ADD COLUMN mac TEXT;
