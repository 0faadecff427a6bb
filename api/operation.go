package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/webhookd/webhookd"
	"github.com/webhookd/webhookd/lro"
)

// The long-running operations routes: batches, background interactions,
// video generation, the generic operations listing and the Files API that
// batch inputs and job outputs travel through. These handlers decode the
// request into lro's types (batch.go, interaction.go, video.go, file.go),
// call lro.Service, where every job rule lives, and render what it answers.
//
//	POST   /models/{model}:batchGenerateContent   create a batch (the SDKs' shape)
//	POST   /models/{model}:batchCreate            create a batch (the source document's shape)
//	GET    /batches?pageSize&pageToken            {operations, nextPageToken}, newest first
//	GET    /batches/{id}                          the batch as an Operation
//	POST   /batches/{id}:cancel                   → {}
//	DELETE /batches/{id}                          → {}
//	POST   /interactions                          create (background: true runs as a job)
//	GET    /interactions/{id}?include_input       get
//	POST   /interactions/{id}/cancel              cancel (a slash, as the SDK sends it)
//	DELETE /interactions/{id}                     → {}
//	POST   /models/{model}:predictLongRunning     start a video generation
//	GET    /models/{model}/operations/{id}        poll it
//	GET    /operations?pageSize&pageToken         every kind, newest first
//	GET    /operations/{id}                       any operation
//	POST   /upload/{v}/files                      resumable upload: start, then chunks (?upload_id)
//	GET    /files?pageSize&pageToken              {files, nextPageToken}, newest first
//	GET    /files/{id}                            file metadata
//	GET    /files/{id}:download?alt=media         the file's bytes
//	DELETE /files/{id}                            → {}

// Body limits of the operations routes, which carry more than the
// webhooks API's bodies do.
const (
	// MaxBatchBodyBytes bounds a batch create request, whose inline
	// requests may be many: the Gemini API's limit for inline batches
	// (20 MB). Larger inputs belong in an uploaded file.
	MaxBatchBodyBytes = 20 << 20
	// MaxUploadChunkBytes bounds one chunk of a resumable upload: the
	// SDKs send 8 MiB chunks.
	MaxUploadChunkBytes = 8 << 20
)

// Collections of the page tokens of these listings; a token of one does not
// continue another.
const (
	collectionBatches    = "batches"
	collectionOperations = "operations"
	collectionFiles      = "files"
)

// operationRoutes is the operations surface, served when
// Config.Operations is set.
func (s *Server) operationRoutes() []route {
	return []route{
		newRoute(http.MethodPost, "/models/{model}:batchGenerateContent", s.createBatch(batchGenerateContentSchema, s.parseBatchGenerateContent)),
		newRoute(http.MethodPost, "/models/{model}:batchCreate", s.createBatch(batchCreateSchema, s.parseBatchCreate)),
		newRoute(http.MethodGet, "/batches", s.listBatches),
		newRoute(http.MethodGet, "/batches/{id}", s.getBatch),
		newRoute(http.MethodPost, "/batches/{id}:cancel", s.cancelBatch),
		newRoute(http.MethodDelete, "/batches/{id}", s.deleteOperation(webhookd.OperationBatch)),
		newRoute(http.MethodPost, "/interactions", s.createInteraction),
		newRoute(http.MethodGet, "/interactions/{id}", s.getInteraction),
		newRoute(http.MethodPost, "/interactions/{id}/cancel", s.cancelInteraction),
		newRoute(http.MethodDelete, "/interactions/{id}", s.deleteOperation(webhookd.OperationInteraction)),
		newRoute(http.MethodPost, "/models/{model}:predictLongRunning", s.createVideo),
		newRoute(http.MethodGet, "/models/{model}/operations/{id}", s.getVideo),
		newRoute(http.MethodGet, "/operations", s.listOperations),
		newRoute(http.MethodGet, "/operations/{id}", s.getOperation),
		newRoute(http.MethodPost, "/upload/files", s.upload),
		newRoute(http.MethodGet, "/files", s.listFiles),
		newRoute(http.MethodGet, "/files/{id}", s.getFile),
		newRoute(http.MethodGet, "/files/{id}:download", s.downloadFile),
		newRoute(http.MethodDelete, "/files/{id}", s.deleteFile),
	}
}

// operationJSON is a google.longrunning.Operation in camelCase proto JSON.
type operationJSON struct {
	Name     string      `json:"name"`
	Metadata any         `json:"metadata,omitempty"`
	Done     bool        `json:"done,omitempty"`
	Response any         `json:"response,omitempty"`
	Error    *statusJSON `json:"error,omitempty"`
}

