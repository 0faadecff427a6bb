package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/webhookd/webhookd"
)

// fileColumns are a file's record; its content is in file_chunks, read a
// piece at a time by ReadFileChunk.
const fileColumns = `id, project_id, display_name, mime_type, size_bytes, sha256, source, state, create_time, update_time, expire_time`

func scanFile(sc scanner) (*webhookd.File, error) {
	var f webhookd.File
	var created, updated int64
	var expires sql.NullInt64
	err := sc.Scan(&f.ID, &f.ProjectID, &f.DisplayName, &f.MimeType, &f.SizeBytes, &f.SHA256, &f.Source, &f.State,
		&created, &updated, &expires)
	if err != nil {
		return nil, err
	}
	f.CreateTime, f.UpdateTime, f.ExpireTime = fromMicros(created), fromMicros(updated), timePtr(expires)
	return &f, nil
}

// CreateFile stores f, its content cut into pieces of webhookd.FileChunkSize.
// Left empty, the ID, times, size and digest are filled in.
func (s *Store) CreateFile(ctx context.Context, f *webhookd.File) error {
	return s.write(ctx, func(tx *sql.Tx) error { return changeWriter{s, tx, s.now()}.InsertFile(ctx, f) })
}

// InsertFile writes a new file.
func (w changeWriter) InsertFile(ctx context.Context, f *webhookd.File) error {
	tx, now := w.tx, w.now
	if int64(len(f.Content)) > webhookd.MaxFileSize {
		return webhookd.Errorf(webhookd.ETOOLARGE, "Files may be at most %d bytes.", webhookd.MaxFileSize)
	}
	if f.ID == "" {
		f.ID = webhookd.NewID(webhookd.PrefixFile)
	}
	if f.CreateTime.IsZero() {
		f.CreateTime = now
	}
	if f.UpdateTime.IsZero() {
		f.UpdateTime = f.CreateTime
	}
	if f.SHA256 == nil {
		sum := sha256.Sum256(f.Content)
		f.SHA256, f.SizeBytes = sum[:], int64(len(f.Content))
	}
	if err := insertFileRecord(ctx, tx, f); err != nil {
		return err
	}
	return webhookd.Pieces(f.Content, func(offset int64, piece []byte) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO file_chunks (file_id, "offset", data) VALUES (?, ?, ?)`, f.ID, offset, piece)
		if err != nil {
			return fmt.Errorf("sqlite: create file: %w", err)
		}
		return nil
	})
}

// insertFileRecord inserts f's row, without its content.
func insertFileRecord(ctx context.Context, tx *sql.Tx, f *webhookd.File) error {
	if f.State == "" {
		f.State = webhookd.FileActive
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO files (`+fileColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.ProjectID, f.DisplayName, f.MimeType, f.SizeBytes, f.SHA256, string(f.Source), string(f.State),
		micros(f.CreateTime), micros(f.UpdateTime), nullMicros(f.ExpireTime))
	return mapCreateErr(err, "create file", "File")
}

