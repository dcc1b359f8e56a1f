-- Two guards against races between administrators, logins and the store.
--
-- A version on users and clients, moved on by every change of the record:
-- a token request checked against a record stores its tokens only if the
-- record is still at the version it read, in the same transaction as the
-- insert (store.Versions). Existing records start at 1; new ones at a
-- random version (store.NewVersion).
--
-- One table of every name a user or a client holds, kept by triggers: a
-- username must never equal a client id (a token's subject is one or the
-- other), and its primary key makes the database refuse the second of two
-- racing creations, where a check before the insert could not. Should an
-- older database hold such a pair already, the user keeps the name here,
-- and the client takes it over when the user is deleted, so that the name
-- is never free while one of them holds it.

-- +goose Up
ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

CREATE TABLE names (
    name TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'client'))
) STRICT;

INSERT INTO names (name, kind) SELECT username, 'user' FROM users;
INSERT INTO names (name, kind) SELECT id, 'client' FROM clients WHERE true
ON CONFLICT DO NOTHING;

-- +goose StatementBegin
CREATE TRIGGER users_name_taken AFTER INSERT ON users
BEGIN
    INSERT INTO names (name, kind) VALUES (NEW.username, 'user');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER users_name_freed AFTER DELETE ON users
BEGIN
    DELETE FROM names WHERE name = OLD.username AND kind = 'user';
    INSERT INTO names (name, kind)
    SELECT OLD.username, 'client' WHERE EXISTS (SELECT 1 FROM clients WHERE id = OLD.username);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER clients_name_taken AFTER INSERT ON clients
BEGIN
    INSERT INTO names (name, kind) VALUES (NEW.id, 'client');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER clients_name_freed AFTER DELETE ON clients
BEGIN
    DELETE FROM names WHERE name = OLD.id AND kind = 'client';
    INSERT INTO names (name, kind)
    SELECT OLD.id, 'user' WHERE EXISTS (SELECT 1 FROM users WHERE username = OLD.id)
    ON CONFLICT DO NOTHING;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER clients_name_freed;
DROP TRIGGER clients_name_taken;
DROP TRIGGER users_name_freed;
DROP TRIGGER users_name_taken;
DROP TABLE names;
ALTER TABLE clients DROP COLUMN version;
ALTER TABLE users DROP COLUMN version;
