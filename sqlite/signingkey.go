package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/webhookd/webhookd"
)

const signingKeyColumns = `id, algorithm, sealed_private_key, create_time, retire_time, expire_time`

func scanSigningKey(sc scanner) (*webhookd.SigningKey, error) {
	var k webhookd.SigningKey
	var created int64
	var retired, expires sql.NullInt64
	if err := sc.Scan(&k.ID, &k.Algorithm, &k.SealedPrivateKey, &created, &retired, &expires); err != nil {
		return nil, err
	}
	k.CreateTime = fromMicros(created)
	k.RetireTime = timePtr(retired)
	k.ExpireTime = timePtr(expires)
	return &k, nil
}

// CreateSigningKey stores k, assigning its CreateTime when unset.
func (s *Store) CreateSigningKey(ctx context.Context, k *webhookd.SigningKey) error {
	if k.CreateTime.IsZero() {
		k.CreateTime = s.now()
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, k.Algorithm, k.SealedPrivateKey, micros(k.CreateTime), nullMicros(k.RetireTime), nullMicros(k.ExpireTime))
		return err
	})
	if isUniqueViolation(err) {
		return webhookd.Errorf(webhookd.ECONFLICT, "Signing key %s already exists.", k.ID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: create signing key: %w", err)
	}
	return nil
}

// ListSigningKeys returns every key, newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*webhookd.SigningKey, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY create_time DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list signing keys: %w", err)
	}
	return collect(rows, scanSigningKey, "list signing keys")
}

// UpdateSigningKey writes RetireTime and ExpireTime.
func (s *Store) UpdateSigningKey(ctx context.Context, k *webhookd.SigningKey) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE signing_keys SET retire_time = ?, expire_time = ? WHERE id = ?`,
			nullMicros(k.RetireTime), nullMicros(k.ExpireTime), k.ID)
		return affectedOne(res, err, "update signing key", "Signing key")
	})
}

// DeleteSigningKey implements webhookd.Store.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM signing_keys WHERE id = ?`, id)
		return affectedOne(res, err, "delete signing key", "Signing key")
	})
}