// GetFile returns a file's record without its content.
func (s *Store) GetFile(ctx context.Context, projectID, id string) (*webhookd.File, error) {
	f, err := scanFile(s.reader.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM files WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil {
		return nil, mapErr(err, "get file", "File")
	}
	return f, nil
}

// ReadFileChunk appends to buf[:0] the piece of a file's content that starts
// at offset; io.EOF when none does. The piece is copied out of the row
// SQLite read, so buf is the only copy the caller keeps.
func (s *Store) ReadFileChunk(ctx context.Context, projectID, id string, offset int64, buf []byte) ([]byte, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT c.data FROM file_chunks c JOIN files f ON f.id = c.file_id
		WHERE f.project_id = ? AND c.file_id = ? AND c."offset" = ?`, projectID, id, offset)
	if err != nil {
		return buf[:0], fmt.Errorf("sqlite: read file: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return buf[:0], fmt.Errorf("sqlite: read file: %w", err)
		}
		return buf[:0], io.EOF
	}
	var data sql.RawBytes
	if err := rows.Scan(&data); err != nil {
		return buf[:0], fmt.Errorf("sqlite: read file: %w", err)
	}
	buf = append(buf[:0], data...)
	return buf, rows.Close()
}

// ListFiles returns a page of a project's files, newest first.
func (s *Store) ListFiles(ctx context.Context, projectID string, page webhookd.Page) ([]*webhookd.File, error) {
	beforeTime, beforeID := int64(math.MaxInt64), ""
	if !page.After.IsZero() {
		beforeTime, beforeID = micros(page.After.Time), page.After.ID
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+fileColumns+` FROM files
		WHERE project_id = ? AND (create_time, id) < (?, ?)
		ORDER BY create_time DESC, id DESC LIMIT ?`, projectID, beforeTime, beforeID, limit(page))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list files: %w", err)
	}
	return collect(rows, scanFile, "list files")
}

// DeleteFile removes a file.
func (s *Store) DeleteFile(ctx context.Context, projectID, id string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM files WHERE project_id = ? AND id = ?`, projectID, id)
		return affectedOne(res, err, "delete file", "File")
	})
}

const uploadColumns = `id, project_id, file_id, display_name, mime_type, declared_size, received, create_time, expire_time`

func scanUpload(sc scanner) (*webhookd.UploadSession, error) {
	var u webhookd.UploadSession
	var created, expires int64
	err := sc.Scan(&u.ID, &u.ProjectID, &u.FileID, &u.DisplayName, &u.MimeType, &u.DeclaredSize, &u.Received, &created, &expires)
	if err != nil {
		return nil, err
	}
	u.CreateTime, u.ExpireTime = fromMicros(created), fromMicros(expires)
	return &u, nil
}

