-- Result messages: sequences posted in a thread, reply-to-edit origins, button lineage, deletion.
ALTER TABLE jobs ADD COLUMN thread_id INTEGER;                 -- thread created from the result
ALTER TABLE jobs ADD COLUMN posted INTEGER NOT NULL DEFAULT 0; -- images already posted in it
ALTER TABLE jobs ADD COLUMN reply_to_id INTEGER;               -- reply-to-edit: member's message
ALTER TABLE jobs ADD COLUMN parent_id TEXT;                    -- job whose button started this one
ALTER TABLE jobs ADD COLUMN deleted_at REAL;                   -- result deleted from Discord
