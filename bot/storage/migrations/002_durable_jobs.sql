-- What a job needs to be resumed or delivered after a restart, without the Interaction object.
ALTER TABLE jobs ADD COLUMN application_id INTEGER;
ALTER TABLE jobs ADD COLUMN upload_limit INTEGER;
ALTER TABLE jobs ADD COLUMN result_json TEXT;      -- provider result (URLs, size) once known
ALTER TABLE jobs ADD COLUMN progress INTEGER;      -- provider progress 0-100, if reported
ALTER TABLE jobs ADD COLUMN queued_at REAL;        -- FIFO order of the queue
ALTER TABLE jobs ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0;  -- times resumed after a restart
ALTER TABLE jobs ADD COLUMN role_ids TEXT NOT NULL DEFAULT '';     -- requester's roles (quota)

-- Reference images travel with the job so a queued job survives a restart.
CREATE TABLE job_references (
    job_id   TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    filename TEXT    NOT NULL,
    mime     TEXT,
    width    INTEGER,
    height   INTEGER,
    url      TEXT,
    data     BLOB,
    PRIMARY KEY (job_id, position)
);

CREATE INDEX jobs_queue ON jobs (state, queued_at);