// CreateUploadSession starts a resumable upload. Left empty, the ID (opaque,
// 130 random bits), the file ID and the times are filled in.
func (s *Store) CreateUploadSession(ctx context.Context, u *webhookd.UploadSession) error {
	if u.ID == "" {
		u.ID = webhookd.NewID("")
	}
	if u.FileID == "" {
		u.FileID = webhookd.NewID(webhookd.PrefixFile)
	}
	if u.CreateTime.IsZero() {
		u.CreateTime = s.now()
	}
	if u.ExpireTime.IsZero() {
		u.ExpireTime = u.CreateTime.Add(webhookd.UploadSessionTTL)
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO upload_sessions (`+uploadColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.ProjectID, u.FileID, u.DisplayName, u.MimeType, u.DeclaredSize, u.Received, micros(u.CreateTime), micros(u.ExpireTime))
		return err
	})
	return mapCreateErr(err, "create upload session", "Upload session")
}

// GetUploadSession returns an upload session of the project.
func (s *Store) GetUploadSession(ctx context.Context, projectID, id string) (*webhookd.UploadSession, error) {
	u, err := scanUpload(s.reader.QueryRowContext(ctx,
		`SELECT `+uploadColumns+` FROM upload_sessions WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil {
		return nil, mapErr(err, "get upload session", "Upload session")
	}
	return u, nil
}

// uploadTx reads a session inside a write transaction, which (being the only
// writer) also serialises chunks sent at once for the same offset.
func uploadTx(ctx context.Context, tx *sql.Tx, projectID, id string) (*webhookd.UploadSession, error) {
	u, err := scanUpload(tx.QueryRowContext(ctx,
		`SELECT `+uploadColumns+` FROM upload_sessions WHERE project_id = ? AND id = ?`, projectID, id))
	if err != nil {
		return nil, mapErr(err, "read upload session", "Upload session")
	}
	return u, nil
}

// fileUsageQuery is FileUsage's: the project's files and unfinished uploads.
const fileUsageQuery = `SELECT (SELECT coalesce(sum(size_bytes), 0) FROM files WHERE project_id = ?1)
	+ (SELECT coalesce(sum(received), 0) FROM upload_sessions WHERE project_id = ?1)`

// FileUsage returns how many bytes a project's files and unfinished uploads
// hold.
func (s *Store) FileUsage(ctx context.Context, projectID string) (int64, error) {
	var n int64
	if err := s.reader.QueryRowContext(ctx, fileUsageQuery, projectID).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: file usage: %w", err)
	}
	return n, nil
}

// AppendUpload appends chunk at offset, which must be what the session has
// received so far (see webhookd.UploadSession.CheckAppend), within the
// project's quota (webhookd.CheckQuota). The one writer serialises appends.
func (s *Store) AppendUpload(ctx context.Context, projectID, id string, offset int64, chunk []byte, quota int64) (*webhookd.UploadSession, error) {
	var u *webhookd.UploadSession
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		if u, err = uploadTx(ctx, tx, projectID, id); err != nil {
			return err
		}
		if err := u.CheckAppend(offset, int64(len(chunk))); err != nil {
			return err
		}
		if quota > 0 && len(chunk) > 0 {
			var used int64
			if err := tx.QueryRowContext(ctx, fileUsageQuery, projectID).Scan(&used); err != nil {
				return fmt.Errorf("sqlite: append upload: file usage: %w", err)
			}
			if err := webhookd.CheckQuota(used, int64(len(chunk)), quota); err != nil {
				return err
			}
		}
		if len(chunk) == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO upload_chunks (session_id, "offset", data) VALUES (?, ?, ?)`, id, offset, chunk); err != nil {
			return fmt.Errorf("sqlite: append upload: %w", err)
		}
		u.Received += int64(len(chunk))
		if _, err := tx.ExecContext(ctx, `UPDATE upload_sessions SET received = ? WHERE id = ?`, u.Received, id); err != nil {
			return fmt.Errorf("sqlite: append upload: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// FinalizeUpload turns a finished session into a file and deletes the
// session, in one transaction. The session's chunks become the file's
// pieces as they are, copied by the database; only the digest is computed
// here, a chunk at a time. The returned file has no Content, as GetFile.
func (s *Store) FinalizeUpload(ctx context.Context, projectID, id string, now time.Time) (*webhookd.File, error) {
	now = now.UTC().Truncate(time.Microsecond) // what the row keeps
	var f *webhookd.File
	err := s.write(ctx, func(tx *sql.Tx) error {
		u, err := uploadTx(ctx, tx, projectID, id)
		if err != nil {
			return err
		}
		if err := u.CheckFinalize(); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT data FROM upload_chunks WHERE session_id = ? ORDER BY "offset"`, id)
		if err != nil {
			return fmt.Errorf("sqlite: finalize upload: %w", err)
		}
		sum := sha256.New()
		if _, err := collect(rows, func(sc scanner) (struct{}, error) {
			var data sql.RawBytes
			if err := sc.Scan(&data); err != nil {
				return struct{}{}, err
			}
			sum.Write(data)
			return struct{}{}, nil
		}, "finalize upload"); err != nil {
			return err
		}
		f = u.NewFile(sum.Sum(nil), now)
		if err := insertFileRecord(ctx, tx, f); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO file_chunks (file_id, "offset", data)
			SELECT ?, "offset", data FROM upload_chunks WHERE session_id = ?`, f.ID, id); err != nil {
			return fmt.Errorf("sqlite: finalize upload: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM upload_sessions WHERE id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: finalize upload: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	f.Content = nil
	return f, nil
}

// DeleteExpiredUploads discards the sessions (and their chunks) whose
// ExpireTime has passed at the store clock's now.
func (s *Store) DeleteExpiredUploads(ctx context.Context) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM upload_sessions WHERE expire_time <= ?`, micros(s.now()))
		if err != nil {
			return fmt.Errorf("sqlite: delete expired uploads: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// DeleteExpiredFiles deletes at most limit files (their pieces go with them)
// whose ExpireTime has passed at the store clock's now, oldest expiry first.
func (s *Store) DeleteExpiredFiles(ctx context.Context, limit int) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM files WHERE id IN (
			SELECT id FROM files WHERE expire_time <= ? ORDER BY expire_time LIMIT ?)`, micros(s.now()), limit)
		if err != nil {
			return fmt.Errorf("sqlite: delete expired files: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
