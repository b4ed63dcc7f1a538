-- Stations the central knows, and how far each one's records are stored.
CREATE TABLE stations (
    id              text PRIMARY KEY,
    name            text NOT NULL DEFAULT '',
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    committed_seq   bigint NOT NULL DEFAULT 0,
    reported_head   bigint NOT NULL DEFAULT 0,
    newer_payloads  bigint NOT NULL DEFAULT 0,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    last_seen_at    timestamptz,
    last_batch_at   timestamptz
);

-- The station sub-CA certificates that may sign for a station (a renewed
-- one joins the old one until that expires).
CREATE TABLE station_certs (
    sha256      text PRIMARY KEY,
    station_id  text NOT NULL REFERENCES stations (id),
    der         bytea NOT NULL,
    chain_pem   text NOT NULL,
    not_after   timestamptz NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX station_certs_station ON station_certs (station_id, not_after);

-- Every record of every station, exactly once.
CREATE TABLE records (
    station_id       text NOT NULL,
    seq              bigint NOT NULL,
    id               uuid NOT NULL,
    kind             text NOT NULL,
    payload_version  integer NOT NULL,
    created_at       timestamptz NOT NULL,
    payload          jsonb NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, seq)
);

-- Nonces of signed requests inside the accepted time window.
CREATE TABLE request_nonces (
    station_id  text NOT NULL,
    nonce       text NOT NULL,
    at          timestamptz NOT NULL,
    PRIMARY KEY (station_id, nonce)
);

-- Catalogs published to the stations; the newest wins.
CREATE TABLE catalogs (
    version       bigint PRIMARY KEY,
    body          text NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now(),
    published_by  text NOT NULL
);

-- Certificates issued at any station, for the revocation list.
CREATE TABLE certificates (
    serial      text NOT NULL,
    issuer      text NOT NULL,
    station_id  text NOT NULL,
    PRIMARY KEY (serial, issuer)
);
CREATE INDEX certificates_serial ON certificates (serial);

-- Revocations in the order the central learnt them.
CREATE TABLE revocations (
    cursor      bigserial PRIMARY KEY,
    issuer      text NOT NULL,
    serial      text NOT NULL,
    reason      integer NOT NULL,
    revoked_at  text NOT NULL,
    station_id  text NOT NULL,
    UNIQUE (issuer, serial)
);

-- The central's decisions on orders sent for its review.
CREATE TABLE decisions (
    cursor      bigserial PRIMARY KEY,
    station_id  text NOT NULL REFERENCES stations (id),
    order_id    text NOT NULL,
    decision    text NOT NULL CHECK (decision IN ('approved', 'returned')),
    reason      text,
    decided_by  text NOT NULL,
    decided_at  timestamptz NOT NULL DEFAULT now()
);
