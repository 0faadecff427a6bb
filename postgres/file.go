package postgres

import (
	"context"
	"crypto/sha256"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
)

// fileColumns are a file's record; its content is in file_chunks, read a
// piece at a time by ReadFileChunk.
const fileColumns = `id, project_id, display_name, mime_type, size_bytes, sha256, source, state, create_time, update_time, expire_time`

func scanFile(row pgx.CollectableRow) (*webhookd.File, error) {
	var f webhookd.File
	err := row.Scan(&f.ID, &f.ProjectID, &f.DisplayName, &f.MimeType, &f.SizeBytes, &f.SHA256, &f.Source, &f.State,
		&f.CreateTime, &f.UpdateTime, &f.ExpireTime)
	return &f, err
}

// CreateFile stores f, its content cut into pieces of webhookd.FileChunkSize.
// Left empty, the ID, times, size and digest are filled in.
func (s *Store) CreateFile(ctx context.Context, f *webhookd.File) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error { return changeWriter{s, tx, s.now()}.InsertFile(ctx, f) })
	return mapErr(err, "create file", "File")
}

// InsertFile writes a new file.
func (w changeWriter) InsertFile(ctx context.Context, f *webhookd.File) error {
	tx, now := w.tx, w.now
	if int64(len(f.Content)) > webhookd.MaxFileSize {
		return webhookd.Errorf(webhookd.ETOOLARGE, "Files may be at most %d bytes.", webhookd.MaxFileSize)
	}
	f.ID = orID(f.ID, webhookd.PrefixFile)
	f.CreateTime = orNow(f.CreateTime, now)
	f.UpdateTime = orNow(f.UpdateTime, f.CreateTime)
	if f.SHA256 == nil {
		sum := sha256.Sum256(f.Content)
		f.SHA256 = sum[:]
		f.SizeBytes = int64(len(f.Content))
	}
	if f.State == "" {
		f.State = webhookd.FileActive
	}
	_, err := tx.Exec(ctx, `INSERT INTO files (`+fileColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		f.ID, f.ProjectID, f.DisplayName, f.MimeType, f.SizeBytes, f.SHA256, string(f.Source), string(f.State),
		f.CreateTime, f.UpdateTime, nullTime(f.ExpireTime))
	if err != nil {
		return mapCreateErr(err, "create file", "File")
	}
	return webhookd.Pieces(f.Content, func(offset int64, piece []byte) error {
		_, err := tx.Exec(ctx, `INSERT INTO file_chunks (file_id, "offset", data) VALUES ($1, $2, $3)`, f.ID, offset, piece)
		return mapErr(err, "create file", "File")
	})
}

// GetFile returns a file's record without its content.
func (s *Store) GetFile(ctx context.Context, projectID, id string) (*webhookd.File, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+fileColumns+` FROM files WHERE project_id = $1 AND id = $2`, projectID, id)
	f, err := pgx.CollectExactlyOneRow(rows, scanFile)
	return f, mapErr(err, "get file", "File")
}

