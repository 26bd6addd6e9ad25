package send

import "time"

// Rate limiter tuning. time.Sleep on these shared machines overshoots by
// about a millisecond normally and by 10 ms or more under load, so the
// limiter (1) lets debt build up to SleepThreshold before sleeping, (2) lets
// up to MaxBurst of credit (an oversleep) be spent at full speed, and (3)
// remembers up to MaxCredit of being behind (a scheduling stall) and makes
// it up at no more than CatchUpRatio times the rate, so the long-run
// average matches the request without turning a stall into a line-rate
// burst that would overflow a receiver's buffer.
const (
	// SleepThreshold is the debt (time the caller is ahead of the rate)
	// below which Wait returns at once.
	SleepThreshold = 100 * time.Microsecond
	// MaxBurst is the credit that may be spent at full speed.
	MaxBurst = 2 * time.Millisecond
	// MaxCredit is the most time behind the rate that is made up later;
	// beyond it the shortfall is forgotten (a long pause is not followed
	// by a long catch-up).
	MaxCredit = 100 * time.Millisecond
	// CatchUpRatio bounds the rate while making up credit beyond MaxBurst.
	CatchUpRatio = 1.1
)

// RateLimiter is a token bucket in bytes with a nanosecond monotonic clock.
// It is not safe for concurrent use. A nil *RateLimiter or one with a rate
// <= 0 never waits.
type RateLimiter struct {
	nsPerByte float64
	base      time.Time
	next      float64 // ns since base at which the bytes charged so far are due at the rate
	burstNext float64 // the same at CatchUpRatio times the rate, with only MaxBurst of credit
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
	cost := float64(n) * l.nsPerByte
	l.next = max(l.next, now-float64(MaxCredit)) + cost
	l.burstNext = max(l.burstNext, now-float64(MaxBurst)) + cost/CatchUpRatio
	if debt := max(l.next, l.burstNext) - now; debt > float64(SleepThreshold) {
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
