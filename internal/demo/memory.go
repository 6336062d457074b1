package demo

import (
	"errors"
	"fmt"
	"sync"
)

// Memory limits.
const (
	// MaxMemoryEntries bounds the number of entries kept by a Memory; the
	// oldest entry is evicted when a new key is stored into a full Memory.
	MaxMemoryEntries = 1000
	// MaxMemoryValueBytes bounds the size of one stored value.
	MaxMemoryValueBytes = 16 << 10
	// MaxMemoryKeyBytes bounds the size of a user id or city used as a key.
	MaxMemoryKeyBytes = 256
)

var (
	errEmptyKey      = errors.New("key must not be empty")
	errKeyTooLong    = fmt.Errorf("key exceeds %d bytes", MaxMemoryKeyBytes)
	errValueTooLarge = fmt.Errorf("value exceeds %d bytes", MaxMemoryValueBytes)
)

// Memory is a bounded, mutex-guarded in-process key/value store with FIFO
// eviction. The zero value is not usable; use newMemory.
type Memory struct {
	mu    sync.Mutex
	max   int
	data  map[string]string
	order []string // insertion order of keys, oldest first
}

func newMemory(maxEntries int) *Memory {
	if maxEntries <= 0 {
		maxEntries = MaxMemoryEntries
	}
	return &Memory{max: maxEntries, data: make(map[string]string)}
}

// Put stores value under key. Overwriting keeps the key's original position.
func (m *Memory) Put(key, value string) error {
	if key == "" {
		return errEmptyKey
	}
	if len(key) > MaxMemoryKeyBytes+16 { // +16 for the namespace prefix
		return errKeyTooLong
	}
	if len(value) > MaxMemoryValueBytes {
		return errValueTooLarge
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[key]; !ok {
		for len(m.order) >= m.max {
			oldest := m.order[0]
			m.order = m.order[1:]
			delete(m.data, oldest)
		}
		m.order = append(m.order, key)
	}
	m.data[key] = value
	return nil
}

// Get returns the value stored under key.
func (m *Memory) Get(key string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	return v, ok
}

// Len returns the number of stored entries.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.data)
}
