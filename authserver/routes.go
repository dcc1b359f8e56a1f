package authserver

import "net/http"

// routes lists every endpoint of the authorization server.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	serve := s.render.serve

	mux.Handle("POST /token", serve(s.handleToken))
	mux.Handle("POST /introspect", serve(s.handleIntrospect))
	mux.Handle("POST /revoke", serve(s.handleRevoke))
	mux.Handle("GET /.well-known/oauth-authorization-server", serve(s.handleMetadata))
	mux.Handle("GET /healthz", serve(s.handleHealthz))
	mux.Handle("GET /readyz", serve(s.handleReadyz))

	// The same paths with another method, and unknown paths, get JSON
	// errors rather than the mux's plain text.
	for _, p := range []string{"/token", "/introspect", "/revoke"} {
		mux.Handle(p, serve(methodNotAllowed("POST")))
	}
	for _, p := range []string{"/.well-known/oauth-authorization-server", "/healthz", "/readyz"} {
		mux.Handle(p, serve(methodNotAllowed("GET, HEAD")))
	}
	mux.Handle("/", serve(func(w http.ResponseWriter, r *http.Request) error {
		return &oauthError{status: http.StatusNotFound, code: "not_found", description: "no such endpoint"}
	}))

	return s.observe(mux)
}

func methodNotAllowed(allow string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return &oauthError{
			status:      http.StatusMethodNotAllowed,
			code:        "invalid_request",
			description: "method not allowed; use " + allow,
			allow:       allow,
		}
	}
}
