-- ListItems pages by (created_at, id), newest first: an index in that order
-- serves each page from the cursor on, ties included, without sorting. It
-- also serves the per-owner count of CreateItem's quota.

-- +goose Up
CREATE INDEX items_owner_created_at_id ON items (owner, created_at DESC, id DESC);
DROP INDEX IF EXISTS items_owner_created_at;

-- +goose Down
CREATE INDEX items_owner_created_at ON items (owner, created_at);
DROP INDEX items_owner_created_at_id;
