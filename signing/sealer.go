package signing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// MasterKeySize is the size of the master key: AES-256.
const MasterKeySize = 32

// Sealer encrypts secrets at rest with AES-256-GCM under the master key.
// A sealed value is nonce || ciphertext || tag, with a one-byte version in
// front so that the format can change without guessing.
type Sealer struct {
	aead   cipher.AEAD
	master []byte
}

const sealVersion = 1

// NewSealer returns a Sealer for a 32-byte master key.
func NewSealer(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(masterKey))
	}
	block, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	return &Sealer{aead: aead, master: append([]byte(nil), masterKey...)}, nil
}

// Seal encrypts plaintext.
func (s *Sealer) Seal(plaintext []byte) []byte {
	out := make([]byte, 1+s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	_, _ = rand.Read(out[1:]) // crypto/rand.Read never fails on supported platforms
	return s.aead.Seal(out, out[1:], plaintext, nil)
}

// ErrUnseal is returned when a sealed value is corrupt or was sealed under
// another master key.
var ErrUnseal = errors.New("cannot decrypt sealed value (corrupt, or another master key)")

// Open decrypts a value made by Seal.
func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < 1+n+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrUnseal
	}
	pt, err := s.aead.Open(nil, sealed[1:1+n], sealed[1+n:], nil)
	if err != nil {
		return nil, ErrUnseal
	}
	return pt, nil
}

// DeriveKey returns a 32-byte key for purpose, derived from the master key
// (HMAC-SHA256), so that other uses (page tokens, …) never reuse the
// encryption key itself.
func (s *Sealer) DeriveKey(purpose string) []byte {
	m := hmac.New(sha256.New, s.master)
	m.Write([]byte("webhookd/" + purpose))
	return m.Sum(nil)
}

// ParseMasterKey decodes a master key given as 64 hex characters or as
// standard or URL-safe base64 of 32 bytes.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == MasterKeySize {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == MasterKeySize {
			return b, nil
		}
	}
	return nil, errors.New("master key must be 32 bytes as 64 hex characters or base64")
}

// LoadOrCreateMasterKey reads the master key from path, creating the file
// (mode 0600, 32 random bytes as base64) when it does not exist. A file that
// others can read is refused: it holds the key to every secret.
func LoadOrCreateMasterKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		var k [MasterKeySize]byte
		_, _ = rand.Read(k[:])
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateMasterKey(path) // another process won the race
		}
		if err != nil {
			return nil, fmt.Errorf("create master key file: %w", err)
		}
		if _, err := f.WriteString(base64.StdEncoding.EncodeToString(k[:]) + "\n"); err != nil {
			f.Close()
			return nil, fmt.Errorf("write master key file: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync master key file: %w", err)
		}
		return k[:], f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("read master key file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("master key file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	k, err := ParseMasterKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("master key file %s: %w", path, err)
	}
	return k, nil
}
