-- PostgreSQL's migration 00006 announces every change on LISTEN/NOTIFY for
-- the other replicas' introspection caches. The embedded database has one
-- server process, which makes every change through its own cache
-- (store/cached), so there is nothing to announce: this version only keeps
-- the two schemas' version numbers in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
