package lro

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// Service is the operations use cases over a store, for the API handlers:
// each method takes what the request asked (the project, path ids, a parsed
// request), commits through the store, and returns the domain values the
// API renders. Package api decodes and renders; all job logic stays here.
type Service struct {
	m     *Machine
	store webhookd.OperationStore
	clock webhookd.Clock
	// wake, when set, is called after every commit, so that a new job is
	// stepped at once (Driver.Wake). The events a commit emitted need no
	// call: the store that commits them wakes the delivery engine.
	wake func()
}

// NewService returns a Service. wake may be nil.
func NewService(m *Machine, store webhookd.OperationStore, clock webhookd.Clock, wake func()) *Service {
	if wake == nil {
		wake = func() {}
	}
	return &Service{m: m, store: store, clock: clock, wake: wake}
}

// Machine returns the service's machine (for renderings).
func (s *Service) Machine() *Machine { return s.m }

// DefaultPageSize is the page size of listings that ask for none.
const DefaultPageSize = 50

// maxConflictRetries bounds how often a cancel is re-applied when a runner
// step committed between its read and its write.
const maxConflictRetries = 5

// ErrInputFileNotFound is in the chain of the (EINVALID) error of a batch
// whose input file the project does not have, so that the API can name the
// field that named the file.
var ErrInputFileNotFound = errors.New("lro: batch input file not found")

// CreateBatch creates the batch req asks for. A batch over an uploaded file
// checks that the file exists now (ErrInputFileNotFound otherwise); a file
// deleted later fails the batch when it runs.
func (s *Service) CreateBatch(ctx context.Context, projectID string, req *BatchRequest) (*webhookd.Operation, error) {
	if req.FileName != "" {
		if _, err := s.store.GetFile(ctx, projectID, req.InputFileID()); err != nil {
			if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
				return nil, errors.Join(webhookd.Errorf(webhookd.EINVALID, "File %s not found; upload it first (ai.files.upload).", req.FileName), ErrInputFileNotFound)
			}
			return nil, fmt.Errorf("lro: look up batch input %s: %w", req.FileName, err)
		}
	}
	op, err := s.m.NewBatch(projectID, req, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.create(ctx, webhookd.OperationChange{Create: []*webhookd.Operation{op}}); err != nil {
		return nil, err
	}
	return op, nil
}

func (s *Service) create(ctx context.Context, c webhookd.OperationChange) error {
	if err := commit(ctx, s.m.tracer, s.store, nil, c); err != nil {
		return fmt.Errorf("lro: create operation: %w", err)
	}
	s.wake()
	return nil
}

// get returns the project's operation id of kind, or ENOTFOUND naming what
// the route calls it (another kind's id is not found either).
func (s *Service) get(ctx context.Context, projectID, id string, kind webhookd.OperationKind) (*webhookd.Operation, error) {
	op, err := s.store.GetOperation(ctx, projectID, id)
	if err == nil && op.Kind != kind {
		err = webhookd.ErrNotFound
	}
	if err != nil {
		if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
			return nil, webhookd.NotFound(kindNoun(kind))
		}
		return nil, fmt.Errorf("lro: get %s %s: %w", kind, id, err)
	}
	return op, nil
}

func kindNoun(kind webhookd.OperationKind) string {
	switch kind {
	case webhookd.OperationBatch:
		return "Batch"
	case webhookd.OperationInteraction:
		return "Interaction"
	case webhookd.OperationVideo:
		return "Operation"
	}
	return "Operation"
}

// GetBatch returns a batch of the project.
func (s *Service) GetBatch(ctx context.Context, projectID, id string) (*webhookd.Operation, error) {
	return s.get(ctx, projectID, id, webhookd.OperationBatch)
}

// List returns one page of a project's operations of kind ("" for every
// kind), newest first, and the cursor of the next page (zero when this is
// the last).
func (s *Service) List(ctx context.Context, projectID string, kind webhookd.OperationKind, page webhookd.Page) ([]*webhookd.Operation, webhookd.Cursor, error) {
	size := page.Size
	if size <= 0 {
		size = DefaultPageSize
	}
	page.Size = size + 1 // one more tells whether another page exists
	ops, err := s.store.ListOperations(ctx, projectID, webhookd.OperationFilter{Kind: kind}, page)
	if err != nil {
		return nil, webhookd.Cursor{}, fmt.Errorf("lro: list operations: %w", err)
	}
	var next webhookd.Cursor
	if len(ops) > size {
		ops = ops[:size]
		last := ops[size-1]
		next = webhookd.Cursor{Time: last.CreateTime, ID: last.ID}
	}
	return ops, next, nil
}

