-- The authorization server's tables. Version 1 of goose_db_version: a
-- database created before the services' schemas were split holds these
-- tables (and items) under version 1 already, and so applies nothing here.
--
-- The same tables as store/sqlite, in PostgreSQL's own types: timestamptz
-- (microsecond precision, the precision store/storetest requires), boolean,
-- bytea and text[].
--
-- Keys and listed columns use COLLATE "C" so that ORDER BY is byte order, as
-- the contract's "by username" / "by id" lists are on SQLite, whatever
-- locale the cluster was created with (and comparisons skip ICU/libc).

-- +goose Up
CREATE TABLE users (
    username      text COLLATE "C" NOT NULL PRIMARY KEY,
    password_hash bytea,
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE clients (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    secret_hash bytea, -- NULL for public clients
    grant_types text[]      NOT NULL DEFAULT '{}',
    scopes      text[]      NOT NULL DEFAULT '{}',
    introspect  boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);

CREATE TABLE tokens (
    hash       text COLLATE "C" NOT NULL PRIMARY KEY, -- hex SHA-256 of the token value
    kind       text        NOT NULL CHECK (kind IN ('access_token', 'refresh_token')),
    family_id  text COLLATE "C" NOT NULL,
    client_id  text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    username   text        NOT NULL DEFAULT '', -- empty for client-credentials tokens
    scope      text        NOT NULL DEFAULT '',
    issued_at  timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    rotated    boolean     NOT NULL DEFAULT false
);

-- Reuse detection and revocation delete by family; the sweeper by expiry;
-- deleting a client cascades by client_id (PostgreSQL does not index the
-- referencing side of a foreign key by itself).
CREATE INDEX tokens_family_id ON tokens (family_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);
CREATE INDEX tokens_client_id ON tokens (client_id);

-- One row per username with recent failed (or in-flight) password attempts.
CREATE TABLE logins (
    username     text COLLATE "C" NOT NULL PRIMARY KEY,
    failures     integer     NOT NULL, -- attempts counted since the last lock or success
    lockouts     integer     NOT NULL, -- locks so far; each doubles the next one
    locked_until timestamptz,          -- NULL when never locked
    updated_at   timestamptz NOT NULL
);

CREATE INDEX logins_updated_at ON logins (updated_at);

-- +goose Down
DROP TABLE logins;
DROP TABLE tokens;
DROP TABLE clients;
DROP TABLE users;
