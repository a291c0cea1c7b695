// Package recent remembers the keys added last to a set that would
// otherwise grow with a run (the rows a Certain read has seen, the lead ids
// Marketo answered about), in bounded memory: two generations of plain
// maps, the older dropped when the newer fills. It holds between n and 2n
// keys at about 20 to 40 bytes each for small keys, where a linked LRU list
// takes about a hundred (docs/architecture.md §7).
package recent

// Map is a bounded map of the keys added last. It is not safe for
// concurrent use.
type Map[K comparable, V any] struct {
	n         int
	cur, prev map[K]V
}

// New returns a Map whose generations hold n keys each (at least 1).
func New[K comparable, V any](n int) *Map[K, V] {
	n = max(n, 1)
	return &Map[K, V]{n: n, cur: make(map[K]V)}
}

// Get returns the value last added for k, if k is still held.
func (m *Map[K, V]) Get(k K) (V, bool) {
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.prev[k]
	return v, ok
}

// Use is Get, and keeps a key found in the older generation for one more:
// a key in use outlives the keys added before it that are not.
func (m *Map[K, V]) Use(k K) (V, bool) {
	if v, ok := m.cur[k]; ok {
		return v, true
	}
	v, ok := m.prev[k]
	if ok {
		m.Add(k, v) // moves it: Add drops it from the older generation
	}
	return v, ok
}

// Add sets k to v in the newer generation; when that generation is full,
// it becomes the older one and the older one is dropped.
func (m *Map[K, V]) Add(k K, v V) {
	if _, ok := m.cur[k]; !ok && len(m.cur) >= m.n {
		m.prev, m.cur = m.cur, make(map[K]V, m.n)
	}
	m.cur[k] = v
	if m.prev != nil {
		delete(m.prev, k)
	}
}

// Len is how many keys are held.
func (m *Map[K, V]) Len() int { return len(m.cur) + len(m.prev) }
