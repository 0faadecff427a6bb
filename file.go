package webhookd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// FileState is the processing state of a File, spelled as the Files API
// spells it.
type FileState string

// File states. Webhookd does no processing after an upload, so files are
// ACTIVE from the moment they exist; the other values are kept for clients
// that switch on them.
const (
	FileProcessing FileState = "PROCESSING"
	FileActive     FileState = "ACTIVE"
	FileFailed     FileState = "FAILED"
)

// FileSource tells where a file came from, spelled as the Files API spells it.
type FileSource string

// File sources.
const (
	FileUploaded  FileSource = "UPLOADED"  // ai.files.upload
	FileGenerated FileSource = "GENERATED" // a job's output (batch results, video)
)

// MaxFileSize bounds an upload and a generated file. Files live in the
// database (they are batch inputs and simulator outputs, not media archives).
const MaxFileSize = 64 << 20

// FileChunkSize is the size of the pieces a generated file's content is
// stored in. An upload keeps the pieces its client sent (at most the API's
// chunk limit). A download reads one piece at a time, so no more than one is
// in memory however large the file.
const FileChunkSize = 1 << 20

// File is an uploaded or generated file of a project: a batch's input JSONL
// (src "files/…"), a batch's results JSONL, a generated video.
type File struct {
	// ID is the id as it appears in its path, /files/{id} (see PrefixFile). The
	// Files API names the file "files/{id}" (see Name).
	ID          string
	ProjectID   string
	DisplayName string
	MimeType    string
	SizeBytes   int64
	// SHA256 is the digest of Content.
	SHA256     []byte
	Source     FileSource
	State      FileState
	CreateTime time.Time
	UpdateTime time.Time
	// ExpireTime, when set, is when the file may be deleted by retention.
	ExpireTime *time.Time
	// Content is the file's bytes as CreateFile writes them. GetFile and
	// ListFiles never fill it: the content is read piece by piece
	// (NewFileReader).
	Content []byte
}

// Name is the resource name of the Files API: "files/{id}".
func (f *File) Name() string { return "files/" + f.ID }

// NewFile returns a file record for content, with its size and digest filled in.
func NewFile(projectID, displayName, mimeType string, source FileSource, content []byte, now time.Time) *File {
	sum := sha256.Sum256(content)
	return &File{
		ID:          NewID(PrefixFile),
		ProjectID:   projectID,
		DisplayName: displayName,
		MimeType:    mimeType,
		SizeBytes:   int64(len(content)),
		SHA256:      sum[:],
		Source:      source,
		State:       FileActive,
		CreateTime:  now,
		UpdateTime:  now,
		Content:     content,
	}
}

// UploadSession is an unfinished resumable upload (the protocol of
// ai.files.upload): "start" creates it and answers the upload URL, each
// "upload" appends the chunk at the offset the client names, and
// "finalize" turns the bytes into a File.
type UploadSession struct {
	// ID is opaque and unguessable; it goes in the upload URL.
	ID        string
	ProjectID string
	// FileID is the id the finished file will have.
	FileID      string
	DisplayName string
	MimeType    string
	// DeclaredSize is X-Goog-Upload-Header-Content-Length from the start
	// request, or -1 when the client did not send it.
	DeclaredSize int64
	// Received is how many bytes have been appended so far; the next chunk
	// must start at this offset.
	Received   int64
	CreateTime time.Time
	// ExpireTime is when an unfinished session may be discarded.
	ExpireTime time.Time
}

// UploadSessionTTL is how long an unfinished upload may wait for its next chunk.
const UploadSessionTTL = 24 * time.Hour

