package api

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// The Files API on the wire, as ai.files.upload speaks it (the resumable
// protocol):
//
//	start:    POST /upload/{v}/files
//	          X-Goog-Upload-Protocol: resumable, X-Goog-Upload-Command: start,
//	          X-Goog-Upload-Header-Content-Length / -Content-Type,
//	          body {"file":{"displayName","mimeType","name"?}}
//	          → 200 {}, X-Goog-Upload-URL: the session's URL, X-Goog-Upload-Status: active
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

// The objects of an upload's start request. Open: the SDK sends the File
// resource its caller described, which has more fields than a start reads.
var (
	uploadStartSchema = schema{fields: []string{"file"}, open: true}
	uploadFileSchema  = schema{fields: []string{"name", "display_name", "mime_type", "size_bytes"}, open: true}
)

// parseUploadStart reads a start request: the declared size and type come
// from the X-Goog-Upload-Header-* headers (contentLength and contentType,
// "" when absent), or from the body's file.sizeBytes and file.mimeType;
// file.name "files/{id}" picks the file's id.
func parseUploadStart(root *object, contentLength, contentType string) (lro.UploadStart, error) {
	start := lro.UploadStart{DeclaredSize: -1}
	file, ok, err := root.object("file", uploadFileSchema)
	if err != nil {
		return start, err
	}
	if !ok {
		file = &object{fieldRef: fieldRef{path: "file", sent: "file"}, depth: 2}
	}
	if name, _, err := file.string("name"); err != nil {
		return start, err
	} else if name != "" {
		if start.FileID, err = fileName(file, "name"); err != nil {
			return start, err
		}
	}
	if start.DisplayName, err = displayName(file); err != nil {
		return start, err
	}
	if start.MimeType, _, err = file.string("mime_type"); err != nil {
		return start, err
	}
	if start.MimeType == "" {
		start.MimeType = strings.TrimSpace(contentType)
	}
	if len(start.MimeType) > 256 || strings.ContainsAny(start.MimeType, "\r\n") {
		return start, file.at("mime_type").errorf("must be a media type.")
	}
	size, at := strings.TrimSpace(contentLength), fieldRef{path: HeaderUploadContentLength, sent: HeaderUploadContentLength}
	if raw, ok := file.raw("size_bytes"); size == "" && ok {
		// sizeBytes is an int64: a string in proto JSON, a number from hand-written clients.
		at = file.at("size_bytes")
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			var str string
			if json.Unmarshal(raw, &str) != nil {
				return start, at.errorf("must be a number of bytes.")
			}
			n = json.Number(str)
		}
		size = string(n)
	}
	if size != "" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n < 0 {
			return start, at.errorf("must be a number of bytes, got %q.", size)
		}
		if n > webhookd.MaxFileSize {
			return start, &webhookd.Error{Code: webhookd.ETOOLARGE, Field: at.path, Message: "Files may be at most " + strconv.Itoa(webhookd.MaxFileSize) + " bytes."}
		}
		start.DeclaredSize = n
	}
	return start, nil
}

// parseUploadCommand reads X-Goog-Upload-Command of a chunk request:
// "upload", "upload, finalize", "finalize", "query" or "cancel"
// (comma-separated, any case).
func parseUploadCommand(header string) (lro.UploadCommand, error) {
	var c lro.UploadCommand
	for part := range strings.SplitSeq(header, ",") {
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
			return lro.UploadCommand{}, webhookd.FieldErrorf(HeaderUploadCommand, "%s must be upload, finalize, query or cancel, got %q.", HeaderUploadCommand, header)
		}
	}
	return c, nil
}

// parseUploadOffset reads X-Goog-Upload-Offset: a byte offset, or -1 when
// the request names none.
func parseUploadOffset(header string) (int64, error) {
	h := strings.TrimSpace(header)
	if h == "" {
		return -1, nil
	}
	off, err := strconv.ParseInt(h, 10, 64)
	if err != nil || off < 0 {
		return 0, webhookd.FieldErrorf(HeaderUploadOffset, "%s must be a byte offset, got %q.", HeaderUploadOffset, header)
	}
	return off, nil
}

// uploadURL is the URL the start response hands the client for its chunks.
func (s *Server) uploadURL(sessionID string) string {
	return s.cfg.Operations.Machine().Config().PublicBaseURL + "/upload/v1/files?upload_id=" + url.QueryEscape(sessionID)
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

// renderFile renders a file as ai.files.get and upload read it:
// {name:"files/{id}", displayName, mimeType, sizeBytes, createTime,
// updateTime, expirationTime, sha256Hash, uri, downloadUri, state, source}.
func (s *Server) renderFile(f *webhookd.File) *fileJSON {
	m := s.cfg.Operations.Machine()
	return &fileJSON{
		Name: f.Name(), DisplayName: f.DisplayName, MimeType: f.MimeType, SizeBytes: strconv.FormatInt(f.SizeBytes, 10),
		CreateTime: formatTime(f.CreateTime), UpdateTime: formatTime(f.UpdateTime), ExpirationTime: formatTimePtr(f.ExpireTime),
		SHA256Hash: f.SHA256, URI: m.Config().PublicBaseURL + "/v1/" + f.Name(), DownloadURI: m.DownloadURL(f.ID),
		State: string(f.State), Source: string(f.Source),
	}
}
