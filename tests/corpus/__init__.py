"""The bad-input corpus: prompts and attachments a member might send, each with what must happen."""