// FileStore persists files and resumable upload sessions. Methods are scoped
// by project and answer an ENOTFOUND error for another project's ids.
type FileStore interface {
	// CreateFile stores f with its Content.
	CreateFile(ctx context.Context, f *File) error
	// GetFile returns the file without its Content.
	GetFile(ctx context.Context, projectID, id string) (*File, error)
	// ReadFileChunk appends to buf[:0] the stored piece of the file's content
	// that starts at offset and returns it. When no piece starts there (the
	// end of the content, or a file that is not the project's) it returns
	// buf[:0] and io.EOF. Each piece is read on its own, holding no
	// transaction open between them; NewFileReader reads a whole file.
	ReadFileChunk(ctx context.Context, projectID, id string, offset int64, buf []byte) ([]byte, error)
	// ListFiles orders by (CreateTime, ID) descending, without Content.
	ListFiles(ctx context.Context, projectID string, page Page) ([]*File, error)
	DeleteFile(ctx context.Context, projectID, id string) error

	CreateUploadSession(ctx context.Context, s *UploadSession) error
	GetUploadSession(ctx context.Context, projectID, id string) (*UploadSession, error)
	// AppendUpload appends chunk at offset and returns the session as
	// updated. An offset other than Received fails with EPRECONDITION and
	// changes nothing (the client then asks for the status and resumes);
	// growing past DeclaredSize (when known) or MaxFileSize fails with
	// ETOOLARGE; growing the project's FileUsage past quota fails with
	// EEXHAUSTED (see CheckQuota). Appends to one project's uploads are
	// serialised, so that two at once cannot both pass the quota.
	AppendUpload(ctx context.Context, projectID, id string, offset int64, chunk []byte, quota int64) (*UploadSession, error)
	// FileUsage is how many bytes a project stores: its files' sizes and
	// what its unfinished uploads have received.
	FileUsage(ctx context.Context, projectID string) (int64, error)
	// FinalizeUpload, in one transaction, creates the File of a finished
	// session — ID FileID, its DisplayName and MimeType, the received bytes
	// with their size and SHA-256, Source UPLOADED, State ACTIVE, created
	// at now — and deletes the session. When DeclaredSize is known and
	// differs from Received it fails with EPRECONDITION and changes nothing.
	FinalizeUpload(ctx context.Context, projectID, id string, now time.Time) (*File, error)
	// DeleteExpiredUploads discards sessions whose ExpireTime has passed at
	// the store clock's now and returns how many.
	DeleteExpiredUploads(ctx context.Context) (int, error)
	// DeleteExpiredFiles deletes at most limit files whose ExpireTime has
	// passed at the store clock's now (job outputs past their retention),
	// oldest expiry first, and returns how many.
	DeleteExpiredFiles(ctx context.Context, limit int) (int, error)
}

// CheckAppend is the rule of FileStore.AppendUpload, shared by the stores: a
// chunk of n bytes must start at Received and must not grow the upload past
// DeclaredSize (when known) or MaxFileSize.
func (s *UploadSession) CheckAppend(offset, n int64) error {
	if offset != s.Received {
		return Errorf(EPRECONDITION, "Upload offset %d does not match the %d bytes received so far.", offset, s.Received)
	}
	if s.DeclaredSize >= 0 && s.Received+n > s.DeclaredSize {
		return Errorf(ETOOLARGE, "The upload is larger than its declared %d bytes.", s.DeclaredSize)
	}
	if s.Received+n > MaxFileSize {
		return Errorf(ETOOLARGE, "Files may be at most %d bytes.", MaxFileSize)
	}
	return nil
}

// CheckQuota is the rule of a project's file storage: adding n bytes to the
// used ones must stay within quota. A quota of 0 or less is no limit. Only
// uploads are refused: a job's output is kept whatever the quota (it counts
// towards the next upload), and retention deletes outputs in time.
func CheckQuota(used, n, quota int64) error {
	if quota <= 0 || used+n <= quota {
		return nil
	}
	return Errorf(EEXHAUSTED, "The project's file storage is full: %s of its %s quota are in use and %s more were sent. "+
		"Delete files it no longer needs (DELETE /files/{id}), or ask the operator to raise WEBHOOKD_FILE_QUOTA.",
		FormatBytes(used), FormatBytes(quota), FormatBytes(n))
}

// FormatBytes writes a size the way an operator reads it: 1.5 GiB, 640 KiB,
// 12 bytes.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/float64(div)), "0"), ".") + " " + [...]string{"KiB", "MiB", "GiB", "TiB"}[exp]
}

