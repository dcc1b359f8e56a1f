package authserver

import (
	"net/http"

	"github.com/rs/cors"
)

// cors lets browser clients from cfg.CORSOrigins call the endpoints a
// browser client uses: /token, /revoke and the metadata. /introspect is
// for resource servers, never browsers, and gets no CORS headers. With no
// origins configured it adds nothing.
func (s *server) cors(next http.Handler) http.Handler {
	if len(s.cfg.CORSOrigins) == 0 {
		return next
	}
	post, get := newCORS(s.cfg.CORSOrigins, http.MethodPost), newCORS(s.cfg.CORSOrigins, http.MethodGet, http.MethodHead)
	postHandler, getHandler := post.Handler(next), get.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token", "/revoke":
			postHandler.ServeHTTP(w, r)
		case "/.well-known/oauth-authorization-server":
			getHandler.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// newCORS allows origins to use methods with the Authorization and
// Content-Type request headers; a preflight is answered 204.
func newCORS(origins []string, methods ...string) *cors.Cors {
	return cors.New(cors.Options{
		AllowedOrigins:       origins,
		AllowedMethods:       methods,
		AllowedHeaders:       []string{"Authorization", "Content-Type"},
		OptionsSuccessStatus: http.StatusNoContent,
	})
}
