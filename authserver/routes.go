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
	mux.Handle("GET /.well-known/jwks.json", serve(s.handleJWKS))
	mux.Handle("GET /healthz", serve(s.handleHealthz))
	mux.Handle("GET /readyz", serve(s.handleReadyz))
	mux.Handle("POST /device_authorization", serve(s.handleDeviceAuthorization))
	mux.Handle("GET /revocations", serve(s.handleRevocations))

	// The sign-in pages: their forms are refused cross-origin, and their
	// refusals are pages.
	page := s.servePage
	mux.Handle("GET /authorize", page(s.handleAuthorize))
	// GET would also answer HEAD, and a GET of a signed-in browser can
	// issue a code: HEAD must change nothing.
	mux.Handle("HEAD /authorize", serve(methodNotAllowed("GET, POST")))
	mux.Handle("POST /authorize", s.crossOrigin(page(s.handleAuthorizePost)))
	mux.Handle("GET /device", page(s.handleDevicePage))
	mux.Handle("POST /device", s.crossOrigin(page(s.handleDevice)))
	mux.Handle("GET /logout", page(s.handleLogoutPage))
	mux.Handle("POST /logout", s.crossOrigin(page(s.handleLogout)))
	mux.HandleFunc("GET /assets/style.css", handleStyle)

	// The same paths with another method, and unknown paths, get JSON
	// errors rather than the mux's plain text.
	mux.Handle("/authorize", serve(methodNotAllowed("GET, POST")))
	for _, p := range []string{"/device", "/logout"} {
		mux.Handle(p, serve(methodNotAllowed("GET, HEAD, POST")))
	}
	for _, p := range []string{"/token", "/introspect", "/revoke", "/device_authorization"} {
		mux.Handle(p, serve(methodNotAllowed("POST")))
	}
	for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/jwks.json", "/healthz", "/readyz", "/assets/style.css", "/revocations"} {
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
