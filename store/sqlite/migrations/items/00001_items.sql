-- The resource service's tables, versioned in items_schema_version. IF NOT
-- EXISTS: a database created before the services' schemas were split already
-- has them, from version 1 of the combined schema in goose_db_version.

-- +goose Up
CREATE TABLE IF NOT EXISTS items (
    id         TEXT    NOT NULL PRIMARY KEY,
    owner      TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX IF NOT EXISTS items_owner_created_at ON items (owner, created_at);

-- +goose Down
DROP TABLE items;
