package lro

import (
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// The Files API's resumable upload, as ai.files.upload speaks it, minus the
// HTTP (package api maps its headers and routes onto these types): a start
// request declares the file (UploadStart) and opens a session; each chunk
// request then says what to do (UploadCommand) at which offset.

// PrefixUpload starts upload session ids.
const PrefixUpload = "upl_"

// UploadStart is what the start request of an upload declares.
type UploadStart struct {
	// FileID is the id the file will have ("" for a new one).
	FileID      string
	DisplayName string
	MimeType    string
	// DeclaredSize is the file's size in bytes, or -1 when not declared.
	DeclaredSize int64
}

// NewUploadSession returns the session a start request opens at now. A
// file without a declared media type is application/octet-stream.
func NewUploadSession(projectID string, start UploadStart, now time.Time) *webhookd.UploadSession {
	s := &webhookd.UploadSession{
		ID: webhookd.NewID(PrefixUpload), ProjectID: projectID, FileID: strings.TrimPrefix(start.FileID, "files/"),
		DisplayName: start.DisplayName, MimeType: start.MimeType, DeclaredSize: start.DeclaredSize,
		CreateTime: now, ExpireTime: now.Add(webhookd.UploadSessionTTL),
	}
	if s.FileID == "" {
		s.FileID = webhookd.NewID(webhookd.PrefixFile)
	}
	if s.MimeType == "" {
		s.MimeType = "application/octet-stream"
	}
	return s
}

// UploadCommand is what a chunk request asks: upload its bytes, finalize
// the file, or query or cancel the session (upload and finalize combine).
type UploadCommand struct {
	Upload, Finalize, Query, Cancel bool
}
