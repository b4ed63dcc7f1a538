-- Command-line sessions (kioskctl login): the station keeps the SHA-256 of
-- each session's random token, never the token. A session is valid while
-- its account is active and unchanged since the login (clerks.updated_at),
-- and until it has been idle as long as a console session may be.
CREATE TABLE cli_sessions (
    token_sha256      TEXT PRIMARY KEY,
    clerk_id          TEXT NOT NULL REFERENCES clerks (id),
    clerk_updated_at  TEXT NOT NULL,
    started_at        TEXT NOT NULL,
    last_seen_at      TEXT NOT NULL
);

-- Wrong secrets in a row per account (login and approval alike), kept
-- across restarts of the app and between kioskctl runs.
CREATE TABLE login_failures (
    account       TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    paused_until  TEXT
);
