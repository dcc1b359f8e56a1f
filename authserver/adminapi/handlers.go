package adminapi

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/store"
)

//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves the document without authentication: it describes the
// API and holds no data, and a tool may need it before it has a token. The
// listener itself is loopback or mutual TLS.
func (h *handler) openAPI(c *call) error {
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Cache-Control", "no-cache")
	_, err := c.w.Write(openAPIDocument)
	return err
}

// Users.

// userName is the {name} of the path; a name no user could have gets the
// answer an unknown one gets.
func userName(c *call) (string, error) {
	name := c.r.PathValue("name")
	if store.ValidateUsername(name) != nil {
		return "", store.ErrNotFound
	}
	return name, nil
}

func clientID(c *call, param string) (string, error) {
	id := c.r.PathValue(param)
	if store.ValidateClientID(id) != nil {
		return "", store.ErrNotFound
	}
	return id, nil
}

func (h *handler) listUsers(c *call) error {
	users, err := c.svc.Users(c.ctx())
	if err != nil {
		return err
	}
	return paginate(c, users, func(u store.User) string { return u.Username }, ViewUser)
}

func (h *handler) getUser(c *call) error {
	name, err := userName(c)
	if err != nil {
		return err
	}
	u, err := c.svc.User(c.ctx(), name)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, ViewUser(u))
}

func (h *handler) createUser(c *call) error {
	var req NewUser
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := c.svc.CreateUser(c.ctx(), req.Username, req.Password); err != nil {
		return err
	}
	u, err := c.svc.User(c.ctx(), req.Username)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", "/v1/users/"+url.PathEscape(req.Username))
	return writeJSON(c.w, http.StatusCreated, ViewUser(u))
}

func (h *handler) deleteUser(c *call) error {
	name, err := userName(c)
	if err != nil {
		return err
	}
	if err := c.svc.DeleteUser(c.ctx(), name); err != nil {
		return err
	}
	return noContent(c.w)
}

func (h *handler) setPassword(c *call) error {
	name, err := userName(c)
	if err != nil {
		return err
	}
	var req NewPassword
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if err := c.svc.SetPassword(c.ctx(), name, req.Password); err != nil {
		return err
	}
	return noContent(c.w)
}

func (h *handler) disableUser(c *call) error { return h.setDisabled(c, true) }
func (h *handler) enableUser(c *call) error  { return h.setDisabled(c, false) }

func (h *handler) setDisabled(c *call, disabled bool) error {
	name, err := userName(c)
	if err != nil {
		return err
	}
	changed, err := c.svc.SetDisabled(c.ctx(), name, disabled)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, Changed{Changed: changed})
}

func (h *handler) unlockUser(c *call) error {
	return h.userAction(c, c.svc.Unlock)
}

func (h *handler) revokeUser(c *call) error {
	return h.userAction(c, c.svc.RevokeUser)
}

func (h *handler) userAction(c *call, fn func(ctx context.Context, name string) error) error {
	name, err := userName(c)
	if err != nil {
		return err
	}
	if err := fn(c.ctx(), name); err != nil {
		return err
	}
	return noContent(c.w)
}

func (h *handler) revokeConsent(c *call) error {
	name, err := userName(c)
	if err != nil {
		return err
	}
	id, err := clientID(c, "client_id")
	if err != nil {
		return err
	}
	if err := c.svc.RevokeConsent(c.ctx(), name, id); err != nil {
		return err
	}
	return noContent(c.w)
}

// Clients.

func (h *handler) listClients(c *call) error {
	clients, err := c.svc.Clients(c.ctx())
	if err != nil {
		return err
	}
	return paginate(c, clients, func(cl store.Client) string { return cl.ID }, ViewClient)
}

func (h *handler) getClient(c *call) error {
	id, err := clientID(c, "id")
	if err != nil {
		return err
	}
	cl, err := c.svc.Client(c.ctx(), id)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, ViewClient(cl))
}

