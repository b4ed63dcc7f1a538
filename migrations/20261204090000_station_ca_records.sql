-- The station's sub-CA certificates, old and new, are read from their
-- `station-ca.installed` records whenever a certificate's provenance or a
-- seal is checked: a partial index finds those few records without
-- scanning the outbox, and costs the other records nothing to keep.
CREATE INDEX outbox_station_ca_installed ON outbox (seq) WHERE kind = 'station-ca.installed';
