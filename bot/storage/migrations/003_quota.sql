-- Quotas (PRODUCT §4): per-server settings, a ledger with one row per metered job, and hourly
-- usage totals kept in step with the ledger by triggers.
--
-- Every window (hour, day, week, month in UTC) starts on the hour, so usage in any window is
-- the sum of at most 744 hourly totals, however many jobs ran: a reservation costs the same
-- on a quiet server and after a busy month. Summing ledger rows instead would grow with them.

-- What admins set for a server. NULL = not set (fall back to the environment's default).
CREATE TABLE quota_guilds (
    guild_id       INTEGER PRIMARY KEY,
    default_images INTEGER CHECK (default_images >= -1),           -- -1 = unlimited
    default_period TEXT CHECK (default_period IN ('hour', 'day', 'week', 'month')),
    cap_images     INTEGER CHECK (cap_images > 0),                 -- whole server, every member
    cap_period     TEXT CHECK (cap_period IN ('hour', 'day', 'week', 'month')),
    CHECK ((default_images IS NULL) = (default_period IS NULL)),
    CHECK ((cap_images IS NULL) = (cap_period IS NULL))
);

-- Allowance of members holding a role; a member gets the highest of their roles (-1 wins).
CREATE TABLE quota_roles (
    guild_id INTEGER NOT NULL,
    role_id  INTEGER NOT NULL,
    images   INTEGER NOT NULL CHECK (images >= -1),
    PRIMARY KEY (guild_id, role_id)
) WITHOUT ROWID;

-- Per-member override, above roles and the server default.
CREATE TABLE quota_members (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    images   INTEGER NOT NULL CHECK (images >= -1),
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

-- One-off bonus credits, spent only after the window's allowance. Rows are never deleted, so
-- a refund always finds the row it gives credits back to.
CREATE TABLE quota_bonus (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    balance  INTEGER NOT NULL CHECK (balance >= 0),
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

-- The ledger. from_* is the split taken when the job reserved (never changes); charged_* is
-- what the row costs now: the reservation while in flight, the delivered images once final
-- (allowance first, so bonus is given back first). A reset sets forgiven: the row no longer
-- counts against the member's allowance, but still against the caps.
CREATE TABLE quota_reservations (
    job_id            TEXT    NOT NULL UNIQUE,
    guild_id          INTEGER NOT NULL,
    user_id           INTEGER NOT NULL,
    state             TEXT    NOT NULL DEFAULT 'reserved'
                      CHECK (state IN ('reserved', 'settled', 'refunded')),
    count             INTEGER NOT NULL CHECK (count > 0),
    from_allowance    INTEGER NOT NULL CHECK (from_allowance >= 0),
    from_bonus        INTEGER NOT NULL CHECK (from_bonus >= 0),
    charged_allowance INTEGER NOT NULL CHECK (charged_allowance BETWEEN 0 AND from_allowance),
    charged_bonus     INTEGER NOT NULL CHECK (charged_bonus BETWEEN 0 AND from_bonus),
    delivered         INTEGER,                                     -- NULL while reserved
    forgiven          INTEGER NOT NULL DEFAULT 0 CHECK (forgiven IN (0, 1)),
    created_at        REAL    NOT NULL,                            -- Unix seconds
    final_at          REAL,
    CHECK (from_allowance + from_bonus = count),
    CHECK ((state = 'reserved') = (delivered IS NULL)),
    CHECK (delivered IS NULL OR delivered = charged_allowance + charged_bonus),
    CHECK (state <> 'refunded' OR delivered = 0)
);
-- a reset: the member's unforgiven rows in a window
CREATE INDEX quota_member_rows ON quota_reservations (guild_id, user_id, created_at)
    WHERE forgiven = 0;
-- images in flight, per member and after a crash
CREATE INDEX quota_in_flight ON quota_reservations (guild_id, user_id, count)
    WHERE state = 'reserved';

-- Hourly totals (hour = floor(created_at / 3600)) of what the ledger charges, for the hot
-- queries: a member's allowance usage in a window (forgiven rows left out), a server's usage
-- in its cap's window, and every server's usage in a UTC day.
CREATE TABLE quota_member_hours (
    guild_id INTEGER NOT NULL,
    user_id  INTEGER NOT NULL,
    hour     INTEGER NOT NULL,
    images   INTEGER NOT NULL CHECK (images >= 0),
    PRIMARY KEY (guild_id, user_id, hour)
) WITHOUT ROWID;

CREATE TABLE quota_server_hours (
    guild_id INTEGER NOT NULL,
    hour     INTEGER NOT NULL,
    images   INTEGER NOT NULL CHECK (images >= 0),
    PRIMARY KEY (guild_id, hour)
) WITHOUT ROWID;

CREATE TABLE quota_global_hours (
    hour   INTEGER PRIMARY KEY,
    images INTEGER NOT NULL CHECK (images >= 0)
);

-- The triggers below are the only writers of the hourly totals and of balance changes caused
-- by jobs, so no code path can charge or refund without the ledger saying so:
--   member hours = SUM(charged_allowance) of unforgiven rows, server and global hours =
--   SUM(charged_allowance + charged_bonus), balance + SUM(charged_bonus) = credits granted.
-- A statement must not change the charges and forgiven of a row at once (none does).

CREATE TRIGGER quota_charged AFTER INSERT ON quota_reservations
BEGIN
    INSERT INTO quota_member_hours (guild_id, user_id, hour, images)
    VALUES (NEW.guild_id, NEW.user_id, CAST(NEW.created_at / 3600 AS INTEGER),
            NEW.charged_allowance)
    ON CONFLICT (guild_id, user_id, hour) DO UPDATE SET images = images + excluded.images;
    INSERT INTO quota_server_hours (guild_id, hour, images)
    VALUES (NEW.guild_id, CAST(NEW.created_at / 3600 AS INTEGER),
            NEW.charged_allowance + NEW.charged_bonus)
    ON CONFLICT (guild_id, hour) DO UPDATE SET images = images + excluded.images;
    INSERT INTO quota_global_hours (hour, images)
    VALUES (CAST(NEW.created_at / 3600 AS INTEGER), NEW.charged_allowance + NEW.charged_bonus)
    ON CONFLICT (hour) DO UPDATE SET images = images + excluded.images;
    UPDATE quota_bonus SET balance = balance - NEW.charged_bonus
    WHERE NEW.charged_bonus > 0 AND guild_id = NEW.guild_id AND user_id = NEW.user_id;
    SELECT RAISE(ABORT, 'bonus spent without a balance')
    WHERE NEW.charged_bonus > 0 AND changes() = 0;
END;

CREATE TRIGGER quota_recharged AFTER UPDATE OF charged_allowance, charged_bonus
ON quota_reservations
BEGIN
    UPDATE quota_member_hours SET images = images - OLD.charged_allowance + NEW.charged_allowance
    WHERE NEW.forgiven = 0 AND guild_id = NEW.guild_id AND user_id = NEW.user_id
      AND hour = CAST(NEW.created_at / 3600 AS INTEGER);
    UPDATE quota_server_hours
    SET images = images - OLD.charged_allowance - OLD.charged_bonus
                        + NEW.charged_allowance + NEW.charged_bonus
    WHERE guild_id = NEW.guild_id AND hour = CAST(NEW.created_at / 3600 AS INTEGER);
    UPDATE quota_global_hours
    SET images = images - OLD.charged_allowance - OLD.charged_bonus
                        + NEW.charged_allowance + NEW.charged_bonus
    WHERE hour = CAST(NEW.created_at / 3600 AS INTEGER);
    UPDATE quota_bonus SET balance = balance + OLD.charged_bonus - NEW.charged_bonus
    WHERE OLD.charged_bonus <> NEW.charged_bonus
      AND guild_id = NEW.guild_id AND user_id = NEW.user_id;
    SELECT RAISE(ABORT, 'bonus returned without a balance')
    WHERE OLD.charged_bonus <> NEW.charged_bonus AND changes() = 0;
END;

CREATE TRIGGER quota_forgiven AFTER UPDATE OF forgiven ON quota_reservations
WHEN OLD.forgiven = 0 AND NEW.forgiven = 1
BEGIN
    UPDATE quota_member_hours SET images = images - NEW.charged_allowance
    WHERE guild_id = NEW.guild_id AND user_id = NEW.user_id
      AND hour = CAST(NEW.created_at / 3600 AS INTEGER);
END;

-- A final reservation is final: settling or refunding it again must change nothing.
CREATE TRIGGER quota_final BEFORE UPDATE OF state, delivered, charged_allowance, charged_bonus
ON quota_reservations
WHEN OLD.state <> 'reserved'
BEGIN
    SELECT RAISE(ABORT, 'a final reservation cannot change');
END;
