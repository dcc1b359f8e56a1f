-- The authorization server's tables. Version 1 of goose_db_version: a
-- database created before the services' schemas were split holds these
-- tables (and items) under version 1 already, and so applies nothing here.
--
-- Times are INTEGER unix microseconds, UTC: they compare and sort as numbers,
-- and microseconds are what store/storetest requires every backend to keep.
-- STRICT makes SQLite reject a value of the wrong type instead of storing it.

-- +goose Up
CREATE TABLE users (
    username      TEXT    NOT NULL PRIMARY KEY,
    password_hash BLOB,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE clients (
    id          TEXT    NOT NULL PRIMARY KEY,
    secret_hash BLOB, -- NULL for public clients
    grant_types TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    scopes      TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    introspect  INTEGER NOT NULL DEFAULT 0 CHECK (introspect IN (0, 1)),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE tokens (
    hash       TEXT    NOT NULL PRIMARY KEY, -- hex SHA-256 of the token value
    kind       TEXT    NOT NULL CHECK (kind IN ('access_token', 'refresh_token')),
    family_id  TEXT    NOT NULL,
    client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    username   TEXT    NOT NULL DEFAULT '', -- empty for client-credentials tokens
    scope      TEXT    NOT NULL DEFAULT '',
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    rotated    INTEGER NOT NULL DEFAULT 0 CHECK (rotated IN (0, 1))
) STRICT;

-- Reuse detection and revocation delete by family; the sweeper by expiry.
CREATE INDEX tokens_family_id ON tokens (family_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
-- SQLite does not index the referencing side of a foreign key by itself.
CREATE INDEX tokens_client_id ON tokens (client_id);

-- One row per username with recent failed (or in-flight) password attempts.
CREATE TABLE logins (
    username     TEXT    NOT NULL PRIMARY KEY,
    failures     INTEGER NOT NULL, -- attempts counted since the last lock or success
    lockouts     INTEGER NOT NULL, -- locks so far; each doubles the next one
    locked_until INTEGER NOT NULL, -- 0 when never locked
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE INDEX logins_updated_at ON logins (updated_at);

-- +goose Down
DROP TABLE logins;
DROP TABLE tokens;
DROP TABLE clients;
DROP TABLE users;
