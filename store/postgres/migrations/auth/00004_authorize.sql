-- Browser and device login: what clients register for it, and what the
-- server keeps between the steps of a login. Every value a browser or a
-- device holds (code, device code, user code, session cookie) is stored as
-- its hex SHA-256 only. Times are timestamptz; keys COLLATE "C" as elsewhere.

-- +goose Up
ALTER TABLE clients ADD COLUMN redirect_uris text[] NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN first_party boolean NOT NULL DEFAULT false;

-- Authorization codes (RFC 6749 §4.1.2), kept after redemption until they
-- expire so that a second redemption is recognised.
CREATE TABLE auth_codes (
    hash         text COLLATE "C" NOT NULL PRIMARY KEY,
    client_id    text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    username     text COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    user_version bigint  NOT NULL,
    redirect_uri text    NOT NULL,
    challenge    text    NOT NULL, -- the S256 code_challenge
    scope        text    NOT NULL DEFAULT '',
    family_id    text    NOT NULL, -- the grant its tokens start
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    redeemed     boolean NOT NULL DEFAULT false
);
CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);
CREATE INDEX auth_codes_client_id ON auth_codes (client_id);
CREATE INDEX auth_codes_username ON auth_codes (username);

-- Device authorizations (RFC 8628 §3). username is empty until approved.
CREATE TABLE device_grants (
    hash           text COLLATE "C" NOT NULL PRIMARY KEY, -- of the device_code
    user_code_hash text COLLATE "C" NOT NULL UNIQUE,
    client_id      text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scope          text    NOT NULL DEFAULT '',
    issued_at      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    interval_us    bigint  NOT NULL, -- least time between polls, microseconds
    last_polled_at timestamptz, -- NULL before the first poll
    status         text    NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    username       text    NOT NULL DEFAULT '',
    user_version   bigint  NOT NULL DEFAULT 0,
    family_id      text    NOT NULL
);
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);
CREATE INDEX device_grants_client_id ON device_grants (client_id);

-- Sign-in sessions of the login page (the session cookie).
CREATE TABLE sessions (
    hash         text COLLATE "C" NOT NULL PRIMARY KEY,
    username     text COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    user_version bigint  NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX sessions_username ON sessions (username);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- What each user has allowed each client.
CREATE TABLE consents (
    username   text COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    client_id  text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     text[]  NOT NULL DEFAULT '{}',
    granted_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (username, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);
CREATE INDEX consents_expires_at ON consents (expires_at);

-- +goose Down
DROP TABLE consents;
DROP TABLE sessions;
DROP TABLE device_grants;
DROP TABLE auth_codes;
ALTER TABLE clients DROP COLUMN first_party;
ALTER TABLE clients DROP COLUMN redirect_uris;
