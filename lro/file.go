package lro

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/webhookd/webhookd"
)

// The Files API as ai.files.upload speaks it (the resumable protocol), minus
// the HTTP: the api package maps headers and routes onto these functions.
//
//	start:    POST /upload/{v}/files
//	          X-Goog-Upload-Protocol: resumable, X-Goog-Upload-Command: start,
//	          X-Goog-Upload-Header-Content-Length / -Content-Type,
//	          body {"file":{"displayName","mimeType","name"?}}
//	          → 200 {}, X-Goog-Upload-URL: UploadURL(session), X-Goog-Upload-Status: active
//	chunks:   POST <upload URL>, X-Goog-Upload-Command: "upload" | "upload, finalize" | "query",
//	          X-Goog-Upload-Offset: n, body = the chunk
//	          → X-Goog-Upload-Status: active (more expected) | final with body {"file": File}
//
// The SDK keeps the upload URL's path and query and swaps in its own base
// URL's scheme and host, so the URL must carry webhookd's path prefix.

// Header names of the resumable upload protocol.
const (
	HeaderUploadCommand       = "X-Goog-Upload-Command"
	HeaderUploadOffset        = "X-Goog-Upload-Offset"
	HeaderUploadURL           = "X-Goog-Upload-URL"
	HeaderUploadStatus        = "X-Goog-Upload-Status"
	HeaderUploadContentLength = "X-Goog-Upload-Header-Content-Length"
	HeaderUploadContentType   = "X-Goog-Upload-Header-Content-Type"
	HeaderUploadSizeReceived  = "X-Goog-Upload-Size-Received"
)

// PrefixUpload starts upload session ids.
const PrefixUpload = "upl_"

// ParseUploadStart turns a start request into the session to store:
// the declared size and type come from the X-Goog-Upload-Header-* headers
// (given here as contentLength and contentType, "" when absent), or from
// the body's file.sizeBytes and file.mimeType; file.name "files/{id}" picks
// the file's id.
func ParseUploadStart(projectID string, body []byte, contentLength, contentType string, now time.Time) (*webhookd.UploadSession, error) {
	root, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	s := &webhookd.UploadSession{
		ID: webhookd.NewID(PrefixUpload), ProjectID: projectID, FileID: webhookd.NewID(webhookd.PrefixFile),
		DeclaredSize: -1, CreateTime: now, ExpireTime: now.Add(webhookd.UploadSessionTTL),
	}
	file, err := root.obj("file")
	if err != nil {
		return nil, err
	}
	if file == nil {
		file = &object{path: "file", m: map[string]json.RawMessage{}}
	}
	if name, err := file.str("name"); err != nil {
		return nil, err
	} else if name != "" {
		if _, err := checkFileName("file.name", name); err != nil {
			return nil, err
		}
		s.FileID = strings.TrimPrefix(name, "files/")
	}
	if s.DisplayName, err = parseDisplayName(file); err != nil {
		return nil, err
	}
	if s.MimeType, err = file.str("mimeType"); err != nil {
		return nil, err
	}
	if s.MimeType == "" {
		s.MimeType = strings.TrimSpace(contentType)
	}
	if s.MimeType == "" {
		s.MimeType = "application/octet-stream"
	}
	if len(s.MimeType) > 256 || strings.ContainsAny(s.MimeType, "\r\n") {
		return nil, webhookd.FieldErrorf("file.mimeType", "file.mimeType must be a media type.")
	}
	size, field := strings.TrimSpace(contentLength), HeaderUploadContentLength
	if size == "" {
		// sizeBytes is an int64: a string in proto JSON, a number from hand-written clients.
		if raw, path, ok := file.lookup("sizeBytes"); ok {
			var n json.Number
			if json.Unmarshal(raw, &n) != nil {
				var str string
				if json.Unmarshal(raw, &str) != nil {
					return nil, webhookd.FieldErrorf(path, "%s must be a number of bytes.", path)
				}
				n = json.Number(str)
			}
			size, field = string(n), path
		}
	}
	if size != "" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n < 0 {
			return nil, webhookd.FieldErrorf(field, "%s must be a number of bytes, got %q.", field, size)
		}
		if n > webhookd.MaxFileSize {
			return nil, &webhookd.Error{Code: webhookd.ETOOLARGE, Field: field, Message: "Files may be at most " + strconv.Itoa(webhookd.MaxFileSize) + " bytes."}
		}
		s.DeclaredSize = n
	}
	return s, nil
}

// UploadCommand is a parsed X-Goog-Upload-Command of a chunk request.
type UploadCommand struct {
	Upload, Finalize, Query, Cancel bool
}

// ParseUploadCommand reads "upload", "upload, finalize", "finalize",
// "query" or "cancel" (comma-separated, any case).
func ParseUploadCommand(header string) (UploadCommand, error) {
	var c UploadCommand
	for _, part := range strings.Split(header, ",") {
		switch strings.ToLower(strings.TrimSpace(part)) {
		case "upload":
			c.Upload = true
		case "finalize":
			c.Finalize = true
		case "query":
			c.Query = true
		case "cancel":
			c.Cancel = true
		default:
			return UploadCommand{}, webhookd.FieldErrorf(HeaderUploadCommand, "%s must be upload, finalize, query or cancel, got %q.", HeaderUploadCommand, header)
		}
	}
	return c, nil
}

// UploadURL is the URL the start response hands the client for its chunks.
func (m *Machine) UploadURL(sessionID string) string {
	return m.cfg.PublicBaseURL + "/upload/v1/files?upload_id=" + url.QueryEscape(sessionID)
}

// fileJSON is the Files API's File in camelCase proto JSON.
type fileJSON struct {
	Name           string `json:"name"`
	DisplayName    string `json:"displayName,omitempty"`
	MimeType       string `json:"mimeType"`
	SizeBytes      string `json:"sizeBytes"`
	CreateTime     string `json:"createTime"`
	UpdateTime     string `json:"updateTime"`
	ExpirationTime string `json:"expirationTime,omitempty"`
	SHA256Hash     []byte `json:"sha256Hash,omitempty"` // bytes: base64 in proto JSON
	URI            string `json:"uri"`
	DownloadURI    string `json:"downloadUri"`
	State          string `json:"state"`
	Source         string `json:"source"`
}

// RenderFile renders a file as ai.files.get/upload read it:
// {name:"files/{id}", displayName, mimeType, sizeBytes, createTime,
// updateTime, expirationTime, sha256Hash, uri, downloadUri, state, source}.
func (m *Machine) RenderFile(f *webhookd.File) (json.RawMessage, error) {
	out := fileJSON{
		Name: f.Name(), DisplayName: f.DisplayName, MimeType: f.MimeType, SizeBytes: strconv.FormatInt(f.SizeBytes, 10),
		CreateTime: protoTime(f.CreateTime), UpdateTime: protoTime(f.UpdateTime), SHA256Hash: f.SHA256,
		URI: m.cfg.PublicBaseURL + "/v1/" + f.Name(), DownloadURI: m.DownloadURL(f.ID),
		State: string(f.State), Source: string(f.Source),
	}
	if f.ExpireTime != nil {
		out.ExpirationTime = protoTime(*f.ExpireTime)
	}
	return marshal(out)
}
