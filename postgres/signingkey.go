package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/webhookd/webhookd"
)

// CreateSigningKey stores k, assigning its CreateTime when it is zero.
func (s *Store) CreateSigningKey(ctx context.Context, k *webhookd.SigningKey) error {
	k.CreateTime = orNow(k.CreateTime, s.now())
	_, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (id, algorithm, sealed_private_key, create_time, retire_time, expire_time)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Algorithm, k.SealedPrivateKey, k.CreateTime, nullTime(k.RetireTime), nullTime(k.ExpireTime))
	return mapErr(err, "create signing key", "Signing key")
}

// ListSigningKeys returns every key, newest first; keys created in the same
// instant are listed in reverse order of creation.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*webhookd.SigningKey, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, algorithm, sealed_private_key, create_time, retire_time, expire_time
		FROM signing_keys ORDER BY create_time DESC, seq DESC`)
	ks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*webhookd.SigningKey, error) {
		var k webhookd.SigningKey
		err := row.Scan(&k.ID, &k.Algorithm, &k.SealedPrivateKey, &k.CreateTime, &k.RetireTime, &k.ExpireTime)
		return &k, err
	})
	return ks, mapErr(err, "list signing keys", "Signing key")
}

// UpdateSigningKey writes k's RetireTime and ExpireTime.
func (s *Store) UpdateSigningKey(ctx context.Context, k *webhookd.SigningKey) error {
	tag, err := s.pool.Exec(ctx, `UPDATE signing_keys SET retire_time = $2, expire_time = $3 WHERE id = $1`,
		k.ID, nullTime(k.RetireTime), nullTime(k.ExpireTime))
	if err != nil {
		return mapErr(err, "update signing key", "Signing key")
	}
	return affectedOne(tag, "Signing key")
}

// DeleteSigningKey removes a key, once its public half has left the JWKS.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
	if err != nil {
		return mapErr(err, "delete signing key", "Signing key")
	}
	return affectedOne(tag, "Signing key")
}
