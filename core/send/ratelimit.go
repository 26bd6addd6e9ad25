package send

import "time"

// Rate limiter tuning. time.Sleep on these machines overshoots by up to
// about a millisecond, so sleeping for every small debt would both waste
// syscalls and undershoot the rate; instead the limiter lets debt build up
// to SleepThreshold before sleeping, and lets the credit an oversleep leaves
// behind be spent (as a short burst) up to MaxBurst, so the average over any
// window much longer than MaxBurst matches the requested rate.
const (
	// SleepThreshold is the debt (time the caller is ahead of the rate)
	// below which Wait returns at once.
	SleepThreshold = 100 * time.Microsecond
	// MaxBurst is the largest credit (time the caller is behind the rate)
	// that is kept; beyond it the caller is not allowed to catch up, so a
	// pause or a slow sender never turns into a long burst afterwards.
	MaxBurst = 5 * time.Millisecond
)

// RateLimiter is a token bucket in bytes with a nanosecond monotonic clock.
// It is not safe for concurrent use. A nil *RateLimiter or one with a rate
// <= 0 never waits.
type RateLimiter struct {
	nsPerByte float64
	base      time.Time
	next      float64 // ns since base at which the bytes charged so far are due
	started   bool
	sleeps    uint64
}

// NewRateLimiter returns a limiter for bytesPerSecond (<= 0: unlimited).
func NewRateLimiter(bytesPerSecond float64) *RateLimiter {
	l := &RateLimiter{}
	if bytesPerSecond > 0 {
		l.nsPerByte = 1e9 / bytesPerSecond
	}
	return l
}

// Wait charges n bytes and blocks until they are due, give or take
// SleepThreshold. Counting from the first call, the k-th call returns no
// earlier than (bytes charged by calls 1..k)/rate - SleepThreshold, which is
// the lower bound the tests check.
func (l *RateLimiter) Wait(n int) {
	if l == nil || l.nsPerByte == 0 {
		return
	}
	if !l.started {
		l.base = time.Now()
		l.started = true
	}
	now := float64(time.Since(l.base))
	if l.next < now-float64(MaxBurst) {
		l.next = now - float64(MaxBurst)
	}
	l.next += float64(n) * l.nsPerByte
	if debt := l.next - now; debt > float64(SleepThreshold) {
		l.sleeps++
		time.Sleep(time.Duration(debt))
	}
}

// Sleeps returns how many times Wait has slept.
func (l *RateLimiter) Sleeps() uint64 {
	if l == nil {
		return 0
	}
	return l.sleeps
}
