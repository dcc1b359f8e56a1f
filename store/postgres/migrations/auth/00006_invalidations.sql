-- Announce every change that can end a token, in the transaction that makes
-- it, on the LISTEN/NOTIFY channel authsvc_invalidate (store.Invalidation):
-- each replica's introspection cache (store/cached) drops what the payload
-- names when the transaction commits, whichever replica, authctl or manual
-- statement made the change. Triggers rather than the Go code that writes,
-- so that no write path can forget to announce itself.
--
-- Payloads: 't:' || token hash, 'g:' || grant (family) id, 'u:' || username,
-- 'c:' || client id. A cascade (deleting a client deletes its tokens) fires
-- the triggers of the rows it deletes too.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION authsvc_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV: the payload's kind, and the column that holds its key.
    PERFORM pg_notify('authsvc_invalidate', TG_ARGV[0] || ':' || (to_jsonb(OLD) ->> TG_ARGV[1]));
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tokens_invalidate AFTER UPDATE OR DELETE ON tokens
    FOR EACH ROW EXECUTE FUNCTION authsvc_invalidate('t', 'hash');
CREATE TRIGGER grants_invalidate AFTER UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION authsvc_invalidate('g', 'id');
CREATE TRIGGER users_invalidate AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION authsvc_invalidate('u', 'username');
CREATE TRIGGER clients_invalidate AFTER UPDATE OR DELETE ON clients
    FOR EACH ROW EXECUTE FUNCTION authsvc_invalidate('c', 'id');

-- +goose Down
DROP TRIGGER clients_invalidate ON clients;
DROP TRIGGER users_invalidate ON users;
DROP TRIGGER grants_invalidate ON grants;
DROP TRIGGER tokens_invalidate ON tokens;
DROP FUNCTION authsvc_invalidate();
