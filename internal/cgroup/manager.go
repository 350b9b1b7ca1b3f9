package cgroup

import (
	"errors"
	"fmt"
	"os"
)

// Manager owns a named subtree under airlock's own cgroup, whose children
// are the sandboxes' groups.
type Manager struct {
	base Group
}

// NewManager creates (or reuses) the subtree name under own, the group
// Detect returned, and delegates the controllers down to it.
func NewManager(own Group, name string) (*Manager, error) {
	base := own.child(name)
	for _, dir := range base.Paths() {
		if err := mkdirAll(dir); err != nil {
			return nil, err
		}
	}
	// Controllers must be enabled on the way down.
	for _, g := range []Group{own, base} {
		if err := g.delegate(); err != nil {
			return nil, err
		}
	}
	return &Manager{base: base}, nil
}

// Dirs are the directories of the subtree: one for v2, one per v1
// controller.
func (m *Manager) Dirs() []string { return m.base.Paths() }

// Version says which hierarchy the manager drives.
func (m *Manager) Version() Version { return m.base.Version() }

// Groups lists the ids of the groups under the subtree, live or stale.
func (m *Manager) Groups() ([]string, error) {
	ents, err := os.ReadDir(m.base.Paths()[0])
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Remove kills and removes the group id, if it exists.
func (m *Manager) Remove(id string) error { return m.base.child(id).Destroy() }

// Open returns group id, creating its directories when missing. Unlike
// Create it neither kills nor resets anything: it is for long-lived groups
// that several airlock processes may share.
func (m *Manager) Open(id string) (Group, error) {
	g := m.base.child(id)
	for _, dir := range g.Paths() {
		if err := mkdirAll(dir); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// Create makes the group id with lim; a stale group of that id is killed
// and removed first. On error nothing is left behind.
func (m *Manager) Create(id string, lim Limits) (Group, error) {
	g := m.base.child(id)
	paths := g.Paths()
	// The first directory decides whether a stale group is in the way.
	err := mkdir(paths[0], 0o755)
	if errors.Is(err, os.ErrExist) {
		if err := m.Remove(id); err != nil {
			return nil, fmt.Errorf("remove stale cgroup: %w", err)
		}
		err = mkdir(paths[0], 0o755)
	}
	if err != nil {
		return nil, err
	}
	for _, p := range paths[1:] {
		if err := mkdir(p, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			g.Destroy()
			return nil, err
		}
	}
	if err := g.setLimits(lim); err != nil {
		g.Destroy()
		return nil, err
	}
	return g, nil
}