// statusJSON is a google.rpc.Status.
type statusJSON struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// errorStatus is the error of a failed operation, nil for any other.
func errorStatus(op *webhookd.Operation) *statusJSON {
	if op.ErrorCode == "" {
		return nil
	}
	return &statusJSON{Code: lro.RPCCode(op.ErrorCode), Message: op.ErrorMessage}
}

// typeInteractionOp is the metadata type of an interaction listed as an
// Operation.
const typeInteractionOp = "type.googleapis.com/webhookd.v1.InteractionMetadata"

// interactionMetadata is the metadata of an interaction listed as an
// Operation: its status, as state.
type interactionMetadata struct {
	Type       string `json:"@type"`
	State      string `json:"state"`
	Model      string `json:"model,omitempty"`
	Agent      string `json:"agent,omitempty"`
	CreateTime string `json:"createTime"`
	UpdateTime string `json:"updateTime"`
	EndTime    string `json:"endTime,omitempty"`
}

// renderOperation renders any operation as the google.longrunning.Operation
// that GET /operations and GET /operations/{id} list: batches and video
// operations exactly as their own routes render them, interactions as an
// Operation named "interactions/{id}" whose metadata carries their status.
func (s *Server) renderOperation(op *webhookd.Operation) (*operationJSON, error) {
	switch op.Kind {
	case webhookd.OperationBatch:
		return renderBatch(op)
	case webhookd.OperationVideo:
		return s.renderVideo(op)
	case webhookd.OperationInteraction:
		md := interactionMetadata{
			Type: typeInteractionOp, State: string(op.State), Model: op.Model, Agent: op.Agent,
			CreateTime: formatTime(op.CreateTime), UpdateTime: formatTime(op.UpdateTime), EndTime: formatTimePtr(op.EndTime),
		}
		return &operationJSON{Name: op.Name(), Metadata: md, Done: op.State.Terminal(), Error: errorStatus(op)}, nil
	}
	return nil, fmt.Errorf("api: operation %s has unknown kind %q", op.ID, op.Kind)
}

// answer writes what render makes of the result of a Service call, or
// returns the call's error for ServeHTTP to answer:
// answer(w, renderBatch)(svc.GetBatch(…)).
func answer[T, J any](w http.ResponseWriter, render func(T) (J, error)) func(T, error) error {
	return func(v T, err error) error {
		if err != nil {
			return err
		}
		out, err := render(v)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// empty answers {} for a Service call that returns no value, or returns its
// error.
func empty(w http.ResponseWriter, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// readRaw reads the request body as it came, bounded by limit: upload
// chunks are bytes, not JSON, and an empty one (a bare finalize) must stay
// empty rather than read as "{}".
func readRaw(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &webhookd.Error{Code: webhookd.ETOOLARGE, Field: "body",
			Message: fmt.Sprintf("The request body must be at most %d bytes.", tooLarge.Limit)}
	case err != nil:
		return nil, webhookd.Errorf(webhookd.EINVALID, "The request body could not be read.")
	}
	return body, nil
}

// boolParam reads an optional boolean query parameter in either spelling.
func boolParam(r *http.Request, snake string) (bool, error) {
	v, err := queryParam(r, snake)
	if err != nil || v == "" {
		return false, err
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, webhookd.FieldErrorf(snake, "%s must be true or false, got %q.", snake, v)
	}
	return b, nil
}

// batchParser reads one of the batch create shapes; file is where the
// request named its input file, if it did.
type batchParser func(model string, root *object) (req *lro.BatchRequest, file fieldRef, err error)

func (s *Server) createBatch(sch schema, parse batchParser) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		root, err := s.decodeBodyUpTo(w, r, max(s.cfg.MaxBodyBytes, MaxBatchBodyBytes), sch)
		if err != nil {
			return err
		}
		req, file, err := parse(r.PathValue("model"), root)
		if err != nil {
			return err
		}
		op, err := s.cfg.Operations.CreateBatch(r.Context(), projectOf(r), req)
		return answer(w, renderBatch)(op, inputFileError(err, file))
	}
}

func (s *Server) getBatch(w http.ResponseWriter, r *http.Request) error {
	return answer(w, renderBatch)(s.cfg.Operations.GetBatch(r.Context(), projectOf(r), r.PathValue("id")))
}