// ReadFileChunk appends to buf[:0] the piece of a file's content that starts
// at offset; io.EOF when none does. The piece is copied out of the
// connection's read buffer, so buf is the only copy the caller keeps.
func (s *Store) ReadFileChunk(ctx context.Context, projectID, id string, offset int64, buf []byte) ([]byte, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.data FROM file_chunks c JOIN files f ON f.id = c.file_id
		WHERE f.project_id = $1 AND c.file_id = $2 AND c."offset" = $3`, projectID, id, offset)
	if err != nil {
		return buf[:0], mapErr(err, "read file", "File")
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return buf[:0], mapErr(err, "read file", "File")
		}
		return buf[:0], io.EOF
	}
	if rows.FieldDescriptions()[0].Format == pgx.BinaryFormatCode {
		// A bytea in binary format is the piece itself: copy it out of the
		// connection's buffer without decoding.
		buf = append(buf[:0], rows.RawValues()[0]...)
	} else { // the simple protocol, if the URL asks for it
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return buf[:0], mapErr(err, "read file", "File")
		}
		buf = append(buf[:0], data...)
	}
	rows.Close()
	return buf, mapErr(rows.Err(), "read file", "File")
}

// ListFiles returns a page of a project's files, newest first.
func (s *Store) ListFiles(ctx context.Context, projectID string, page webhookd.Page) ([]*webhookd.File, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+fileColumns+` FROM files
		WHERE project_id = $1 AND ($2 OR (create_time, id) < ($3, $4))
		ORDER BY create_time DESC, id DESC
		LIMIT $5`, projectID, page.After.IsZero(), page.After.Time, page.After.ID, limitOf(page.Size))
	fs, err := pgx.CollectRows(rows, scanFile)
	return fs, mapErr(err, "list files", "File")
}

// DeleteFile removes a file.
func (s *Store) DeleteFile(ctx context.Context, projectID, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM files WHERE project_id = $1 AND id = $2`, projectID, id)
	if err != nil {
		return mapErr(err, "delete file", "File")
	}
	return affectedOne(tag, "File")
}

const uploadColumns = `id, project_id, file_id, display_name, mime_type, declared_size, received, create_time, expire_time`

func scanUpload(row pgx.CollectableRow) (*webhookd.UploadSession, error) {
	var u webhookd.UploadSession
	err := row.Scan(&u.ID, &u.ProjectID, &u.FileID, &u.DisplayName, &u.MimeType, &u.DeclaredSize, &u.Received,
		&u.CreateTime, &u.ExpireTime)
	return &u, err
}

