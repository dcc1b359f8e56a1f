-- One record per grant (token family) instead of one row per refresh token
-- ever issued: the record holds the hash of the grant's current refresh
-- token, replaced in place on rotation, so a grant's rows stay O(1) however
-- often it is refreshed (the tokens table keeps access tokens only, at most
-- the current ones of a grant).
--
-- Existing data is converted, not dropped: the unrotated refresh token of
-- each family becomes its grant's current token (marked legacy: its value
-- does not name its grant), so clients keep refreshing with the tokens they
-- hold. A grant's start is taken as its oldest surviving token; rotated
-- refresh tokens stay in tokens, spent, until they expire, so their reuse
-- is still detected.

-- +goose Up
CREATE TABLE grants (
    id                 TEXT    NOT NULL PRIMARY KEY, -- the family id, named in its refresh tokens
    client_id          TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    username           TEXT    NOT NULL DEFAULT '', -- never empty in practice: no refresh tokens for client credentials
    scope              TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL, -- the grant's start; AUTH_GRANT_MAX_AGE counts from it
    generation         INTEGER NOT NULL DEFAULT 0, -- rotations so far
    refresh_hash       TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the current refresh token
    refresh_issued_at  INTEGER NOT NULL,
    refresh_expires_at INTEGER NOT NULL,
    legacy             INTEGER NOT NULL DEFAULT 0 CHECK (legacy IN (0, 1))
) STRICT;

CREATE INDEX grants_username ON grants (username);
CREATE INDEX grants_client_id ON grants (client_id);
CREATE INDEX grants_refresh_expires_at ON grants (refresh_expires_at);
-- Revoking a user's grants deletes their tokens by username.
CREATE INDEX tokens_username ON tokens (username);

INSERT INTO grants (id, client_id, username, scope, created_at, refresh_hash, refresh_issued_at, refresh_expires_at, legacy)
SELECT family_id, client_id, username, scope,
       (SELECT min(f.issued_at) FROM tokens f WHERE f.family_id = t.family_id),
       hash, issued_at, expires_at, 1
FROM tokens t
WHERE kind = 'refresh_token' AND rotated = 0
ON CONFLICT DO NOTHING;

DELETE FROM tokens WHERE hash IN (SELECT refresh_hash FROM grants);

-- +goose Down
INSERT INTO tokens (hash, kind, family_id, client_id, username, scope, issued_at, expires_at, rotated)
SELECT refresh_hash, 'refresh_token', id, client_id, username, scope, refresh_issued_at, refresh_expires_at, 0
FROM grants;
DROP INDEX tokens_username;
DROP TABLE grants;
