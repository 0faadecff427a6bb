package webhookd

import (
	"bytes"
	"context"
	"errors"
	"io"
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
