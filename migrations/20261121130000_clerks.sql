-- Station clerk accounts. The secret (password or PIN) is kept only as an
-- argon2id PHC string; the role decides which console commands a session
-- may call.
CREATE TABLE clerks (
    id            TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('clerk', 'supervisor')),
    secret_hash   TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- A supervisor's approval of an unlock or revocation, given at the counter
-- before the clerk carries the order out.
CREATE TABLE approvals (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL,
    operation    TEXT NOT NULL,
    supervisor   TEXT NOT NULL,
    clerk        TEXT NOT NULL,
    approved_at  TEXT NOT NULL
);
CREATE INDEX approvals_order ON approvals (order_id);
