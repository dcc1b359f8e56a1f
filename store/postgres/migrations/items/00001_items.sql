-- The resource service's tables, versioned in items_schema_version. IF NOT
-- EXISTS: a database created before the services' schemas were split already
-- has them, from version 1 of the combined schema in goose_db_version.

-- +goose Up
CREATE TABLE IF NOT EXISTS items (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    owner      text COLLATE "C" NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS items_owner_created_at ON items (owner, created_at DESC, id DESC);

-- +goose Down
DROP TABLE items;
