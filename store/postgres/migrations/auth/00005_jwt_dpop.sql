-- Self-contained tokens: the access-token format and DPoP requirement of a
-- client and the resources (RFC 8707) it may ask tokens for; the audience
-- and DPoP key binding (RFC 9449 cnf.jkt) of each token and grant; and the
-- signing keys of JWT access tokens, their private halves sealed with the
-- operator's key-encryption key.

-- +goose Up
ALTER TABLE clients ADD COLUMN access_token_format text NOT NULL DEFAULT 'opaque'
    CHECK (access_token_format IN ('opaque', 'jwt'));
ALTER TABLE clients ADD COLUMN require_dpop boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN resources text[] NOT NULL DEFAULT '{}';

ALTER TABLE tokens ADD COLUMN audience text NOT NULL DEFAULT ''; -- space-delimited
ALTER TABLE tokens ADD COLUMN jkt text NOT NULL DEFAULT '';      -- '' when not DPoP-bound
ALTER TABLE grants ADD COLUMN audience text NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN jkt text NOT NULL DEFAULT '';      -- binds the refresh token

CREATE TABLE signing_keys (
    kid             text COLLATE "C" NOT NULL PRIMARY KEY, -- the RFC 7638 thumbprint
    alg             text  NOT NULL,
    public_jwk      text  NOT NULL,            -- JSON
    sealed_private  bytea NOT NULL,            -- AEAD-sealed PKCS #8
    created_at      timestamptz NOT NULL,
    active_at       timestamptz NOT NULL,      -- signs from then on
    retired_at      timestamptz,               -- signs until then; NULL: not retired
    published_until timestamptz                -- in the JWKS until then; NULL: indefinitely
);

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
