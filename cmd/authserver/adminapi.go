package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/adminapi"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/cmd/internal/ops"
	"github.com/example/authsvc/store"
)

// adminSettings are the admin API listener's: off unless addr is set.
type adminSettings struct {
	addr, tokenFile, clientCA string
}

func (a *adminSettings) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.addr, "admin-addr", "",
		"listen `address` of the admin API (loopback unless client certificates are required); empty or off: no admin API (AUTH_ADMIN_ADDR)")
	fs.StringVar(&a.tokenFile, "admin-token-file", "",
		"file of the SHA-256 hashes of admin API tokens, one \"ROLE NAME SHA256-HEX\" a line, ROLE admin or read (AUTH_ADMIN_TOKEN_FILE)")
	fs.StringVar(&a.clientCA, "admin-client-ca", "",
		"PEM CA file: the admin API requires a client certificate it signed, whose subject OU (admin or read) is the role (AUTH_ADMIN_CLIENT_CA)")
}

// on reports whether the admin API listener is configured.
func (a adminSettings) on() bool { return a.addr != "" && a.addr != "off" }

// validate reports every problem at once; serverTLS is whether the server
// has a certificate (AUTH_TLS_CERT) for the listener to serve.
func (a adminSettings) validate(serverTLS bool) error {
	if !a.on() {
		return nil
	}
	var problems []error
	if a.tokenFile == "" && a.clientCA == "" {
		problems = append(problems, errors.New("admin API: set an admin token file (AUTH_ADMIN_TOKEN_FILE) or a client CA (AUTH_ADMIN_CLIENT_CA)"))
	}
	// A token alone is one copied file away from every account: off this
	// machine, the listener also wants a client certificate.
	if a.clientCA == "" && !ops.Loopback(a.addr) {
		problems = append(problems, fmt.Errorf("admin API address %q is not loopback: listen on 127.0.0.1 or [::1], or require client certificates (AUTH_ADMIN_CLIENT_CA)", a.addr))
	}
	if a.clientCA != "" && !serverTLS {
		problems = append(problems, errors.New("admin API: client certificates (AUTH_ADMIN_CLIENT_CA) need the server's TLS certificate (AUTH_TLS_CERT, AUTH_TLS_KEY)"))
	}
	return errors.Join(problems...)
}

// newAdminServer builds the admin API's own server and listener, or
// returns nils when it is off. Its TLS, when client certificates are
// required, is the main listener's certificate with the client CA added.
func newAdminServer(logger *slog.Logger, c config, st store.AuthStore, kek *keys.KEK, tlsConfig *tls.Config) (*http.Server, net.Listener, error) {
	if !c.admin.on() {
		return nil, nil, nil
	}
	var tokens []adminapi.Token
	if c.admin.tokenFile != "" {
		var err error
		if tokens, err = adminapi.LoadTokens(c.admin.tokenFile); err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
	}
	var adminTLS *tls.Config
	if c.admin.clientCA != "" {
		pem, err := os.ReadFile(c.admin.clientCA)
		if err != nil {
			return nil, nil, fmt.Errorf("config: admin client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, errors.New("config: admin client CA: no PEM certificate in the file")
		}
		adminTLS = tlsConfig.Clone()
		adminTLS.ClientCAs = pool
		adminTLS.ClientAuth = tls.RequireAndVerifyClientCert
	}
	svc, err := admin.New(st, logger, c.bcryptCost)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	handler, err := adminapi.NewHandler(logger, svc, adminapi.Config{
		Tokens: tokens,
		KEK:    kek,
		MigrationStatus: func(ctx context.Context) (store.SchemaStatus, error) {
			return dbopen.MigrationStatus(ctx, c.db, store.AuthSchema)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", c.admin.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("admin API listen: %w", err)
	}
	return newHTTPServer(logger, adminTLS, handler), ln, nil
}
