package integration_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// TestDownloadStreams downloads a 32 MiB file and stops reading after its
// first byte: the server, blocked on the client, must hold no more than a
// few of the file's pieces, not the file. It measures the live heap after a
// collection, so it does not run in parallel with other tests.
func TestDownloadStreams(t *testing.T) {
	ob := setupOps(t, "")
	const size = 32 << 20
	content := bytes.Repeat([]byte("webhookd streams downloads.\n"), size/28+1)[:size]
	f := webhookd.NewFile(ob.project.ID, "big.jsonl", "application/jsonl", webhookd.FileGenerated, content, ob.clock.Now())
	if err := ob.store.CreateFile(ob.ctx, f); err != nil {
		t.Fatal(err)
	}
	content, f.Content = nil, nil //nolint:ineffassign,wastedassign // only the store has it now: the test's copy can be collected

	live := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := live()
	req := ob.request(t, "GET", "/v1/files/"+f.ID+":download?alt=media", "")
	req.Header.Set("x-goog-api-key", ob.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != strconv.Itoa(size) {
		t.Fatalf("download answered %d, Content-Length %q", resp.StatusCode, resp.Header.Get("Content-Length"))
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	during := live() - before
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size-1 {
		t.Fatalf("download: %d more bytes, %v; want %d", n, err, size-1)
	}
	t.Logf("live heap while the download waited on the client: %d KiB more than before it", during>>10)
	if during > size/4 {
		t.Errorf("the server held %d MiB of a %d MiB download: it is not streamed", during>>20, size>>20)
	}
}

// TestUploadQuota: uploads past the project's file quota answer 429
// RESOURCE_EXHAUSTED, at the start when the declared size has no room and
// at the chunk that would pass it otherwise; the project's files are not
// touched and another project has room of its own.
func TestUploadQuota(t *testing.T) {
	t.Parallel()
	ob := setupOpsWith(t, "", func(c *lro.Config) { c.FileQuota = 1000 })
	start := func(key string, declared int) *response {
		req := ob.request(t, "POST", "/upload/v1beta/files", `{"file":{"displayName":"in.jsonl"}}`)
		req.Header.Set("x-goog-api-key", key)
		req.Header.Set("X-Goog-Upload-Protocol", "resumable")
		req.Header.Set("X-Goog-Upload-Command", "start")
		if declared >= 0 {
			req.Header.Set("X-Goog-Upload-Header-Content-Length", strconv.Itoa(declared))
		}
		return ob.send(t, req)
	}
	chunk := func(key, url string, offset, n int, cmd string) *response {
		req := ob.request(t, "POST", url, strings.Repeat("x", n))
		req.Header.Set("x-goog-api-key", key)
		req.Header.Set("X-Goog-Upload-Offset", strconv.Itoa(offset))
		req.Header.Set("X-Goog-Upload-Command", cmd)
		return ob.send(t, req)
	}

	start(ob.key, 1001).fails(t, 429, "RESOURCE_EXHAUSTED", "0 bytes of its 1000 bytes quota are in use and 1001 bytes more were sent")

	r := start(ob.key, -1)
	r.ok(t, nil)
	url := relative(t, r.header.Get("X-Goog-Upload-URL"))
	chunk(ob.key, url, 0, 600, "upload").ok(t, nil)
	chunk(ob.key, url, 600, 401, "upload").fails(t, 429, "RESOURCE_EXHAUSTED", "WEBHOOKD_FILE_QUOTA")
	chunk(ob.key, url, 600, 400, "upload, finalize").ok(t, nil) // exactly full

	// Full: nothing more, not even a byte; another project has its own room.
	r = start(ob.key, -1)
	r.ok(t, nil)
	chunk(ob.key, relative(t, r.header.Get("X-Goog-Upload-URL")), 0, 1, "upload").fails(t, 429, "RESOURCE_EXHAUSTED", "")
	_, other := ob.newProject(t, "other")
	r = start(other, 1000)
	r.ok(t, nil)
	chunk(other, relative(t, r.header.Get("X-Goog-Upload-URL")), 0, 1000, "upload, finalize").ok(t, nil)
}
