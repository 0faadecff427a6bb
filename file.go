package webhookd

import (
	"context"
	"crypto/sha256"
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

// MaxFileSize bounds an upload and a generated file. Files are kept whole in
// the database (they are batch inputs and simulator outputs, not media
// archives), so the bound keeps one row and one read reasonable.
const MaxFileSize = 64 << 20

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
	// Content is the file's bytes. It is written by CreateFile and
	// FinalizeUpload and returned only by GetFileContent, never by GetFile
	// or ListFiles, so listings stay small.
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
	// GetFileContent returns the file's bytes.
	GetFileContent(ctx context.Context, projectID, id string) ([]byte, error)
	// ListFiles orders by (CreateTime, ID) descending, without Content.
	ListFiles(ctx context.Context, projectID string, page Page) ([]*File, error)
	DeleteFile(ctx context.Context, projectID, id string) error

	CreateUploadSession(ctx context.Context, s *UploadSession) error
	GetUploadSession(ctx context.Context, projectID, id string) (*UploadSession, error)
	// AppendUpload appends chunk at offset and returns the session as
	// updated. An offset other than Received fails with EPRECONDITION and
	// changes nothing (the client then asks for the status and resumes);
	// growing past DeclaredSize (when known) or MaxFileSize fails with
	// ETOOLARGE.
	AppendUpload(ctx context.Context, projectID, id string, offset int64, chunk []byte) (*UploadSession, error)
	// FinalizeUpload, in one transaction, creates the File of a finished
	// session — ID FileID, its DisplayName and MimeType, the received bytes
	// with their size and SHA-256, Source UPLOADED, State ACTIVE, created
	// at now — and deletes the session. When DeclaredSize is known and
	// differs from Received it fails with EPRECONDITION and changes nothing.
	FinalizeUpload(ctx context.Context, projectID, id string, now time.Time) (*File, error)
	// DeleteExpiredUploads discards sessions whose ExpireTime has passed at
	// the store clock's now and returns how many.
	DeleteExpiredUploads(ctx context.Context) (int, error)
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

// CheckFinalize is the rule of FileStore.FinalizeUpload: every declared
// byte must have arrived.
func (s *UploadSession) CheckFinalize() error {
	if s.DeclaredSize >= 0 && s.Received != s.DeclaredSize {
		return Errorf(EPRECONDITION, "The upload has %d of its declared %d bytes.", s.Received, s.DeclaredSize)
	}
	return nil
}

// NewFile is the File that FinalizeUpload creates from the session and the
// bytes it received.
func (s *UploadSession) NewFile(content []byte, now time.Time) *File {
	f := NewFile(s.ProjectID, s.DisplayName, s.MimeType, FileUploaded, content, now)
	f.ID = s.FileID
	return f
}