// GetOperation returns any operation of the project (GET /operations/{id}).
func (s *Service) GetOperation(ctx context.Context, projectID, id string) (*webhookd.Operation, error) {
	op, err := s.store.GetOperation(ctx, projectID, id)
	if err != nil {
		if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
			return nil, webhookd.NotFound("Operation")
		}
		return nil, fmt.Errorf("lro: get operation %s: %w", id, err)
	}
	return op, nil
}

// transition reads the operation, applies fn and commits the change,
// reading again when a runner step committed in between (ECONFLICT): a
// caller's cancel must not fail because the job moved on meanwhile.
func (s *Service) transition(ctx context.Context, projectID, id string, kind webhookd.OperationKind,
	fn func(*webhookd.Operation, time.Time) (webhookd.OperationChange, error)) (*webhookd.Operation, error) {
	for attempt := 0; ; attempt++ {
		op, err := s.get(ctx, projectID, id, kind)
		if err != nil {
			return nil, err
		}
		c, err := fn(op, s.now())
		if err != nil {
			return nil, err
		}
		if c.Empty() {
			return op, nil
		}
		err = commit(ctx, s.m.tracer, s.store, op, c)
		if err == nil {
			if len(c.Events) > 0 {
				s.wake()
			}
			return c.Update[0], nil
		}
		if webhookd.ErrorCode(err) != webhookd.ECONFLICT || attempt == maxConflictRetries {
			return nil, fmt.Errorf("lro: %s %s: %w", kind, id, err)
		}
	}
}

// CancelBatch cancels a batch and returns it as it is now.
func (s *Service) CancelBatch(ctx context.Context, projectID, id string) (*webhookd.Operation, error) {
	return s.transition(ctx, projectID, id, webhookd.OperationBatch, s.m.CancelBatch)
}

// Delete removes an operation of kind.
func (s *Service) Delete(ctx context.Context, projectID, id string, kind webhookd.OperationKind) error {
	if _, err := s.get(ctx, projectID, id, kind); err != nil {
		return err
	}
	if err := s.store.DeleteOperation(ctx, projectID, id); err != nil {
		if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
			return webhookd.NotFound(kindNoun(kind))
		}
		return fmt.Errorf("lro: delete %s: %w", id, err)
	}
	return nil
}

// CreateInteraction creates the interaction req asks for and returns it:
// queued for background ones, answered for synchronous ones. A follow-up
// that completes the interaction it continues commits both together.
// Synchronous interactions with store: false are answered and not kept.
func (s *Service) CreateInteraction(ctx context.Context, projectID string, req *InteractionRequest) (*webhookd.Operation, error) {
	var (
		prev *webhookd.Operation
		err  error
	)
	if req.PreviousInteractionID != "" {
		prev, err = s.get(ctx, projectID, req.PreviousInteractionID, webhookd.OperationInteraction)
		if err != nil && webhookd.ErrorCode(err) != webhookd.ENOTFOUND {
			return nil, err
		}
	}
	c, op, err := s.m.NewInteraction(projectID, req, prev, s.now())
	if err != nil {
		return nil, err
	}
	if !req.Store && !req.Background {
		c.Create = nil
	}
	if !c.Empty() {
		if err := s.create(ctx, c); err != nil {
			return nil, err
		}
	}
	return op, nil
}

// GetInteraction returns an interaction of the project.
func (s *Service) GetInteraction(ctx context.Context, projectID, id string) (*webhookd.Operation, error) {
	return s.get(ctx, projectID, id, webhookd.OperationInteraction)
}

// CancelInteraction cancels an interaction and returns it.
func (s *Service) CancelInteraction(ctx context.Context, projectID, id string) (*webhookd.Operation, error) {
	return s.transition(ctx, projectID, id, webhookd.OperationInteraction, s.m.CancelInteraction)
}

// CreateVideo starts the video generation req asks for.
func (s *Service) CreateVideo(ctx context.Context, projectID string, req *VideoRequest) (*webhookd.Operation, error) {
	op, err := s.m.NewVideo(projectID, req, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.create(ctx, webhookd.OperationChange{Create: []*webhookd.Operation{op}}); err != nil {
		return nil, err
	}
	return op, nil
}

// GetVideo returns a video operation (GET /models/{model}/operations/{id});
// model (without "models/") must be the operation's.
func (s *Service) GetVideo(ctx context.Context, projectID, model, id string) (*webhookd.Operation, error) {
	op, err := s.get(ctx, projectID, id, webhookd.OperationVideo)
	if err != nil {
		return nil, err
	}
	if model != op.Model {
		return nil, webhookd.NotFound("Operation")
	}
	return op, nil
}

// StartUpload opens a resumable upload session for what start declares. A
// declared size that the project's quota has no room for is refused at once
// rather than after the bytes are sent; the chunks are checked again as
// they come (the store's AppendUpload), as other uploads may fill the room.
func (s *Service) StartUpload(ctx context.Context, projectID string, start UploadStart) (*webhookd.UploadSession, error) {
	if quota := s.m.cfg.FileQuota; quota > 0 && start.DeclaredSize > 0 {
		used, err := s.store.FileUsage(ctx, projectID)
		if err != nil {
			return nil, fmt.Errorf("lro: file usage: %w", err)
		}
		if err := webhookd.CheckQuota(used, start.DeclaredSize, quota); err != nil {
			return nil, err
		}
	}
	sess := NewUploadSession(projectID, start, s.now())
	if err := s.store.CreateUploadSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("lro: create upload session: %w", err)
	}
	return sess, nil
}

