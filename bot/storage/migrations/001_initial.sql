-- Jobs: one row per generation, whatever started it (slash command, button, reply, CLI).
CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    source            TEXT NOT NULL,             -- imagine, edit, button, reply, cli
    guild_id          INTEGER,
    channel_id        INTEGER,
    user_id           INTEGER,
    state             TEXT NOT NULL,             -- queued, submitted, running, delivering, done, failed, cancelled
    model             TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    request_json      TEXT NOT NULL,
    count             INTEGER NOT NULL,
    provider          TEXT,
    task_id           TEXT,
    width             INTEGER,
    height            INTEGER,
    delivered         INTEGER NOT NULL DEFAULT 0,
    interaction_id    INTEGER,
    interaction_token TEXT,
    token_expires_at  REAL,
    message_id        INTEGER,
    error_kind        TEXT,
    error_message     TEXT,
    created_at        REAL NOT NULL,
    updated_at        REAL NOT NULL,
    started_at        REAL,
    finished_at       REAL
);
CREATE INDEX jobs_by_state ON jobs (state);
CREATE INDEX jobs_by_user ON jobs (guild_id, user_id, created_at);

-- Small facts the bot keeps between runs (e.g. the hash of the last synced command tree).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
