-- The personal values of a record (payload version 2): the disclosures of
-- the digests its payload holds in their place, checked against them on
-- arrival. The station purges its copy; the CA keeps the applicant's
-- records here.
ALTER TABLE records ADD COLUMN disclosures JSONB;
