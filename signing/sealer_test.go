package signing_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/webhookd/webhookd/signing"
)

func newSealer(t testing.TB) *signing.Sealer {
	t.Helper()
	s, err := signing.NewSealer(bytes.Repeat([]byte{7}, signing.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSealerKeySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := signing.NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer accepted a %d-byte key", n)
		}
	}
}

func TestSealerRoundTrip(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	for _, pt := range [][]byte{nil, {}, []byte("whsec_x"), bytes.Repeat([]byte{0xff}, 4096)} {
		sealed := s.Seal(pt)
		if len(pt) > 0 && bytes.Contains(sealed, pt) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := s.Open(sealed)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("Open = %q, want %q", got, pt)
		}
	}
	// A fresh nonce every time: equal plaintexts never give equal ciphertexts.
	if bytes.Equal(s.Seal([]byte("a")), s.Seal([]byte("a"))) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestSealerRejects(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	other, err := signing.NewSealer(bytes.Repeat([]byte{8}, signing.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	sealed := s.Seal([]byte("private key bytes"))
	flip := func(i int) []byte {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name   string
		sealer *signing.Sealer
		in     []byte
	}{
		{"wrong master key", other, sealed},
		{"version byte changed", s, flip(0)},
		{"nonce changed", s, flip(1)},
		{"ciphertext changed", s, flip(14)},
		{"tag changed", s, flip(len(sealed) - 1)},
		{"truncated", s, sealed[:len(sealed)-1]},
		{"too short", s, sealed[:10]},
		{"empty", s, nil},
		{"appended byte", s, append(bytes.Clone(sealed), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.sealer.Open(tt.in); !errors.Is(err, signing.ErrUnseal) {
				t.Fatalf("Open err = %v, want ErrUnseal", err)
			}
		})
	}
}

func TestSealerEveryByteAuthenticated(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	sealed := s.Seal([]byte("0123456789"))
	for i := range sealed {
		b := bytes.Clone(sealed)
		b[i] ^= 0x80
		if _, err := s.Open(b); err == nil {
			t.Fatalf("changing byte %d went unnoticed", i)
		}
	}
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	s := newSealer(t)
	a, b := s.DeriveKey("page-token"), s.DeriveKey("csrf")
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("derived keys: %x %x", a, b)
	}
	if !bytes.Equal(a, newSealer(t).DeriveKey("page-token")) {
		t.Fatal("derivation is not deterministic")
	}
	if bytes.Equal(a, bytes.Repeat([]byte{7}, 32)) {
		t.Fatal("derived key is the master key")
	}
}

func TestParseMasterKey(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "hex", in: hex.EncodeToString(key)},
		{name: "hex upper case", in: strings.ToUpper(hex.EncodeToString(key))},
		{name: "std base64", in: base64.StdEncoding.EncodeToString(key)},
		{name: "raw std base64", in: base64.RawStdEncoding.EncodeToString(key)},
		{name: "url base64", in: base64.URLEncoding.EncodeToString(key)},
		{name: "raw url base64", in: base64.RawURLEncoding.EncodeToString(key)},
		{name: "surrounding whitespace and newline", in: "  " + base64.StdEncoding.EncodeToString(key) + "\n"},
		{name: "empty", in: "", wantErr: true},
		{name: "16 bytes hex", in: hex.EncodeToString(key[:16]), wantErr: true},
		{name: "33 bytes base64", in: base64.StdEncoding.EncodeToString(append(key, 1)), wantErr: true},
		{name: "garbage", in: "not a key", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := signing.ParseMasterKey(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("accepted %q", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, key) {
				t.Fatalf("got %x, want %x", got, key)
			}
		})
	}
}

func TestLoadOrCreateMasterKey(t *testing.T) {
	t.Parallel()
	t.Run("creates a 0600 file and reads it back", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		k1, err := signing.LoadOrCreateMasterKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(k1) != signing.MasterKeySize {
			t.Fatalf("key is %d bytes", len(k1))
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Fatalf("mode = %v, want 0600", perm)
		}
		k2, err := signing.LoadOrCreateMasterKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k1, k2) {
			t.Fatal("second load returned another key")
		}
	})
	t.Run("refuses a group- or world-readable file", func(t *testing.T) {
		t.Parallel()
		for _, mode := range []os.FileMode{0o640, 0o604, 0o644, 0o660} {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(hex.EncodeToString(make([]byte, 32))), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if _, err := signing.LoadOrCreateMasterKey(path); err == nil || !strings.Contains(err.Error(), "readable by others") {
				t.Errorf("mode %v: err = %v, want refusal", mode, err)
			}
		}
	})
	t.Run("reads a hex key written by an operator", func(t *testing.T) {
		t.Parallel()
		want := bytes.Repeat([]byte{0xab}, 32)
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte(hex.EncodeToString(want)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := signing.LoadOrCreateMasterKey(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got %x", got)
		}
	})
	t.Run("rejects a malformed file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := signing.LoadOrCreateMasterKey(path); err == nil {
			t.Fatal("accepted a malformed key file")
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		t.Parallel()
		if _, err := signing.LoadOrCreateMasterKey(filepath.Join(t.TempDir(), "no", "master.key")); err == nil {
			t.Fatal("created a key in a missing directory")
		}
	})
}

func ExampleSealer() {
	master, _ := signing.ParseMasterKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	s, _ := signing.NewSealer(master)
	sealed := s.Seal([]byte("whsec_secret"))
	plain, err := s.Open(sealed)
	fmt.Println(string(plain), err)
	// Output: whsec_secret <nil>
}
