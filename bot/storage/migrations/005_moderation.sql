-- Moderated group use (PRODUCT §2 /seedream): per-server policy, blocklists, bans, refused
-- attempts, the audit log and moderation case records.

-- What moderators set for a server. NULL = not set (defaults apply).
CREATE TABLE guild_settings (
    guild_id          INTEGER PRIMARY KEY,
    audit_channel_id  INTEGER,
    default_model     TEXT,
    references_policy TEXT NOT NULL DEFAULT 'everywhere'
                      CHECK (references_policy IN ('everywhere', 'age-restricted', 'off'))
);

-- Where the bot may be used: an empty allow-list means everywhere not denied.
CREATE TABLE guild_channels (
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    mode       TEXT    NOT NULL CHECK (mode IN ('allow', 'deny')),
    PRIMARY KEY (guild_id, channel_id)
) WITHOUT ROWID;

-- Blocked words, phrases and /regex/ patterns for prompts, as the moderator typed them.
CREATE TABLE blocklist (
    guild_id INTEGER NOT NULL,
    term     TEXT    NOT NULL,
    added_by INTEGER NOT NULL,
    added_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, term)
) WITHOUT ROWID;

-- Members barred from using the bot in a server.
CREATE TABLE bans (
    guild_id  INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    reason    TEXT    NOT NULL DEFAULT '',
    banned_by INTEGER NOT NULL,
    banned_at REAL    NOT NULL,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

-- Attempts refused by the server's policy (never charged, never sent to a provider).
CREATE TABLE refusals (
    id         INTEGER PRIMARY KEY,
    guild_id   INTEGER NOT NULL,
    channel_id INTEGER,
    user_id    INTEGER NOT NULL,
    source     TEXT    NOT NULL,
    reason     TEXT    NOT NULL,  -- channel | banned | blocklist | references
    detail     TEXT    NOT NULL DEFAULT '',
    prompt     TEXT    NOT NULL DEFAULT '',
    model      TEXT,
    created_at REAL    NOT NULL
);
CREATE INDEX refusals_by_guild ON refusals (guild_id, created_at);

-- Moderation case records: who did what to whom, and why (bans, deleted outputs, …).
CREATE TABLE mod_cases (
    id           INTEGER PRIMARY KEY,
    guild_id     INTEGER NOT NULL,
    action       TEXT    NOT NULL,
    target_id    INTEGER,
    moderator_id INTEGER NOT NULL,
    job_id       TEXT,
    reason       TEXT    NOT NULL DEFAULT '',
    created_at   REAL    NOT NULL
);

ALTER TABLE jobs ADD COLUMN audit_message_id INTEGER;   -- the job's entry in the audit channel
ALTER TABLE jobs ADD COLUMN deleted_by INTEGER;         -- who deleted the output
ALTER TABLE jobs ADD COLUMN forgotten_at REAL;          -- the member deleted it from their history

CREATE INDEX jobs_by_guild ON jobs (guild_id, created_at);