// UploadResult is the answer to a chunk request: Status is "active" while
// more is expected, "cancelled", or "final" once File exists; Received is
// how many bytes the session holds.
type UploadResult struct {
	Status   string
	Received int64
	File     *webhookd.File
}

// UploadChunk applies one chunk request of session id: cmd at offset (-1
// when the request named none: the end of what was received), with chunk.
func (s *Service) UploadChunk(ctx context.Context, projectID, id string, cmd UploadCommand, offset int64, chunk []byte) (UploadResult, error) {
	sess, err := s.store.GetUploadSession(ctx, projectID, id)
	if err != nil {
		if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
			return UploadResult{}, webhookd.NotFound("Upload")
		}
		return UploadResult{}, fmt.Errorf("lro: get upload %s: %w", id, err)
	}
	switch {
	case cmd.Cancel:
		return UploadResult{Status: "cancelled", Received: sess.Received}, nil
	case cmd.Query:
		return UploadResult{Status: "active", Received: sess.Received}, nil
	}
	if cmd.Upload {
		if offset < 0 {
			offset = sess.Received
		}
		if sess, err = s.store.AppendUpload(ctx, projectID, id, offset, chunk, s.m.cfg.FileQuota); err != nil {
			return UploadResult{}, err
		}
	}
	if !cmd.Finalize {
		return UploadResult{Status: "active", Received: sess.Received}, nil
	}
	f, err := s.store.FinalizeUpload(ctx, projectID, id, s.now())
	if err != nil {
		return UploadResult{}, err
	}
	return UploadResult{Status: "final", Received: f.SizeBytes, File: f}, nil
}

func (s *Service) file(ctx context.Context, projectID, id string) (*webhookd.File, error) {
	f, err := s.store.GetFile(ctx, projectID, strings.TrimPrefix(id, "files/"))
	if err != nil {
		if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
			return nil, webhookd.NotFound("File")
		}
		return nil, fmt.Errorf("lro: get file %s: %w", id, err)
	}
	return f, nil
}

// GetFile returns a file's metadata (GET /files/{id}).
func (s *Service) GetFile(ctx context.Context, projectID, id string) (*webhookd.File, error) {
	return s.file(ctx, projectID, id)
}

// ListFiles returns one page of files, newest first, and the next cursor.
func (s *Service) ListFiles(ctx context.Context, projectID string, page webhookd.Page) ([]*webhookd.File, webhookd.Cursor, error) {
	size := page.Size
	if size <= 0 {
		size = DefaultPageSize
	}
	page.Size = size + 1
	files, err := s.store.ListFiles(ctx, projectID, page)
	if err != nil {
		return nil, webhookd.Cursor{}, fmt.Errorf("lro: list files: %w", err)
	}
	var next webhookd.Cursor
	if len(files) > size {
		files = files[:size]
		next = webhookd.Cursor{Time: files[size-1].CreateTime, ID: files[size-1].ID}
	}
	return files, next, nil
}

// DownloadFile returns a file's record and a reader of its content, which
// reads it from the store a piece at a time
// (GET /files/{id}:download?alt=media).
func (s *Service) DownloadFile(ctx context.Context, projectID, id string) (*webhookd.File, io.Reader, error) {
	f, err := s.file(ctx, projectID, id)
	if err != nil {
		return nil, nil, err
	}
	return f, webhookd.NewFileReader(ctx, s.store, f), nil
}

// DeleteFile removes a file.
func (s *Service) DeleteFile(ctx context.Context, projectID, id string) error {
	f, err := s.file(ctx, projectID, id)
	if err != nil {
		return err
	}
	if err := s.store.DeleteFile(ctx, projectID, f.ID); err != nil {
		return fmt.Errorf("lro: delete file %s: %w", f.ID, err)
	}
	return nil
}

// now is the service clock's time at the precision both stores keep
// (microseconds), so a create response shows the same times as a later get.
func (s *Service) now() time.Time { return s.clock.Now().Truncate(time.Microsecond) }
