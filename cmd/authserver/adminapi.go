package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/example/authsvc/authserver/admin"
	"github.com/example/authsvc/authserver/adminapi"
	"github.com/example/authsvc/authserver/keys"
	"github.com/example/authsvc/cmd/internal/dbopen"
	"github.com/example/authsvc/internal/obs"
	"github.com/example/authsvc/store"
)

// newAdminServer builds the admin API's own server and listener, or
// returns nils when it is off. Its TLS, when client certificates are
// required, is the main listener's certificate with the client CA added.
func newAdminServer(logger *slog.Logger, c config, st store.AuthStore, kek *keys.KEK, tlsConfig *tls.Config) (*http.Server, net.Listener, error) {
	if !c.adminOn() {
		return nil, nil, nil
	}
	var tokens []adminapi.Token
	if c.adminTokenFile != "" {
		var err error
		if tokens, err = adminapi.LoadTokens(c.adminTokenFile); err != nil {
			return nil, nil, fmt.Errorf("config: %w", err)
		}
	}
	var adminTLS *tls.Config
	if c.adminClientCA != "" {
		pem, err := os.ReadFile(c.adminClientCA)
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
	ln, err := net.Listen("tcp", c.adminAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("admin API listen: %w", err)
	}
	return &http.Server{
		TLSConfig:         adminTLS,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          obs.ErrorLog(logger),
	}, ln, nil
}