func (h *handler) createClient(c *call) error {
	var req NewRegisteredClient
	if err := decode(c, &req, false); err != nil {
		return err
	}
	nc := admin.NewClient{ID: req.ID, Public: req.Public, Secret: req.Secret, Grants: req.Grants, Scopes: req.Scopes,
		Introspect: req.Introspect, RedirectURIs: req.RedirectURIs, FirstParty: req.FirstParty,
		AccessTokenFormat: req.AccessTokenFormat, RequireDPoP: req.RequireDPoP, Resources: req.Resources}
	secret, err := c.svc.CreateClient(c.ctx(), nc)
	if err != nil {
		return err
	}
	cl, err := c.svc.Client(c.ctx(), req.ID)
	if err != nil {
		return err
	}
	c.w.Header().Set("Location", "/v1/clients/"+url.PathEscape(req.ID))
	return writeJSON(c.w, http.StatusCreated, CreatedClient{Client: ViewClient(cl), Secret: secret})
}

func (h *handler) updateClient(c *call) error {
	id, err := clientID(c, "id")
	if err != nil {
		return err
	}
	var req ClientChange
	if err := decode(c, &req, false); err != nil {
		return err
	}
	change := admin.ClientChange(req)
	if change == (admin.ClientChange{}) {
		return problem(http.StatusBadRequest, TypeInvalid, "nothing to change")
	}
	revoked, err := c.svc.UpdateClient(c.ctx(), id, change)
	if err != nil {
		return err
	}
	cl, err := c.svc.Client(c.ctx(), id)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, UpdatedClient{Client: ViewClient(cl), GrantsRevoked: revoked})
}

func (h *handler) deleteClient(c *call) error {
	return h.clientAction(c, c.svc.DeleteClient)
}

func (h *handler) revokeClient(c *call) error {
	return h.clientAction(c, c.svc.RevokeClient)
}

func (h *handler) clientAction(c *call, fn func(ctx context.Context, id string) error) error {
	id, err := clientID(c, "id")
	if err != nil {
		return err
	}
	if err := fn(c.ctx(), id); err != nil {
		return err
	}
	return noContent(c.w)
}

func (h *handler) rotateSecret(c *call) error {
	id, err := clientID(c, "id")
	if err != nil {
		return err
	}
	secret, err := c.svc.RotateSecret(c.ctx(), id)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusOK, RotatedSecret{Secret: secret})
}

// Keys.

func (h *handler) listKeys(c *call) error {
	list, err := c.svc.SigningKeys(c.ctx())
	if err != nil {
		return err
	}
	now := h.now()
	return paginate(c, list, keyOrder, func(k store.SigningKey) SigningKey { return ViewSigningKey(k, now) })
}

// keyOrder lists keys by activation, as the store and authctl do, then by
// kid: a fixed-width UTC time sorts as a string, so it can be a cursor.
func keyOrder(k store.SigningKey) string {
	return k.ActiveAt.UTC().Format("2006-01-02T15:04:05.000000000Z") + " " + k.ID
}

func (h *handler) rotateKey(c *call) error {
	req := KeyRotation{Alg: keys.ES256}
	if err := decode(c, &req, true); err != nil {
		return err
	}
	window := admin.DefaultPublishWindow
	if req.PublishFor != "" {
		d, err := time.ParseDuration(req.PublishFor)
		if err != nil {
			return problem(http.StatusBadRequest, TypeInvalid, "publish_for: want a duration such as 10m or 0s")
		}
		window = d
	}
	if req.Alg == "" {
		req.Alg = keys.ES256
	}
	k, err := c.svc.RotateSigningKey(c.ctx(), h.kek, req.Alg, window)
	if err != nil {
		return err
	}
	return writeJSON(c.w, http.StatusCreated, ViewSigningKey(k, h.now()))
}

func (h *handler) retireKey(c *call) error {
	kid := c.r.PathValue("kid")
	if kid == "" || len(kid) > store.MaxNameBytes {
		return store.ErrNotFound
	}
	var req KeyRetirement
	if err := decode(c, &req, true); err != nil {
		return err
	}
	if err := c.svc.RetireSigningKey(c.ctx(), kid, req.Compromised); err != nil {
		return err
	}
	return noContent(c.w)
}

// Migrations.

func (h *handler) migrations(c *call) error {
	st, err := h.status(c.ctx())
	if err != nil {
		return fmt.Errorf("migration status: %w", err)
	}
	return writeJSON(c.w, http.StatusOK, MigrationStatus{Schema: string(store.AuthSchema),
		Current: st.Current, Latest: st.Latest, Pending: st.Pending()})
}
