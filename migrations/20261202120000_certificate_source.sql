-- Where a certificate record comes from: signed by this station
-- ('issued'), or read from an applicant's key ('read-from-key': issued
-- elsewhere, verified against its provider's anchors), and who issued it
-- ('station' or a provider id).
ALTER TABLE certificates ADD COLUMN source TEXT NOT NULL DEFAULT 'issued';
ALTER TABLE certificates ADD COLUMN issued_by TEXT NOT NULL DEFAULT 'station';
