// Package console serves webhookd's web console: a small single-page app,
// built from console/web into console/dist and embedded in the binary, so
// that `webhookd serve` needs no Node.js, no CDN and no other file at run
// time. The console is a client of the public HTTP API and nothing else:
// the api package serves its session endpoint and authenticates its calls.
//
// Every response carries a strict Content-Security-Policy: scripts, styles
// and connections only from this origin, no inline script or style, no
// plug-ins, no framing. The app renders payloads and receiver responses as
// text only (Preact escapes every text node, and the app never sets HTML).
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed dist
var dist embed.FS

// ContentSecurityPolicy is the policy of every console response.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the console below PathPrefix + "/console/".
type Handler struct {
	base  string
	files map[string]file
}

type file struct {
	data        []byte
	contentType string
	etag        string
}

// New returns the console for a service mounted at pathPrefix ("" or a
// path such as "/gemini-proxy").
func New(pathPrefix string) (*Handler, error) {
	h := &Handler{base: pathPrefix + "/console/", files: map[string]file{}}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "dist/")
		if name == "index.html" {
			// The page is served at every path of the app; its links
			// must not depend on the path it was served at.
			data = bytes.ReplaceAll(data, []byte("%BASE%"), []byte(h.base))
		}
		sum := sha256.Sum256(data)
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		h.files[name] = file{data: data, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := h.files["index.html"]; !ok {
		return nil, fs.ErrNotExist
	}
	return h, nil
}

// ServeHTTP answers the app's files by name, and its page at every other
// path (the app routes by path), with the console's security headers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, h.base)
	f, ok := h.files[name]
	if !ok || name == "index.html" {
		if path.Ext(name) != "" {
			http.NotFound(w, r)
			return
		}
		f = h.files["index.html"]
	}
	hd.Set("Content-Type", f.contentType)
	hd.Set("ETag", f.etag)
	// Always revalidate: the files change with the binary, and the ETag
	// makes a revalidation cost one round trip without a body.
	hd.Set("Cache-Control", "no-cache")
	if match := r.Header.Get("If-None-Match"); match != "" && match == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(f.data)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.data)
}
