-- Browser and device login: what clients register for it, and what the
-- server keeps between the steps of a login. Every value a browser or a
-- device holds (code, device code, user code, session cookie) is stored as
-- its hex SHA-256 only. Times are INTEGER unix microseconds, as elsewhere.

-- +goose Up
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]'; -- JSON array of strings
ALTER TABLE clients ADD COLUMN first_party INTEGER NOT NULL DEFAULT 0 CHECK (first_party IN (0, 1));

-- Authorization codes (RFC 6749 §4.1.2), kept after redemption until they
-- expire so that a second redemption is recognised.
CREATE TABLE auth_codes (
    hash         TEXT    NOT NULL PRIMARY KEY,
    client_id    TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    username     TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    user_version INTEGER NOT NULL,
    redirect_uri TEXT    NOT NULL,
    challenge    TEXT    NOT NULL, -- the S256 code_challenge
    scope        TEXT    NOT NULL DEFAULT '',
    family_id    TEXT    NOT NULL, -- the grant its tokens start
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    redeemed     INTEGER NOT NULL DEFAULT 0 CHECK (redeemed IN (0, 1))
) STRICT;
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);
CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_username ON auth_codes (username);

-- Device authorizations (RFC 8628 §3). username is empty until approved.
CREATE TABLE device_grants (
    hash           TEXT    NOT NULL PRIMARY KEY, -- of the device_code
    user_code_hash TEXT    NOT NULL UNIQUE,
    client_id      TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope          TEXT    NOT NULL DEFAULT '',
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    interval_us    INTEGER NOT NULL, -- least time between polls, microseconds
    last_polled_at INTEGER NOT NULL DEFAULT 0, -- 0 before the first poll
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    username       TEXT    NOT NULL DEFAULT '',
    user_version   INTEGER NOT NULL DEFAULT 0,
    family_id      TEXT    NOT NULL
) STRICT;
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);
CREATE INDEX device_grants_client_id ON device_grants (client_id);

-- Sign-in sessions of the login page (the session cookie).
CREATE TABLE sessions (
    hash         TEXT    NOT NULL PRIMARY KEY,
    username     TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    user_version INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_username ON sessions (username);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- What each user has allowed each client.
CREATE TABLE consents (
    username   TEXT    NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    granted_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (username, client_id)
) STRICT;
CREATE INDEX consents_client_id ON consents (client_id);
CREATE INDEX consents_expires_at ON consents (expires_at);

-- +goose Down
DROP TABLE consents;
DROP TABLE sessions;
DROP TABLE device_grants;
DROP TABLE auth_codes;
ALTER TABLE clients DROP COLUMN first_party;
ALTER TABLE clients DROP COLUMN redirect_uris;
