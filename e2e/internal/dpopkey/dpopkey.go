// Package dpopkey is a DPoP client's key (RFC 9449) for tests and benchmarks: proofs signed by
// go-jose and the key's RFC 7638 thumbprint, an implementation independent of withauth's.
package dpopkey

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key signs DPoP proofs; JKT is the thumbprint a token bound to it carries in cnf.jkt.
type Key struct {
	signer jose.Signer
	JKT    string
}

// New is the key private signs with alg, its public key embedded in every proof's jwk.
func New(alg jose.SignatureAlgorithm, private crypto.Signer) (*Key, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: private}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return nil, err
	}
	public := jose.JSONWebKey{Key: private.Public()}
	thumbprint, err := public.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &Key{signer: signer, JKT: base64.RawURLEncoding.EncodeToString(thumbprint)}, nil
}

var proofs atomic.Int64

// Proof is a proof for method and uri, bound to token by ath, issued at iat, with a jti of its
// own.
func (k *Key) Proof(method, uri, token string, iat time.Time) (string, error) {
	return k.ProofWithNonce(method, uri, token, "", iat)
}

// ProofWithNonce is Proof carrying a server's nonce (RFC 9449 §8); none when nonce is "".
func (k *Key) ProofWithNonce(method, uri, token, nonce string, iat time.Time) (string, error) {
	sum := sha256.Sum256([]byte(token))
	members := map[string]any{"jti": fmt.Sprint("proof-", proofs.Add(1), "-", time.Now().UnixNano()),
		"htm": method, "htu": uri, "iat": iat.Unix(), "ath": base64.RawURLEncoding.EncodeToString(sum[:])}
	if nonce != "" {
		members["nonce"] = nonce
	}
	claims, err := json.Marshal(members)
	if err != nil {
		return "", err
	}
	signed, err := k.signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return signed.CompactSerialize()
}