// CreateUploadSession starts a resumable upload. Left empty, the ID (opaque,
// 130 random bits), the file ID and the times are filled in.
func (s *Store) CreateUploadSession(ctx context.Context, u *webhookd.UploadSession) error {
	now := s.now()
	u.ID = orID(u.ID, "")
	u.FileID = orID(u.FileID, webhookd.PrefixFile)
	u.CreateTime = orNow(u.CreateTime, now)
	if u.ExpireTime.IsZero() {
		u.ExpireTime = u.CreateTime.Add(webhookd.UploadSessionTTL)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO upload_sessions (`+uploadColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, u.ProjectID, u.FileID, u.DisplayName, u.MimeType, u.DeclaredSize, u.Received, u.CreateTime, u.ExpireTime)
	return mapCreateErr(err, "create upload session", "Upload session")
}

// GetUploadSession returns an upload session of the project.
func (s *Store) GetUploadSession(ctx context.Context, projectID, id string) (*webhookd.UploadSession, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+uploadColumns+` FROM upload_sessions WHERE project_id = $1 AND id = $2`, projectID, id)
	u, err := pgx.CollectExactlyOneRow(rows, scanUpload)
	return u, mapErr(err, "get upload session", "Upload session")
}

// lockUpload reads a session and locks it for the rest of tx, so that
// chunks sent at once for the same offset are applied one at a time.
func lockUpload(ctx context.Context, tx pgx.Tx, projectID, id string) (*webhookd.UploadSession, error) {
	rows, _ := tx.Query(ctx, `SELECT `+uploadColumns+` FROM upload_sessions WHERE project_id = $1 AND id = $2 FOR UPDATE`, projectID, id)
	return pgx.CollectExactlyOneRow(rows, scanUpload)
}

// fileUsageQuery is FileUsage's: the project's files and unfinished uploads.
const fileUsageQuery = `SELECT (SELECT coalesce(sum(size_bytes), 0) FROM files WHERE project_id = $1)
	+ (SELECT coalesce(sum(received), 0) FROM upload_sessions WHERE project_id = $1)`

// FileUsage returns how many bytes a project's files and unfinished uploads
// hold.
func (s *Store) FileUsage(ctx context.Context, projectID string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, fileUsageQuery, projectID).Scan(&n)
	return n, mapErr(err, "file usage", "Project")
}

// AppendUpload appends chunk at offset, which must be what the session has
// received so far (see webhookd.UploadSession.CheckAppend), within the
// project's quota (webhookd.CheckQuota). With a quota, the project's row is
// locked FOR NO KEY UPDATE first: appends to one project's uploads take
// turns, so that two cannot both pass the quota, while the foreign-key
// checks of everything else the project writes (which take FOR KEY SHARE)
// do not wait.
func (s *Store) AppendUpload(ctx context.Context, projectID, id string, offset int64, chunk []byte, quota int64) (*webhookd.UploadSession, error) {
	var u *webhookd.UploadSession
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if quota > 0 && len(chunk) > 0 {
			if _, err := tx.Exec(ctx, `SELECT 1 FROM projects WHERE id = $1 FOR NO KEY UPDATE`, projectID); err != nil {
				return err
			}
		}
		var err error
		if u, err = lockUpload(ctx, tx, projectID, id); err != nil {
			return err
		}
		if err := u.CheckAppend(offset, int64(len(chunk))); err != nil {
			return err
		}
		if quota > 0 && len(chunk) > 0 {
			var used int64
			if err := tx.QueryRow(ctx, fileUsageQuery, projectID).Scan(&used); err != nil {
				return err
			}
			if err := webhookd.CheckQuota(used, int64(len(chunk)), quota); err != nil {
				return err
			}
		}
		size := u.Received + int64(len(chunk))
		if len(chunk) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO upload_chunks (session_id, "offset", data) VALUES ($1, $2, $3)`, id, offset, chunk); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE upload_sessions SET received = $2 WHERE id = $1`, id, size); err != nil {
			return err
		}
		u.Received = size
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "append upload", "Upload session")
	}
	return u, nil
}

// FinalizeUpload turns a finished session into a file. The database hashes
// the chunks and copies them as the file's pieces, so the content never makes
// a round trip through the process.
func (s *Store) FinalizeUpload(ctx context.Context, projectID, id string, now time.Time) (*webhookd.File, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var f *webhookd.File
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		u, err := lockUpload(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		if err := u.CheckFinalize(); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `WITH body AS (
				SELECT COALESCE(sum(length(data)), 0) AS size,
					sha256(COALESCE(string_agg(data, ''::bytea ORDER BY "offset"), ''::bytea)) AS sum
				FROM upload_chunks WHERE session_id = $1
			)
			INSERT INTO files (`+fileColumns+`)
			SELECT $2, $3, $4, $5, size, sum, $6, $7, $8, $8, NULL FROM body
			RETURNING `+fileColumns,
			id, u.FileID, projectID, u.DisplayName, u.MimeType, string(webhookd.FileUploaded), string(webhookd.FileActive), now)
		if f, err = pgx.CollectExactlyOneRow(rows, scanFile); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO file_chunks (file_id, "offset", data)
			SELECT $1, "offset", data FROM upload_chunks WHERE session_id = $2`, f.ID, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM upload_sessions WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return nil, mapErr(err, "finalize upload", "Upload session")
	}
	return f, nil
}

// DeleteExpiredUploads discards the sessions (and their chunks) whose
// ExpireTime has passed.
func (s *Store) DeleteExpiredUploads(ctx context.Context) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM upload_sessions WHERE expire_time <= $1`, s.now())
	if err != nil {
		return 0, mapErr(err, "delete expired uploads", "Upload session")
	}
	return int(tag.RowsAffected()), nil
}

// DeleteExpiredFiles deletes at most limit files (their pieces go with them)
// whose ExpireTime has passed, oldest expiry first; rows another process is
// deleting are skipped.
func (s *Store) DeleteExpiredFiles(ctx context.Context, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM files WHERE id IN (
		SELECT id FROM files WHERE expire_time <= $1 ORDER BY expire_time LIMIT $2 FOR UPDATE SKIP LOCKED)`, s.now(), limit)
	if err != nil {
		return 0, mapErr(err, "delete expired files", "File")
	}
	return int(tag.RowsAffected()), nil
}
