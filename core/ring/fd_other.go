//go:build !linux

package ring

import "errors"

// Readiness fds are eventfds, which exist only on Linux. Elsewhere the ring
// works without them and DataFD/SpaceFD report an error.

var errNoFD = errors.New("ring: readiness fds need Linux eventfd")

type eventFD struct{}

type fdState struct {
	data, space eventFD
	guard       noLock
}

type noLock struct{}

func (noLock) Lock()   {}
func (noLock) Unlock() {}

func (s *fdState) init()                            {}
func (s *fdState) get(*Ring, *eventFD) (int, error) { return -1, errNoFD }
func (s *fdState) mark(data, space bool)            {}
func (s *fdState) close()                           {}
func (s *fdState) dirty() bool                      { return false }
func (r *Ring) applyFDs()                           {}
func (r *Ring) settleData()                         {}
func (r *Ring) settleSpace()                        {}
