package lrotest

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/webhookd/webhookd"
)

// MemStore is an in-memory webhookd.OperationStore: the reference the
// conformance suite is checked against, and a stand-in for a store in the
// tests of code above it (the Driver, the Service). It publishes events
// into a list instead of routing them.
type MemStore struct {
	clock webhookd.Clock

	mu      sync.Mutex
	ops     map[string]*webhookd.Operation
	files   map[string]*webhookd.File
	uploads map[string]*webhookd.UploadSession
	data    map[string][]byte // upload session id → bytes received
	events  []*webhookd.Event
	commits int

	eventTypes map[eventTypeKey]*webhookd.EventType
}

// NewMemStore returns an empty store whose claims use clock.
func NewMemStore(clock webhookd.Clock) *MemStore {
	return &MemStore{
		clock:   clock,
		ops:     map[string]*webhookd.Operation{},
		files:   map[string]*webhookd.File{},
		uploads: map[string]*webhookd.UploadSession{},
		data:    map[string][]byte{},
	}
}

var _ webhookd.OperationStore = (*MemStore)(nil)

// Events returns the events published so far in a project, newest first
// (as Store.ListEvents orders them).
func (s *MemStore) Events(_ context.Context, projectID string) ([]*webhookd.Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*webhookd.Event
	for i := len(s.events) - 1; i >= 0; i-- {
		if s.events[i].ProjectID == projectID {
			e := *s.events[i]
			out = append(out, &e)
		}
	}
	return out, nil
}

// Commits counts the successful CommitOperationChange calls.
func (s *MemStore) Commits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits
}

// CommitOperationChange implements webhookd.OperationStore: every check
// runs before anything is written, so a failed change writes nothing.
func (s *MemStore) CommitOperationChange(_ context.Context, c webhookd.OperationChange) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range c.Create {
		if _, ok := s.ops[op.ID]; ok {
			return webhookd.Errorf(webhookd.ECONFLICT, "Operation %s already exists.", op.ID)
		}
	}
	for _, op := range c.Update {
		cur, ok := s.ops[op.ID]
		if !ok || cur.ProjectID != op.ProjectID {
			return webhookd.NotFound("Operation")
		}
		if cur.Version != op.Version-1 {
			return webhookd.Errorf(webhookd.ECONFLICT, "Operation %s changed concurrently (version %d, not %d).", op.ID, cur.Version, op.Version-1)
		}
	}
	for _, f := range c.Files {
		if _, ok := s.files[f.ID]; ok {
			return webhookd.Errorf(webhookd.ECONFLICT, "File %s already exists.", f.ID)
		}
	}
	now := s.clock.Now()
	var events []*webhookd.Event
	for _, ne := range c.Events {
		ev, err := ne.Event(now) // as a store writes it
		if err != nil {
			return err
		}
		events = append(events, ev)
	}
	for _, op := range c.Create {
		s.ops[op.ID] = op.Clone()
	}
	for _, op := range c.Update {
		s.ops[op.ID] = op.Clone()
	}
	for _, f := range c.Files {
		s.files[f.ID] = cloneFile(f, true)
	}
	s.events = append(s.events, events...)
	s.commits++
	return nil
}

// GetOperation implements webhookd.OperationStore.
func (s *MemStore) GetOperation(_ context.Context, projectID, id string) (*webhookd.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.ops[id]
	if !ok || op.ProjectID != projectID {
		return nil, webhookd.NotFound("Operation")
	}
	return op.Clone(), nil
}

// newestFirst orders by (CreateTime, ID) descending.
func newestFirst(at, bt time.Time, aid, bid string) int {
	if c := bt.Compare(at); c != 0 {
		return c
	}
	return cmp.Compare(bid, aid)
}

// after reports whether (t, id) comes after the cursor in newest-first order.
func after(t time.Time, id string, c webhookd.Cursor) bool {
	return c.IsZero() || newestFirst(c.Time, t, c.ID, id) < 0
}

