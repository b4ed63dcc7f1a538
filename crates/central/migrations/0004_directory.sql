-- Every certificate of the providers the stations serve: those the
-- stations issued (from their records) and those imported from the CAs'
-- own systems (`central certificates-import`). Stations keep a copy of the
-- facts, not the certificates, fetched in the order of `version`: every
-- change (a new entry, a revocation) takes the next one.
CREATE SEQUENCE directory_version;
CREATE TABLE directory (
    issuer      text NOT NULL,
    serial      text NOT NULL,
    provider    text NOT NULL,
    name        text NOT NULL,
    uscc        text NOT NULL,
    not_before  text NOT NULL,
    not_after   text NOT NULL,
    status      text NOT NULL CHECK (status IN ('valid', 'revoked')),
    source      text NOT NULL,
    version     bigint NOT NULL DEFAULT nextval('directory_version'),
    PRIMARY KEY (issuer, serial)
);
CREATE UNIQUE INDEX directory_by_version ON directory (version);
