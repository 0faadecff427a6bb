package openapitest

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"sync"
)

// maxCapture is how much of a JSON response body is kept for the check; a
// longer one, or any other (a download, a stream, metrics), has only its
// status and headers checked, so that the check holds no download in memory.
const maxCapture = 4 << 20

// Handler returns h with every exchange through it checked; report
// receives each violation. It reads each request body in full first.
func (v *Validator) Handler(h http.Handler, report func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "openapitest: read the request body: "+err.Error(), http.StatusBadGateway)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		orig := r.Clone(r.Context())
		cw := &captureWriter{ResponseWriter: w}
		defer func() {
			ex := &Exchange{Request: orig, RequestBody: body, Status: cw.status(), Header: w.Header(),
				Body: cw.buf.Bytes(), Truncated: cw.truncated}
			if err := v.Check(orig.Context(), ex); err != nil {
				report(err)
			}
		}()
		h.ServeHTTP(cw, r)
	})
}

// captureWriter keeps the status and the start of the body.
type captureWriter struct {
	http.ResponseWriter
	mu        sync.Mutex
	code      int
	buf       bytes.Buffer
	truncated bool
}

func (c *captureWriter) WriteHeader(code int) {
	c.mu.Lock()
	if c.code == 0 {
		c.code = code
	}
	c.mu.Unlock()
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.code == 0 {
		c.code = http.StatusOK
	}
	if !c.truncated && isJSON(c.Header().Get("Content-Type")) && c.buf.Len()+len(b) <= maxCapture {
		c.buf.Write(b)
	} else {
		c.truncated = true
	}
	c.mu.Unlock()
	return c.ResponseWriter.Write(b)
}

func (c *captureWriter) status() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

func isJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/json"
}

// Flush passes flushes on, for streams.
func (c *captureWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
