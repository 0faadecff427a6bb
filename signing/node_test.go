package signing_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/webhookd/webhookd/signing"
)

// TestNodeReceivers checks webhookd's signatures with the npm libraries of
// the source document's receivers (SPEC §1.3): every golden HMAC vector
// with standardwebhooks, and key ring JWTs with jsonwebtoken + jwks-rsa
// against the ring's JWKS served on loopback — before and after a rotation,
// and a token for another audience, which must fail. It needs node and the
// SDK suite's node_modules (npm ci in sdktest/), and says so when it skips.
func TestNodeReceivers(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed: the npm receiver libraries are checked by the SDK suite's CI job")
	}
	modules, err := filepath.Abs("../sdktest")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"standardwebhooks", "jsonwebtoken", "jwks-rsa"} {
		if _, err := os.Stat(filepath.Join(modules, "node_modules", pkg)); err != nil {
			t.Skipf("%s not installed in sdktest/node_modules (run npm ci there): %v", pkg, err)
		}
	}

	b := setupRing(t)
	// jsonwebtoken checks exp against the wall clock.
	b.clock.Set(time.Now())
	srv := httptest.NewServer(b.ring.JWKSHandler())
	t.Cleanup(srv.Close)
	tok := sampleToken(b)
	before, err := b.ring.SignDelivery(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ring.Rotate(b.ctx); err != nil {
		t.Fatal(err)
	}
	after, err := b.ring.SignDelivery(tok)
	if err != nil {
		t.Fatal(err)
	}
	other := tok
	other.Audience = "https://someone-else.example/"
	wrongAud, err := b.ring.SignDelivery(other)
	if err != nil {
		t.Fatal(err)
	}

	in, err := json.Marshal(map[string]any{
		"vectors":  loadVectors(t),
		"jwks_uri": srv.URL + signing.JWKSPath,
		"audience": tok.Audience,
		"tokens":   []string{before, after, wrongAud},
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), node, "testdata/node_receivers.mjs")
	cmd.Env = append(os.Environ(), "NODE_MODULES_FROM="+modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res struct {
		Vectors []any `json:"vectors"`
		Tokens  []any `json:"tokens"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	for i, v := range loadVectors(t) {
		if res.Vectors[i] != true {
			t.Errorf("standardwebhooks rejects vector %q: %v", v.Name, res.Vectors[i])
		}
	}
	if res.Tokens[0] != true || res.Tokens[1] != true {
		t.Errorf("jsonwebtoken + jwks-rsa: token of the retired key %v, of the new key %v", res.Tokens[0], res.Tokens[1])
	}
	if res.Tokens[2] == true {
		t.Error("jsonwebtoken accepted a token for another audience")
	}
}
