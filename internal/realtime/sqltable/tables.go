package sqltable

import "sync"

// Tables is a driver's cache of what it read of its tables (their columns), by key, so that a
// table's metadata is read once. The zero value is empty and ready; it is safe for concurrent
// use, and its lock is a leaf (taken with no other lock of the driver held inside it).
type Tables[T any] struct {
	mu sync.RWMutex
	m  map[string]T
}

// Lookup returns the cached value of key.
func (c *Tables[T]) Lookup(key string) (T, bool) {
	c.mu.RLock()
	t, ok := c.m[key]
	c.mu.RUnlock()
	return t, ok
}

// Store caches t for key unless a value is cached already (two concurrent misses: the first
// stored wins), and returns the value cached.
func (c *Tables[T]) Store(key string, t T) T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if have, ok := c.m[key]; ok {
		return have
	}
	if c.m == nil {
		c.m = map[string]T{}
	}
	c.m[key] = t
	return t
}

// Forget drops the cached value of key.
func (c *Tables[T]) Forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// ForgetIf drops every cached value whose key f accepts (nil: all).
func (c *Tables[T]) ForgetIf(f func(key string) bool) {
	c.mu.Lock()
	for k := range c.m {
		if f == nil || f(k) {
			delete(c.m, k)
		}
	}
	c.mu.Unlock()
}

// All returns every cached value, in no order.
func (c *Tables[T]) All() []T {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]T, 0, len(c.m))
	for _, t := range c.m {
		out = append(out, t)
	}
	return out
}