// cancelBatch ignores the body and answers {}: the SDK sends {} and reads
// nothing back.
func (s *Server) cancelBatch(w http.ResponseWriter, r *http.Request) error {
	_, err := s.cfg.Operations.CancelBatch(r.Context(), projectOf(r), r.PathValue("id"))
	return empty(w, err)
}

func (s *Server) deleteOperation(kind webhookd.OperationKind) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return empty(w, s.cfg.Operations.Delete(r.Context(), projectOf(r), r.PathValue("id"), kind))
	}
}

// operationList is the google.longrunning ListOperationsResponse, in the
// camelCase the legacy SDK stack reads.
type operationList struct {
	Operations    []*operationJSON `json:"operations"`
	NextPageToken string           `json:"nextPageToken,omitempty"`
}

func (s *Server) listBatches(w http.ResponseWriter, r *http.Request) error {
	return s.listOps(w, r, collectionBatches, webhookd.OperationBatch)
}

// listOperations is the polling path that webhooks replace: every kind of
// the project's operations, newest first.
func (s *Server) listOperations(w http.ResponseWriter, r *http.Request) error {
	return s.listOps(w, r, collectionOperations, "")
}

func (s *Server) listOps(w http.ResponseWriter, r *http.Request, collection string, kind webhookd.OperationKind) error {
	l, err := s.parseListing(r, collection)
	if err != nil {
		return err
	}
	// lro asks its store for one more itself; give it the page as asked.
	ops, next, err := s.cfg.Operations.List(r.Context(), l.projectID, kind, webhookd.Page{Size: l.size, After: l.after})
	if err != nil {
		return err
	}
	out := operationList{Operations: make([]*operationJSON, len(ops))}
	for i, op := range ops {
		if out.Operations[i], err = s.renderOperation(op); err != nil {
			return err
		}
	}
	if !next.IsZero() {
		out.NextPageToken = s.tokens.encode(collection, l.projectID, next)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request) error {
	return answer(w, s.renderOperation)(s.cfg.Operations.GetOperation(r.Context(), projectOf(r), r.PathValue("id")))
}

func (s *Server) createInteraction(w http.ResponseWriter, r *http.Request) error {
	root, err := s.decodeBody(w, r, interactionSchema)
	if err != nil {
		return err
	}
	req, err := s.parseInteraction(root)
	if err != nil {
		return err
	}
	op, err := s.cfg.Operations.CreateInteraction(r.Context(), projectOf(r), req)
	return answer(w, withoutInput)(op, root.explain(err))
}

// withoutInput renders an interaction as every answer but a get that asks
// for its input does.
func withoutInput(op *webhookd.Operation) (*interactionJSON, error) {
	return renderInteraction(op, false)
}

// getInteraction answers the SDK's non-streaming get (it always sends
// stream=false); a streamed get is not served.
func (s *Server) getInteraction(w http.ResponseWriter, r *http.Request) error {
	stream, err := boolParam(r, "stream")
	if err != nil {
		return err
	}
	if stream {
		return &webhookd.Error{Code: webhookd.ENOTIMPLEMENTED, Field: "stream",
			Message: "Streaming interactions is not supported; get with stream=false."}
	}
	includeInput, err := boolParam(r, "include_input")
	if err != nil {
		return err
	}
	render := func(op *webhookd.Operation) (*interactionJSON, error) { return renderInteraction(op, includeInput) }
	return answer(w, render)(s.cfg.Operations.GetInteraction(r.Context(), projectOf(r), r.PathValue("id")))
}

// cancelInteraction takes no body: the SDK sends none.
func (s *Server) cancelInteraction(w http.ResponseWriter, r *http.Request) error {
	return answer(w, withoutInput)(s.cfg.Operations.CancelInteraction(r.Context(), projectOf(r), r.PathValue("id")))
}

func (s *Server) createVideo(w http.ResponseWriter, r *http.Request) error {
	root, err := s.decodeBody(w, r, videoSchema)
	if err != nil {
		return err
	}
	req, err := s.parseVideo(r.PathValue("model"), root)
	if err != nil {
		return err
	}
	return answer(w, s.renderVideo)(s.cfg.Operations.CreateVideo(r.Context(), projectOf(r), req))
}

// getVideo answers GET /models/{model}/operations/{id}; under another
// model's path, the operation is not found.
func (s *Server) getVideo(w http.ResponseWriter, r *http.Request) error {
	model, err := parseModel(r.PathValue("model"))
	if err != nil {
		return webhookd.NotFound("Operation")
	}
	return answer(w, s.renderVideo)(s.cfg.Operations.GetVideo(r.Context(), projectOf(r), model, r.PathValue("id")))
}

// upload serves both halves of the resumable protocol on one path, as the
// Files API does: without upload_id it starts a session and answers the
// URL of its chunks; with one it takes a chunk (and may finalize).
func (s *Server) upload(w http.ResponseWriter, r *http.Request) error {
	ops := s.cfg.Operations
	id, err := queryParam(r, "upload_id")
	if err != nil {
		return err
	}
	if id == "" {
		root, err := s.decodeBody(w, r, uploadStartSchema)
		if err != nil {
			return err
		}
		start, err := parseUploadStart(root, r.Header.Get(HeaderUploadContentLength), r.Header.Get(HeaderUploadContentType))
		if err != nil {
			return err
		}
		sess, err := ops.StartUpload(r.Context(), projectOf(r), start)
		if err != nil {
			return err
		}
		w.Header().Set(HeaderUploadURL, s.uploadURL(sess.ID))
		w.Header().Set(HeaderUploadStatus, "active")
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	cmd, err := parseUploadCommand(r.Header.Get(HeaderUploadCommand))
	if err != nil {
		return err
	}
	offset, err := parseUploadOffset(r.Header.Get(HeaderUploadOffset))
	if err != nil {
		return err
	}
	chunk, err := readRaw(w, r, MaxUploadChunkBytes)
	if err != nil {
		return err
	}
	res, err := ops.UploadChunk(r.Context(), projectOf(r), id, cmd, offset, chunk)
	if err != nil {
		return err
	}
	w.Header().Set(HeaderUploadStatus, res.Status)
	w.Header().Set(HeaderUploadSizeReceived, strconv.FormatInt(res.Received, 10))
	if res.File == nil {
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	writeJSON(w, http.StatusOK, struct {
		File *fileJSON `json:"file"`
	}{s.renderFile(res.File)})
	return nil
}

// fileList is the Files API's ListFilesResponse.
type fileList struct {
	Files         []*fileJSON `json:"files"`
	NextPageToken string      `json:"nextPageToken,omitempty"`
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) error {
	l, err := s.parseListing(r, collectionFiles)
	if err != nil {
		return err
	}
	files, next, err := s.cfg.Operations.ListFiles(r.Context(), l.projectID, webhookd.Page{Size: l.size, After: l.after})
	if err != nil {
		return err
	}
	out := fileList{Files: make([]*fileJSON, len(files))}
	for i, f := range files {
		out.Files[i] = s.renderFile(f)
	}
	if !next.IsZero() {
		out.NextPageToken = s.tokens.encode(collectionFiles, l.projectID, next)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getFile(w http.ResponseWriter, r *http.Request) error {
	f, err := s.cfg.Operations.GetFile(r.Context(), projectOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.renderFile(f))
	return nil
}

// downloadFile answers the file's bytes with its own media type: the one
// response of the API that is not JSON, as a download is not. The content is
// streamed from the store a piece at a time, and each piece may take the
// server's write timeout to go out, so a large file to a slow client is
// neither held in memory nor cut off by a deadline set for a whole response.
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) error {
	f, content, err := s.cfg.Operations.DownloadFile(r.Context(), projectOf(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	mime := f.MimeType
	if mime == "" {
		mime = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", mime)
	h.Set("Content-Length", strconv.FormatInt(f.SizeBytes, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(pieceDeadlines{w, http.NewResponseController(w)}, content); err != nil {
		// The status is out: all that is left is to cut the response
		// short, so that the client sees a failed download, not a short
		// file.
		s.log.WarnContext(r.Context(), "file download cut short", "file", f.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// downloadPieceTimeout is how long one piece of a download may take to be
// written.
const downloadPieceTimeout = time.Minute

// pieceDeadlines writes each piece of a download under a write deadline of
// its own.
type pieceDeadlines struct {
	w  io.Writer
	rc *http.ResponseController
}

func (p pieceDeadlines) Write(b []byte) (int, error) {
	_ = p.rc.SetWriteDeadline(time.Now().Add(downloadPieceTimeout)) // not every writer has deadlines (tests)
	return p.w.Write(b)
}

func (s *Server) deleteFile(w http.ResponseWriter, r *http.Request) error {
	return empty(w, s.cfg.Operations.DeleteFile(r.Context(), projectOf(r), r.PathValue("id")))
}
