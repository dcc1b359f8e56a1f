// Package dpopclient makes DPoP proofs (RFC 9449 §4) as a client does: for
// the project's tests, its load generator and its demo. It is the client
// half of authserver/dpop, on go-jose.
package dpopclient

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/example/authsvc/authserver/dpop"
)

// Prover holds one key and signs proofs with it.
type Prover struct {
	signer jose.Signer
	jkt    string
	now    func() time.Time
}

// New returns a Prover with a fresh key of alg (ES256 or EdDSA), dating its
// proofs by now (time.Now when nil).
func New(alg jose.SignatureAlgorithm, now func() time.Time) (*Prover, error) {
	var priv, pub any
	switch alg {
	case jose.EdDSA:
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv, pub = k, p
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		priv, pub = k, k.Public()
	default:
		return nil, fmt.Errorf("dpopclient: algorithm %s not supported", alg)
	}
	jwk := jose.JSONWebKey{Key: pub}
	jkt, err := dpop.Thumbprint(&jwk)
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jwk)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: priv}, opts)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Prover{signer: signer, jkt: jkt, now: now}, nil
}

// JKT is the RFC 7638 thumbprint of the prover's key.
func (p *Prover) JKT() string { return p.jkt }

// Proof signs a proof for method on htu, bound to accessToken when it is
// not empty, with a fresh jti.
func (p *Prover) Proof(method, htu, accessToken string) (string, error) {
	return p.ProofAt(method, htu, accessToken, p.now())
}

// ProofAt is Proof with iat given.
func (p *Prover) ProofAt(method, htu, accessToken string, iat time.Time) (string, error) {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	claims := map[string]any{"jti": fmt.Sprintf("%x", jti), "htm": method, "htu": htu, "iat": iat.Unix()}
	if accessToken != "" {
		claims["ath"] = dpop.ATH(accessToken)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := p.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}