// ListOperations implements webhookd.OperationStore.
func (s *MemStore) ListOperations(_ context.Context, projectID string, filter webhookd.OperationFilter, page webhookd.Page) ([]*webhookd.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*webhookd.Operation
	for _, op := range s.ops {
		if op.ProjectID == projectID && (filter.Kind == "" || op.Kind == filter.Kind) && after(op.CreateTime, op.ID, page.After) {
			out = append(out, op.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *webhookd.Operation) int { return newestFirst(a.CreateTime, b.CreateTime, a.ID, b.ID) })
	if page.Size > 0 && len(out) > page.Size {
		out = out[:page.Size]
	}
	return out, nil
}

// DeleteOperation implements webhookd.OperationStore.
func (s *MemStore) DeleteOperation(_ context.Context, projectID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.ops[id]
	if !ok || op.ProjectID != projectID {
		return webhookd.NotFound("Operation")
	}
	delete(s.ops, id)
	return nil
}

// ClaimOperations implements webhookd.OperationStore.
func (s *MemStore) ClaimOperations(_ context.Context, limit int, lease time.Duration) ([]*webhookd.Operation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var due []*webhookd.Operation
	for _, op := range s.ops {
		if op.NextStepTime != nil && !op.NextStepTime.After(now) {
			due = append(due, op)
		}
	}
	slices.SortFunc(due, func(a, b *webhookd.Operation) int {
		if c := a.NextStepTime.Compare(*b.NextStepTime); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if len(due) > limit {
		due = due[:limit]
	}
	out := make([]*webhookd.Operation, 0, len(due))
	for _, op := range due {
		end := now.Add(lease)
		op.NextStepTime = &end
		op.Version++
		out = append(out, op.Clone())
	}
	return out, nil
}

func cloneFile(f *webhookd.File, withContent bool) *webhookd.File {
	c := *f
	c.SHA256 = bytes.Clone(f.SHA256)
	c.Content = nil
	if withContent {
		c.Content = bytes.Clone(f.Content)
	}
	if f.ExpireTime != nil {
		t := *f.ExpireTime
		c.ExpireTime = &t
	}
	return &c
}

// CreateFile implements webhookd.FileStore.
func (s *MemStore) CreateFile(_ context.Context, f *webhookd.File) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[f.ID]; ok {
		return webhookd.Errorf(webhookd.ECONFLICT, "File %s already exists.", f.ID)
	}
	s.files[f.ID] = cloneFile(f, true)
	return nil
}

func (s *MemStore) file(projectID, id string) (*webhookd.File, error) {
	f, ok := s.files[id]
	if !ok || f.ProjectID != projectID {
		return nil, webhookd.NotFound("File")
	}
	return f, nil
}

// GetFile implements webhookd.FileStore.
func (s *MemStore) GetFile(_ context.Context, projectID, id string) (*webhookd.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.file(projectID, id)
	if err != nil {
		return nil, err
	}
	return cloneFile(f, false), nil
}

// ReadFileChunk implements webhookd.FileStore: the pieces are those
// webhookd.Pieces cuts.
func (s *MemStore) ReadFileChunk(_ context.Context, projectID, id string, offset int64, buf []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.file(projectID, id)
	if err != nil || offset < 0 || offset >= int64(len(f.Content)) || offset%webhookd.FileChunkSize != 0 {
		return buf[:0], io.EOF
	}
	return append(buf[:0], f.Content[offset:min(offset+webhookd.FileChunkSize, int64(len(f.Content)))]...), nil
}

// ListFiles implements webhookd.FileStore.
func (s *MemStore) ListFiles(_ context.Context, projectID string, page webhookd.Page) ([]*webhookd.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*webhookd.File
	for _, f := range s.files {
		if f.ProjectID == projectID && after(f.CreateTime, f.ID, page.After) {
			out = append(out, cloneFile(f, false))
		}
	}
	slices.SortFunc(out, func(a, b *webhookd.File) int { return newestFirst(a.CreateTime, b.CreateTime, a.ID, b.ID) })
	if page.Size > 0 && len(out) > page.Size {
		out = out[:page.Size]
	}
	return out, nil
}

// DeleteFile implements webhookd.FileStore.
func (s *MemStore) DeleteFile(_ context.Context, projectID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.file(projectID, id); err != nil {
		return err
	}
	delete(s.files, id)
	return nil
}

// CreateUploadSession implements webhookd.FileStore.
func (s *MemStore) CreateUploadSession(_ context.Context, u *webhookd.UploadSession) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.uploads[u.ID]; ok {
		return webhookd.Errorf(webhookd.ECONFLICT, "Upload %s already exists.", u.ID)
	}
	c := *u
	s.uploads[u.ID] = &c
	return nil
}

func (s *MemStore) upload(projectID, id string) (*webhookd.UploadSession, error) {
	u, ok := s.uploads[id]
	if !ok || u.ProjectID != projectID {
		return nil, webhookd.NotFound("Upload")
	}
	return u, nil
}

// GetUploadSession implements webhookd.FileStore.
func (s *MemStore) GetUploadSession(_ context.Context, projectID, id string) (*webhookd.UploadSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.upload(projectID, id)
	if err != nil {
		return nil, err
	}
	c := *u
	return &c, nil
}

// FileUsage implements webhookd.FileStore.
func (s *MemStore) FileUsage(_ context.Context, projectID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.usage(projectID), nil
}

func (s *MemStore) usage(projectID string) int64 {
	var n int64
	for _, f := range s.files {
		if f.ProjectID == projectID {
			n += f.SizeBytes
		}
	}
	for _, u := range s.uploads {
		if u.ProjectID == projectID {
			n += u.Received
		}
	}
	return n
}

// AppendUpload implements webhookd.FileStore.
func (s *MemStore) AppendUpload(_ context.Context, projectID, id string, offset int64, chunk []byte, quota int64) (*webhookd.UploadSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.upload(projectID, id)
	if err != nil {
		return nil, err
	}
	if err := u.CheckAppend(offset, int64(len(chunk))); err != nil {
		return nil, err
	}
	if len(chunk) > 0 {
		if err := webhookd.CheckQuota(s.usage(projectID), int64(len(chunk)), quota); err != nil {
			return nil, err
		}
	}
	s.data[id] = append(s.data[id], chunk...)
	u.Received += int64(len(chunk))
	c := *u
	return &c, nil
}

// FinalizeUpload implements webhookd.FileStore.
func (s *MemStore) FinalizeUpload(_ context.Context, projectID, id string, now time.Time) (*webhookd.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.upload(projectID, id)
	if err != nil {
		return nil, err
	}
	if err := u.CheckFinalize(); err != nil {
		return nil, err
	}
	if _, ok := s.files[u.FileID]; ok {
		return nil, webhookd.Errorf(webhookd.ECONFLICT, "File %s already exists.", u.FileID)
	}
	content := s.data[id]
	sum := sha256.Sum256(content)
	f := u.NewFile(sum[:], now)
	f.Content = content
	s.files[f.ID] = cloneFile(f, true)
	delete(s.uploads, id)
	delete(s.data, id)
	return cloneFile(f, false), nil
}

// DeleteExpiredUploads implements webhookd.FileStore.
func (s *MemStore) DeleteExpiredUploads(_ context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	n := 0
	for id, u := range s.uploads {
		if !u.ExpireTime.After(now) {
			delete(s.uploads, id)
			delete(s.data, id)
			n++
		}
	}
	return n, nil
}

// DeleteExpiredFiles implements webhookd.FileStore.
func (s *MemStore) DeleteExpiredFiles(_ context.Context, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var due []*webhookd.File
	for _, f := range s.files {
		if f.ExpireTime != nil && !f.ExpireTime.After(now) {
			due = append(due, f)
		}
	}
	slices.SortFunc(due, func(a, b *webhookd.File) int { return a.ExpireTime.Compare(*b.ExpireTime) })
	due = due[:min(limit, len(due))]
	for _, f := range due {
		delete(s.files, f.ID)
	}
	return len(due), nil
}
