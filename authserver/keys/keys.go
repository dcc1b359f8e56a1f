// Package keys keeps the keys that sign JWT access tokens (RFC 9068): it
// generates them, seals their private halves with the operator's
// key-encryption key before they reach the store, signs with the one
// current key (store.CurrentSigningKey, so every replica picks the same)
// and serves the published public keys as a JWKS (RFC 7517).
//
// All JOSE work is go-jose's (github.com/go-jose/go-jose/v4); the sealing
// is AES-256-GCM from the standard library, with the key id as additional
// data so that a sealed key cannot be swapped onto another key's row.
package keys

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/example/authsvc/store"
)

// Algorithms a signing key may have: ES256 (the default) and EdDSA
// (Ed25519). Never "none", never an HMAC.
const (
	ES256 = string(jose.ES256)
	EdDSA = string(jose.EdDSA)
)

// Algorithms lists the valid signing algorithms.
var Algorithms = []string{ES256, EdDSA}

// ValidateAlgorithm checks a configured signing algorithm.
func ValidateAlgorithm(alg string) error {
	if alg != ES256 && alg != EdDSA {
		return fmt.Errorf("signing algorithm %q is not supported (use %s)", alg, strings.Join(Algorithms, " or "))
	}
	return nil
}

// KEK is the operator's key-encryption key: 32 bytes for AES-256-GCM.
// Its String never shows it.
type KEK struct{ aead cipher.AEAD }

// kekBytes is the size of a KEK.
const kekBytes = 32

// ErrNoKEK: no key-encryption key is configured, so no signing key can be
// made or used.
var ErrNoKEK = errors.New("no key-encryption key configured (AUTH_KEY_ENCRYPTION_KEY or AUTH_KEY_ENCRYPTION_KEY_FILE)")

// ParseKEK reads a KEK from its base64 form (standard or URL alphabet,
// padded or not) of 32 bytes. The error never quotes the value.
func ParseKEK(encoded string) (*KEK, error) {
	encoded = strings.TrimSpace(encoded)
	var raw []byte
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(encoded); err == nil {
			raw = b
			break
		}
	}
	if len(raw) != kekBytes {
		return nil, fmt.Errorf("the key-encryption key must be %d random bytes in base64 (e.g. openssl rand -base64 32)", kekBytes)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return &KEK{aead: aead}, nil
}

// LoadKEK reads the KEK from value, or else from the file at path; both
// empty is (nil, nil): no KEK. Both set is an error.
func LoadKEK(value, path string) (*KEK, error) {
	switch {
	case value != "" && path != "":
		return nil, errors.New("set the key-encryption key or its file, not both")
	case value != "":
		return ParseKEK(value)
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read the key-encryption key file: %w", err)
		}
		return ParseKEK(string(b))
	}
	return nil, nil
}

// String hides the key.
func (*KEK) String() string { return "KEK(redacted)" }

// sealVersion is the first byte of a sealed key, so that the format can
// change later.
const sealVersion = 1

func aad(kid string) []byte { return []byte("authsvc signing key " + kid) }

func (k *KEK) seal(kid string, plaintext []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24)
	out := append([]byte{sealVersion}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, aad(kid))
}

// ErrWrongKEK: a sealed key does not open with this KEK (another KEK, or a
// sealed key moved onto another key's row).
var ErrWrongKEK = errors.New("the signing key does not open with this key-encryption key")

func (k *KEK) open(kid string, sealed []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, ErrWrongKEK
	}
	plain, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], aad(kid))
	if err != nil {
		return nil, ErrWrongKEK
	}
	return plain, nil
}

// Generate makes a new key of alg, sealed with kek, that signs from
// activeAt on. Its id is the RFC 7638 thumbprint of its public key.
func Generate(kek *KEK, alg string, now, activeAt time.Time) (store.SigningKey, error) {
	if kek == nil {
		return store.SigningKey{}, ErrNoKEK
	}
	if err := ValidateAlgorithm(alg); err != nil {
		return store.SigningKey{}, err
	}
	var priv crypto.Signer
	var err error
	if alg == EdDSA {
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	} else {
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate a %s key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode the public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode the private key: %w", err)
	}
	return store.SigningKey{
		ID:            pub.KeyID,
		Algorithm:     alg,
		PublicJWK:     pubJSON,
		SealedPrivate: kek.seal(pub.KeyID, der),
		CreatedAt:     now,
		ActiveAt:      activeAt,
	}, nil
}

// openSigner unseals k and returns a signer for it that sets typ and kid.
func openSigner(kek *KEK, k store.SigningKey) (jose.Signer, error) {
	if kek == nil {
		return nil, ErrNoKEK
	}
	der, err := kek.open(k.ID, k.SealedPrivate)
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("decode the private key: %w", err)
	}
	if err := ValidateAlgorithm(k.Algorithm); err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	return jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.Algorithm),
		Key:       jose.JSONWebKey{Key: priv, KeyID: k.ID},
	}, opts)
}
