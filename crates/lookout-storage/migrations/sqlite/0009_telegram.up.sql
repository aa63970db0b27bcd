-- Telegram as a channel people act from (issue #6). A Telegram account
-- (its numeric user id, `from.id`) is linked to one Lookout user, who is
-- who a button press acts as; a Lookout user may link several. Linking
-- goes through a one-time code the account page makes and the bot
-- receives (`/link CODE`): only its SHA-256 is stored, it expires after
-- ten minutes and is deleted when used. Where each bot's getUpdates
-- stands is an `alert_cursors` row (`telegram:<bot id>`).
CREATE TABLE telegram_links (
    telegram_user_id INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- `@username` or the first name, as Telegram said when linking
    display_name     TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL
);
CREATE INDEX telegram_links_by_user ON telegram_links(user_id);

CREATE TABLE telegram_link_codes (
    code_hash  TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX telegram_link_codes_by_user ON telegram_link_codes(user_id);
