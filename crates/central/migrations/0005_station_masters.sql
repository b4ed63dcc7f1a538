-- The master secret of each station, from which the station derives its
-- keys' SO PINs and its audit keys. The central makes it and keeps it, and
-- sends it to a station token only wrapped for that token, so that a
-- station whose token dies can be replaced. Whoever can read this table can
-- unlock the stations' keys: the database is the CA's, protected as such.
CREATE TABLE station_masters (
    station_id  TEXT PRIMARY KEY,
    master      BYTEA NOT NULL CHECK (length(master) = 32),
    created_at  TIMESTAMPTZ NOT NULL
);

-- Every time a master was wrapped for a token: who asked, for which token.
CREATE TABLE station_master_wraps (
    station_id    TEXT NOT NULL REFERENCES station_masters (station_id),
    token_serial  TEXT NOT NULL,
    key_sha256    TEXT NOT NULL,
    at            TIMESTAMPTZ NOT NULL
);
