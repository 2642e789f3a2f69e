package keystore

import (
	"bytes"
	"context"
	"slices"
	"sync"
)

// memoryStore keeps items in memory; it is safe for concurrent use.
type memoryStore struct {
	mu       sync.Mutex
	profiles map[string]map[Item][]byte
}

// NewMemory returns an empty in-memory Store (backend "memory"). Its secrets
// live only as long as the process; it serves the sandbox and tests.
func NewMemory() Store {
	return &memoryStore{profiles: make(map[string]map[Item][]byte)}
}

// Backend returns "memory".
func (m *memoryStore) Backend() string { return BackendMemory }

// Get returns a copy of the stored value.
func (m *memoryStore) Get(ctx context.Context, profile string, item Item) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKey(profile, item); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.profiles[profile][item]
	if !ok {
		return nil, notFound(BackendMemory, profile, item)
	}
	return bytes.Clone(v), nil
}

// Set stores a copy of value.
func (m *memoryStore) Set(ctx context.Context, profile string, item Item, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(profile, item); err != nil {
		return err
	}
	if err := checkValue(profile, item, value); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	items := m.profiles[profile]
	if items == nil {
		items = make(map[Item][]byte)
		m.profiles[profile] = items
	}
	clear(items[item])
	items[item] = bytes.Clone(value)
	return nil
}

// Delete removes the item; an absent item is not an error.
func (m *memoryStore) Delete(ctx context.Context, profile string, item Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(profile, item); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	items := m.profiles[profile]
	clear(items[item])
	delete(items, item)
	if len(items) == 0 {
		delete(m.profiles, profile)
	}
	return nil
}

// Profiles lists the profiles that have at least one item, sorted.
func (m *memoryStore) Profiles(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.profiles))
	for name := range m.profiles {
		names = append(names, name)
	}
	slices.Sort(names)
	return names, nil
}
