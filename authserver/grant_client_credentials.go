package authserver

import (
	"context"
	"fmt"

	"github.com/example/authsvc/authserver/internal/issuer"
)

// clientCredentialsGrant is RFC 6749 §4.4: the client acts on its own
// behalf, and gets no refresh token (§4.4.3).
type clientCredentialsGrant struct{ s *server }

func (g clientCredentialsGrant) issue(ctx context.Context, req tokenRequest) (issuer.Issued, error) {
	scope, err := grantScope(req.form.Get("scope"), req.client.Scopes)
	if err != nil {
		return issuer.Issued{}, err
	}
	issued, err := g.s.issuer.Issue(context.WithoutCancel(ctx), issuer.Grant{Client: req.client, Secret: req.secret, Scope: scope, Binding: req.binding})
	if err != nil {
		return issuer.Issued{}, fmt.Errorf("issue client credentials grant: %w", err)
	}
	return issued, nil
}
