package integration_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"github.com/webhookd/webhookd"
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
	content, f.Content = nil, nil // only the store has it now

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
