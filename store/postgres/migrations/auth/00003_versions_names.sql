-- Two guards against races between administrators, logins and the store,
-- as on store/sqlite.
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
-- racing creations, where a check before the insert could not (under READ
-- COMMITTED neither would see the other's uncommitted row). Should an older
-- database hold such a pair already, the user keeps the name here, and the
-- client takes it over when the user is deleted, so that the name is never
-- free while one of them holds it.

-- +goose Up
ALTER TABLE users ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN version bigint NOT NULL DEFAULT 1;
-- Only the existing rows start at 1: a replica of an older release, which
-- knows no version, fails to create a user or client instead of creating
-- one at a version that repeats (see store.NewVersion).
ALTER TABLE users ALTER COLUMN version DROP DEFAULT;
ALTER TABLE clients ALTER COLUMN version DROP DEFAULT;

CREATE TABLE names (
    name text COLLATE "C" NOT NULL PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('user', 'client'))
);

INSERT INTO names (name, kind) SELECT username, 'user' FROM users;
INSERT INTO names (name, kind) SELECT id, 'client' FROM clients
ON CONFLICT DO NOTHING;

-- +goose StatementBegin
CREATE FUNCTION user_name_follows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO names (name, kind) VALUES (NEW.username, 'user');
    ELSE
        DELETE FROM names WHERE name = OLD.username AND kind = 'user';
        INSERT INTO names (name, kind)
        SELECT OLD.username, 'client' WHERE EXISTS (SELECT 1 FROM clients WHERE id = OLD.username)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION client_name_follows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO names (name, kind) VALUES (NEW.id, 'client');
    ELSE
        DELETE FROM names WHERE name = OLD.id AND kind = 'client';
        INSERT INTO names (name, kind)
        SELECT OLD.id, 'user' WHERE EXISTS (SELECT 1 FROM users WHERE username = OLD.id)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER users_name AFTER INSERT OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION user_name_follows();
CREATE TRIGGER clients_name AFTER INSERT OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION client_name_follows();

-- +goose Down
DROP TRIGGER clients_name ON clients;
DROP TRIGGER users_name ON users;
DROP FUNCTION client_name_follows();
DROP FUNCTION user_name_follows();
DROP TABLE names;
ALTER TABLE clients DROP COLUMN version;
ALTER TABLE users DROP COLUMN version;
