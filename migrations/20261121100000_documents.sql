-- Scans attached to an order's checklist items. The picture files live
-- under the data directory, named by the SHA-256 of their content
-- (attachments/ab/abcdef....jpg); the row says which order and item they
-- belong to and what the station found on them.
CREATE TABLE attachments (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    item            TEXT NOT NULL,
    file_name       TEXT NOT NULL,
    original_sha256 TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    thumb_sha256    TEXT NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    seal_found      INTEGER,
    created_at      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    body            TEXT NOT NULL
);
CREATE INDEX attachments_order ON attachments (order_id, item, created_at);

-- Documents printed (or saved) for an order, and how each print job ended.
CREATE TABLE print_jobs (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL REFERENCES orders (id),
    document    TEXT NOT NULL,
    printer     TEXT,
    cups_job_id INTEGER,
    state       TEXT NOT NULL,
    pages       INTEGER,
    pdf_sha256  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX print_jobs_order ON print_jobs (order_id, created_at);

-- Electronic seals cut from a stamped sample sheet, and the clerk's verdict.
CREATE TABLE seals (
    id              TEXT PRIMARY KEY,
    order_id        TEXT NOT NULL REFERENCES orders (id),
    attachment_id   TEXT NOT NULL REFERENCES attachments (id),
    png_sha256      TEXT NOT NULL,
    width           INTEGER NOT NULL,
    height          INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('proposed', 'approved', 'rejected')),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    decided_by      TEXT,
    body            TEXT NOT NULL
);
CREATE INDEX seals_order ON seals (order_id, created_at);