// CheckFinalize is the rule of FileStore.FinalizeUpload: every declared
// byte must have arrived.
func (s *UploadSession) CheckFinalize() error {
	if s.DeclaredSize >= 0 && s.Received != s.DeclaredSize {
		return Errorf(EPRECONDITION, "The upload has %d of its declared %d bytes.", s.Received, s.DeclaredSize)
	}
	return nil
}

// NewFile is the record of the File that FinalizeUpload creates from the
// session, whose received bytes have the digest sum; its content stays where
// the store keeps the session's chunks.
func (s *UploadSession) NewFile(sum []byte, now time.Time) *File {
	return &File{
		ID:          s.FileID,
		ProjectID:   s.ProjectID,
		DisplayName: s.DisplayName,
		MimeType:    s.MimeType,
		SizeBytes:   s.Received,
		SHA256:      sum,
		Source:      FileUploaded,
		State:       FileActive,
		CreateTime:  now,
		UpdateTime:  now,
	}
}

// Pieces cuts content into the pieces that a store keeps of a file created
// whole (FileChunkSize each, the last one shorter), calling put with each
// piece's offset; an empty content has none.
func Pieces(content []byte, put func(offset int64, piece []byte) error) error {
	for off := 0; off < len(content); off += FileChunkSize {
		if err := put(int64(off), content[off:min(off+FileChunkSize, len(content))]); err != nil {
			return err
		}
	}
	return nil
}

// FileContentReader is what reads a file: its record and its pieces.
// Every FileStore is one.
type FileContentReader interface {
	GetFile(ctx context.Context, projectID, id string) (*File, error)
	ReadFileChunk(ctx context.Context, projectID, id string, offset int64, buf []byte) ([]byte, error)
}

// NewFileReader returns a reader of f's content that reads it from src one
// stored piece at a time into one buffer, so that it holds no more than one
// piece. It fails with io.ErrUnexpectedEOF when the content ends before
// f.SizeBytes (the file was deleted while it was read). It implements
// io.WriterTo, so io.Copy writes each piece as it is read.
func NewFileReader(ctx context.Context, src FileContentReader, f *File) io.Reader {
	return &fileReader{ctx: ctx, src: src, f: f}
}

type fileReader struct {
	ctx     context.Context
	src     FileContentReader
	f       *File
	offset  int64  // of the next piece to read
	buf     []byte // the current piece, reused
	pending []byte // what of it is still to be returned
}

// next reads the piece at r.offset into r.pending.
func (r *fileReader) next() error {
	if r.offset >= r.f.SizeBytes {
		return io.EOF
	}
	piece, err := r.src.ReadFileChunk(r.ctx, r.f.ProjectID, r.f.ID, r.offset, r.buf)
	switch {
	case errors.Is(err, io.EOF) || (err == nil && len(piece) == 0):
		return fmt.Errorf("file %s: content ends at byte %d of %d: %w", r.f.ID, r.offset, r.f.SizeBytes, io.ErrUnexpectedEOF)
	case err != nil:
		return fmt.Errorf("file %s: read at byte %d: %w", r.f.ID, r.offset, err)
	}
	r.buf, r.pending = piece, piece
	r.offset += int64(len(piece))
	return nil
}

func (r *fileReader) Read(p []byte) (int, error) {
	if len(r.pending) == 0 {
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *fileReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.pending) == 0 {
			if err := r.next(); errors.Is(err, io.EOF) {
				return total, nil
			} else if err != nil {
				return total, err
			}
		}
		n, err := w.Write(r.pending)
		total += int64(n)
		r.pending = r.pending[n:]
		if err != nil {
			return total, err
		}
	}
}

// ReadFileContent returns the whole content of a project's file: for a batch
// job's input and for tests. Downloads stream it (NewFileReader).
func ReadFileContent(ctx context.Context, src FileContentReader, projectID, id string) ([]byte, error) {
	f, err := src.GetFile(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	content := make([]byte, 0, f.SizeBytes)
	w := bytes.NewBuffer(content)
	if _, err := NewFileReader(ctx, src, f).(io.WriterTo).WriteTo(w); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}
