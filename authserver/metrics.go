package authserver

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/store"
)

// metrics are the authorization server's domain metrics. Their label
// values are bounded sets: grant types the registry knows and the two
// throttle reasons; never a username, client id or token.
type metrics struct {
	http             *obs.HTTPMetrics
	tokensIssued     *prometheus.CounterVec
	loginFailures    prometheus.Counter
	lockouts         prometheus.Counter
	lockedRefusals   prometheus.Counter
	refreshReuse     prometheus.Counter
	passwordInFlight prometheus.Gauge
	passwordWait     prometheus.Histogram
	throttled        *prometheus.CounterVec
	// Browser and device login.
	pageLogins          *prometheus.CounterVec // by result
	authorizationEvents *prometheus.CounterVec // by event (authorizationEvents)
	// Self-contained and bound tokens.
	accessTokens *prometheus.CounterVec // by format (opaque, jwt) and token_type (bearer, dpop)
	dpopRefused  *prometheus.CounterVec // by reason (dpop.Reason, or missing)
}

// Throttle reasons, the values of authsvc_throttled_total{reason}.
const (
	reasonThrottled = "throttled" // 429: the source used up its failures
	reasonBusy      = "busy"      // 503: no password-check slot
)

// newMetrics registers the metrics with reg; with a nil reg they count
// unregistered, so the code that counts never checks.
func newMetrics(reg prometheus.Registerer) *metrics {
	ns := obs.Namespace
	m := &metrics{
		http: obs.NewHTTPMetrics(reg),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "tokens_issued_total",
			Help: "Token responses issued, by grant type."}, []string{"grant_type"}),
		loginFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "login_failures_total",
			Help: "Password grant attempts refused for bad credentials (unknown user, wrong password, disabled or locked user)."}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "lockouts_total",
			Help: "Lockouts started: password attempts that reached the failure threshold and locked their username."}),
		lockedRefusals: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "login_locked_refusals_total",
			Help: "Password attempts refused, without a password check, because their username is locked."}),
		refreshReuse: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "refresh_reuse_detected_total",
			Help: "Spent refresh tokens presented again; each revoked its grant."}),
		passwordInFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "password_checks_in_flight",
			Help: "Password checks holding a slot of the password pool."}),
		passwordWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "password_check_wait_seconds",
			Help:    "Time password checks waited for a slot, including those that gave up.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2, 5}}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "throttled_total",
			Help: "Requests refused for load: reason throttled (429) or busy (503)."}, []string{"reason"}),
		pageLogins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "page_logins_total",
			Help: "Logins at the sign-in page (/authorize, /device), by result (succeeded, failed); failures count in login_failures_total too."}, []string{"result"}),
		authorizationEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "authorization_events_total",
			Help: "Browser and device login events (consents, codes issued, redeemed and reused, device approvals, logouts), by event."}, []string{"event"}),
		accessTokens: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "access_tokens_issued_total",
			Help: "Access tokens issued at the token endpoint, by format (opaque, jwt) and token_type (bearer, dpop)."}, []string{"format", "token_type"}),
		dpopRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dpop_proofs_refused_total",
			Help: "Token requests refused for their DPoP proof, by reason (missing, malformed, typ, alg, jwk, signature, claims, htm, htu, iat, replay, jkt, ...)."}, []string{"reason"}),
	}
	for _, f := range store.AccessTokenFormats {
		for _, tt := range []string{"bearer", "dpop"} {
			m.accessTokens.WithLabelValues(f, tt)
		}
	}
	for _, g := range store.GrantTypes {
		m.tokensIssued.WithLabelValues(g)
	}
	for _, r := range []string{"succeeded", "failed"} {
		m.pageLogins.WithLabelValues(r)
	}
	for _, e := range authorizationEvents {
		m.authorizationEvents.WithLabelValues(e)
	}
	for _, r := range []string{reasonThrottled, reasonBusy} {
		m.throttled.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.tokensIssued, m.loginFailures, m.lockouts, m.lockedRefusals, m.refreshReuse,
			m.passwordInFlight, m.passwordWait, m.throttled, m.pageLogins, m.authorizationEvents,
			m.accessTokens, m.dpopRefused)
	}
	return m
}
