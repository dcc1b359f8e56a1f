-- Self-contained tokens: the access-token format and DPoP requirement of a
-- client and the resources (RFC 8707) it may ask tokens for; the audience
-- and DPoP key binding (RFC 9449 cnf.jkt) of each token and grant; and the
-- signing keys of JWT access tokens, their private halves sealed with the
-- operator's key-encryption key. Times are INTEGER unix microseconds.

-- +goose Up
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'opaque'
    CHECK (access_token_format IN ('opaque', 'jwt'));
ALTER TABLE clients ADD COLUMN require_dpop INTEGER NOT NULL DEFAULT 0 CHECK (require_dpop IN (0, 1));
ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]'; -- JSON array of absolute URIs

ALTER TABLE tokens ADD COLUMN audience TEXT NOT NULL DEFAULT ''; -- space-delimited
ALTER TABLE tokens ADD COLUMN jkt TEXT NOT NULL DEFAULT '';      -- '' when not DPoP-bound
ALTER TABLE grants ADD COLUMN audience TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN jkt TEXT NOT NULL DEFAULT '';      -- binds the refresh token

CREATE TABLE signing_keys (
    kid             TEXT    NOT NULL PRIMARY KEY, -- the RFC 7638 thumbprint
    alg             TEXT    NOT NULL,
    public_jwk      TEXT    NOT NULL,             -- JSON
    sealed_private  BLOB    NOT NULL,             -- AEAD-sealed PKCS #8
    created_at      INTEGER NOT NULL,
    active_at       INTEGER NOT NULL,             -- signs from then on
    retired_at      INTEGER NOT NULL DEFAULT 0,   -- signs until then; 0: not retired
    published_until INTEGER NOT NULL DEFAULT 0    -- in the JWKS until then; 0: indefinitely
) STRICT;

-- Revoking a user ends the device authorizations approved for them.
CREATE INDEX device_grants_username ON device_grants (username);

-- +goose Down
DROP INDEX device_grants_username;
DROP TABLE signing_keys;
ALTER TABLE grants DROP COLUMN jkt;
ALTER TABLE grants DROP COLUMN audience;
ALTER TABLE tokens DROP COLUMN jkt;
ALTER TABLE tokens DROP COLUMN audience;
ALTER TABLE clients DROP COLUMN resources;
ALTER TABLE clients DROP COLUMN require_dpop;
ALTER TABLE clients DROP COLUMN access_token_format;
