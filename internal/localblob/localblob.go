// Package localblob is the embedded BlobStore: one file per key under a
// directory, written whole or not at all.
package localblob

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/airlock-dev/airlock"
)

// Store keeps blobs as files under Dir.
type Store struct {
	dir string
}

var _ airlock.BlobStore = (*Store)(nil)

// Open makes the directory if need be.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(key string) (string, error) {
	if !filepath.IsLocal(key) || filepath.Clean(key) == "." {
		return "", fmt.Errorf("blob key %q escapes the store", key)
	}
	return filepath.Join(s.dir, key), nil
}

// Put writes data under key, replacing what was there.
func (s *Store) Put(_ context.Context, key string, data []byte) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".put-")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync() // the job row that points here is committed next
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Get reads key.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, airlock.ErrNotFound
	}
	return data, err
}

// Delete removes key; a missing key is no error.
func (s *Store) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
