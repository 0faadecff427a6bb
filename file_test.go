package webhookd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// piecesSource is a FileContentReader over pieces keyed by their offsets,
// which notes whether each read was handed the buffer of the read before.
type piecesSource struct {
	file    *File
	pieces  map[int64][]byte
	reused  int
	lastBuf []byte
}

func (s *piecesSource) GetFile(context.Context, string, string) (*File, error) { return s.file, nil }

func (s *piecesSource) ReadFileChunk(_ context.Context, _, _ string, offset int64, buf []byte) ([]byte, error) {
	if s.lastBuf != nil && cap(buf) > 0 && &buf[:1][0] == &s.lastBuf[:1][0] {
		s.reused++
	}
	p, ok := s.pieces[offset]
	if !ok {
		return buf[:0], io.EOF
	}
	buf = append(buf[:0], p...)
	s.lastBuf = buf
	return buf, nil
}

func newPiecesSource(content []byte, drop int64) *piecesSource {
	s := &piecesSource{file: NewFile("prj_1", "f", "text/plain", FileGenerated, content, time.Unix(0, 0)), pieces: map[int64][]byte{}}
	_ = Pieces(content, func(off int64, p []byte) error {
		if off != drop {
			s.pieces[off] = p
		}
		return nil
	})
	return s
}

func TestFileReader(t *testing.T) {
	content := bytes.Repeat([]byte("0123456789abcdef"), FileChunkSize/16*3+5) // 3 pieces and a bit
	t.Run("Read", func(t *testing.T) {
		src := newPiecesSource(content, -1)
		got, err := io.ReadAll(NewFileReader(t.Context(), src, src.file))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("ReadAll: %d bytes, %v; want %d", len(got), err, len(content))
		}
		if src.reused != 3 {
			t.Errorf("%d of 4 reads reused the buffer of the read before, want 3", src.reused)
		}
	})
	t.Run("WriteTo", func(t *testing.T) {
		src := newPiecesSource(content, -1)
		var w bytes.Buffer
		n, err := io.Copy(&w, NewFileReader(t.Context(), src, src.file))
		if err != nil || n != int64(len(content)) || !bytes.Equal(w.Bytes(), content) {
			t.Fatalf("Copy: %d bytes, %v; want %d", n, err, len(content))
		}
	})
	t.Run("content cut short", func(t *testing.T) {
		src := newPiecesSource(content, 2*FileChunkSize)
		_, err := io.Copy(io.Discard, NewFileReader(t.Context(), src, src.file))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("Copy of a file whose third piece is gone: %v, want io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		src := newPiecesSource(nil, -1)
		got, err := ReadFileContent(t.Context(), src, "prj_1", src.file.ID)
		if err != nil || len(got) != 0 {
			t.Fatalf("ReadFileContent of an empty file: %q, %v", got, err)
		}
	})
}

func TestCheckQuota(t *testing.T) {
	for _, tc := range []struct {
		used, n, quota int64
		ok             bool
	}{
		{0, 100, 0, true},            // no quota
		{5 << 30, 1 << 30, -1, true}, // no quota
		{900, 100, 1000, true},       // exactly full
		{901, 100, 1000, false},      // one byte over
		{2000, 1, 1000, false},       // over already (job outputs count)
		{1 << 30, 8 << 20, 1 << 30, false},
	} {
		err := CheckQuota(tc.used, tc.n, tc.quota)
		if (err == nil) != tc.ok {
			t.Errorf("CheckQuota(%d, %d, %d) = %v, want ok=%v", tc.used, tc.n, tc.quota, err, tc.ok)
		}
		if err != nil && (ErrorCode(err) != EEXHAUSTED || !strings.Contains(ErrorMessage(err), "WEBHOOKD_FILE_QUOTA")) {
			t.Errorf("CheckQuota(%d, %d, %d) = %v, want EEXHAUSTED naming WEBHOOKD_FILE_QUOTA", tc.used, tc.n, tc.quota, err)
		}
	}
	if got := ErrorMessage(CheckQuota(1<<30, 8<<20, 1<<30)); !strings.Contains(got, "1 GiB of its 1 GiB quota are in use and 8 MiB more") {
		t.Errorf("message %q", got)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB", 64 << 20: "64 MiB", 1 << 30: "1 GiB", 3 << 40: "3 TiB", 5 << 50: "5120 TiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
