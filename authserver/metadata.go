package authserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/example/authsvc/store"
	"golang.org/x/sync/singleflight"
)

// metadataTTL is how long the metadata document is served from memory.
// Anyone may fetch it, and building it lists every client: without the
// cache, each anonymous GET was a scan of the clients table. A client
// added or changed shows in scopes_supported within this time.
const metadataTTL = 10 * time.Second

// metadataBuildTimeout bounds one build of the document.
const metadataBuildTimeout = 5 * time.Second

// metadata is the RFC 8414 authorization server metadata document.
type metadata struct {
	Issuer                   string   `json:"issuer"`
	AuthorizationEndpoint    string   `json:"authorization_endpoint"`
	DeviceEndpoint           string   `json:"device_authorization_endpoint"`
	TokenEndpoint            string   `json:"token_endpoint"`
	IntrospectionEndpoint    string   `json:"introspection_endpoint"`
	RevocationEndpoint       string   `json:"revocation_endpoint"`
	GrantTypes               []string `json:"grant_types_supported"`
	ResponseTypes            []string `json:"response_types_supported"`
	TokenAuthMethods         []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
	Scopes                   []string `json:"scopes_supported"`
	CodeChallengeMethods     []string `json:"code_challenge_methods_supported"`
	ResponseModes            []string `json:"response_modes_supported"`
	// RFC 9207: every authorization response carries iss.
	IssParameter bool `json:"authorization_response_iss_parameter_supported"`
	// JWKSURI publishes the keys of JWT access tokens (RFC 8414 §2).
	JWKSURI string `json:"jwks_uri"`
	// DPoPAlgs are the algorithms accepted in DPoP proofs (RFC 9449 §5.1).
	DPoPAlgs []string `json:"dpop_signing_alg_values_supported"`
}

// metadataCache holds the document's JSON and when it was built. A burst
// of requests after expiry builds it once (flight); the others wait for
// that build, which is bounded by metadataBuildTimeout.
type metadataCache struct {
	mu     sync.Mutex
	body   []byte
	built  time.Time
	flight singleflight.Group
}

func (c *metadataCache) fresh(now time.Time) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	age := now.Sub(c.built)
	return c.body, c.body != nil && age >= 0 && age < metadataTTL
}

func (c *metadataCache) set(body []byte, built time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.body, c.built = body, built
}

func (s *server) handleMetadata(w http.ResponseWriter, r *http.Request) error {
	body, ok := s.metadata.fresh(s.now())
	if !ok {
		// Do, not DoChan: a panic in the build then reaches the waiting
		// handlers, which recover it, rather than a bare goroutine.
		v, err, _ := s.metadata.flight.Do("", func() (any, error) {
			// The build is every waiting request's: it must not end
			// with the one that started it.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), metadataBuildTimeout)
			defer cancel()
			now := s.now()
			body, err := s.buildMetadata(ctx)
			if err == nil {
				s.metadata.set(body, now)
			}
			return body, err
		})
		if err != nil {
			return err
		}
		body = v.([]byte)
	}
	setJSONHeaders(w.Header())
	_, _ = w.Write(body)
	return nil
}

func (s *server) buildMetadata(ctx context.Context) ([]byte, error) {
	clients, err := s.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	scopes := []string{}
	for _, c := range clients {
		for _, sc := range c.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	slices.Sort(scopes)
	authMethods := []string{"client_secret_basic", "client_secret_post"}
	body, err := json.Marshal(metadata{
		Issuer:                   s.cfg.Issuer,
		AuthorizationEndpoint:    s.endpoint("/authorize"),
		DeviceEndpoint:           s.endpoint("/device_authorization"),
		TokenEndpoint:            s.endpoint("/token"),
		IntrospectionEndpoint:    s.endpoint("/introspect"),
		RevocationEndpoint:       s.endpoint("/revoke"),
		GrantTypes:               store.GrantTypes,
		ResponseTypes:            []string{"code"},
		ResponseModes:            []string{"query"},
		CodeChallengeMethods:     []string{"S256"},
		IssParameter:             true,
		TokenAuthMethods:         append(slices.Clone(authMethods), "none"),
		IntrospectionAuthMethods: authMethods,
		RevocationAuthMethods:    append(slices.Clone(authMethods), "none"),
		Scopes:                   scopes,
		JWKSURI:                  s.endpoint(jwksPath),
		DPoPAlgs:                 s.dpop.Algs(),
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return append(body, '\n'), nil
}
