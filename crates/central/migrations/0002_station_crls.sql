-- Every CRL a station uploaded (each signed by its sub-CA key, checked
-- against its registered certificates). Numbers only grow per station;
-- relying parties are served the highest.
CREATE TABLE station_crls (
    station_id   text NOT NULL REFERENCES stations (id),
    number       bigint NOT NULL,
    this_update  timestamptz NOT NULL,
    next_update  timestamptz NOT NULL,
    der          bytea NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (station_id, number)
);
