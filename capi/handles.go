package main

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Handles. C gets, for object n, the address base+8n inside an address
// range reserved once with PROT_NONE: unique for the life of the process
// (never reused), never a Go pointer, and never dereferenceable, so a
// stray use by C faults loudly instead of corrupting memory. The map from
// address to Go object is the only thing keeping the objects reachable;
// freeing a handle removes its entry, so a later use or a second free
// finds nothing and fails with CG_ESTATE.
type handleTable struct {
	mu   sync.RWMutex
	base unsafe.Pointer
	n    uintptr // slots in the range
	next uintptr // next slot to hand out (slot 0 is never used)
	objs map[uintptr]any
}

const handleStride = 8

var handles = newHandleTable()

func newHandleTable() *handleTable {
	t := &handleTable{objs: make(map[uintptr]any), next: 1}
	// Address space only: PROT_NONE and MAP_NORESERVE cost no memory.
	// Smaller sizes are tried for environments with a tight address-space
	// limit (ulimit -v, memory checkers).
	for _, size := range []int{1 << 32, 1 << 28, 1 << 22} {
		b, err := unix.Mmap(-1, 0, size, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
		if err == nil {
			t.base = unsafe.Pointer(unsafe.SliceData(b))
			t.n = uintptr(size) / handleStride
			break
		}
	}
	return t
}

// add registers obj and returns its handle, or nil when the range is
// exhausted (or could not be reserved).
func (t *handleTable) add(obj any) unsafe.Pointer {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.base == nil || t.next >= t.n {
		return nil
	}
	p := unsafe.Add(t.base, t.next*handleStride)
	t.next++
	t.objs[uintptr(p)] = obj
	return p
}

// get returns the object of handle p, nil if there is none.
func (t *handleTable) get(p unsafe.Pointer) any {
	if p == nil {
		return nil
	}
	t.mu.RLock()
	obj := t.objs[uintptr(p)]
	t.mu.RUnlock()
	return obj
}

// remove unregisters p if it holds an object of type T and returns it.
func removeHandle[T any](p unsafe.Pointer) (T, bool) {
	t := handles
	var zero T
	if p == nil {
		return zero, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	obj, ok := t.objs[uintptr(p)].(T)
	if !ok {
		return zero, false
	}
	delete(t.objs, uintptr(p))
	return obj, true
}

// lookup returns the object of type T behind handle p; on failure it sets
// the thread's last error (CG_ESTATE) and returns false.
func lookup[T any](p unsafe.Pointer, what string) (T, bool) {
	obj, ok := handles.get(p).(T)
	if !ok {
		if p == nil {
			setErrf(cgESTATE, 0, "%s handle is NULL", what)
		} else {
			setErrf(cgESTATE, 0, "%s handle is freed or not a %s", what, what)
		}
	}
	return obj, ok
}

// newHandle registers obj and returns its handle, setting CG_ENOMEM when
// no handle is left.
func newHandle(obj any) unsafe.Pointer {
	p := handles.add(obj)
	if p == nil {
		setErrf(cgENOMEM, 0, "no handles left")
	}
	return p
}
