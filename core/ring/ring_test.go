package ring

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chunkgroup/chunkgroup/core/chunk"
)

// bound is how long any wait in these tests may take before the test fails.
// It is generous because the machine is shared; nothing measures speed.
const bound = 10 * time.Second

// settle is how long we give a goroutine to reach its blocking point before
// checking that it is (still) blocked.
const settle = 50 * time.Millisecond

func newRing(t testing.TB, capacity int) *Ring {
	t.Helper()
	r, err := New(capacity)
	if err != nil {
		t.Fatalf("New(%d): %v", capacity, err)
	}
	t.Cleanup(r.Close)
	return r
}

func chunks(n int) []*chunk.Chunk {
	cs := make([]*chunk.Chunk, n)
	for i := range cs {
		cs[i] = chunk.New(nil, nil, nil)
		cs[i].ChunkID = int64(i)
	}
	return cs
}

// async runs f in a goroutine and returns a channel closed when it returns.
func async(f func()) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	return done
}

func waitDone(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatalf("%s did not return within %v", what, bound)
	}
}

func assertBlocked(t *testing.T, done <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
		t.Fatalf("%s returned but should be blocked", what)
	case <-time.After(settle):
	}
}

func mustPop(t *testing.T, r *Ring, want *chunk.Chunk) {
	t.Helper()
	got, err := r.TryPop()
	if err != nil {
		t.Fatalf("TryPop: %v, want chunk %d", err, want.ChunkID)
	}
	if got != want {
		t.Fatalf("TryPop = chunk %p (id %d), want %p (id %d)", got, got.ChunkID, want, want.ChunkID)
	}
}

func TestNewCapacity(t *testing.T) {
	for _, c := range []int{0, -1, MaxCapacity + 1} {
		if r, err := New(c); err == nil || r != nil {
			t.Errorf("New(%d) = %v, %v; want error", c, r, err)
		}
	}
	for _, c := range []int{1, 3, 1000} {
		r := newRing(t, c)
		if r.Cap() != c || r.Len() != 0 || r.Stopped() {
			t.Errorf("New(%d): Cap %d Len %d Stopped %v", c, r.Cap(), r.Len(), r.Stopped())
		}
	}
}

func TestFIFOWrapAround(t *testing.T) {
	r := newRing(t, 4)
	cs := chunks(1000)
	// Interleave pushes and pops with a varying fill level so the head
	// wraps around the buffer at every offset.
	next := 0
	for i, c := range cs {
		if err := r.Push(c); err != nil {
			t.Fatalf("Push %d: %v", i, err)
		}
		for r.Len() > i%4 {
			mustPop(t, r, cs[next])
			next++
		}
	}
	for next < len(cs) {
		mustPop(t, r, cs[next])
		next++
	}
	if _, err := r.TryPop(); err != ErrEmpty {
		t.Fatalf("TryPop on empty = %v, want ErrEmpty", err)
	}
}

func TestCapacityAndTryErrors(t *testing.T) {
	r := newRing(t, 3)
	cs := chunks(4)
	if _, err := r.TryPop(); err != ErrEmpty {
		t.Fatalf("TryPop empty = %v, want ErrEmpty", err)
	}
	for i := 0; i < 3; i++ {
		if err := r.TryPush(cs[i]); err != nil {
			t.Fatalf("TryPush %d: %v", i, err)
		}
		if r.Len() != i+1 {
			t.Fatalf("Len = %d, want %d", r.Len(), i+1)
		}
	}
	if err := r.TryPush(cs[3]); err != ErrFull {
		t.Fatalf("TryPush full = %v, want ErrFull", err)
	}
	if err := r.PushTimeout(cs[3], 0); err != ErrTimeout {
		t.Fatalf("PushTimeout(0) full = %v, want ErrTimeout", err)
	}
	if r.Len() != 3 {
		t.Fatalf("Len after failed pushes = %d, want 3", r.Len())
	}
	if err := r.TryPush(nil); err != ErrNilChunk {
		t.Fatalf("TryPush(nil) = %v, want ErrNilChunk", err)
	}
	if err := r.Push(nil); err != ErrNilChunk {
		t.Fatalf("Push(nil) = %v, want ErrNilChunk", err)
	}
	if err := r.PushTimeout(nil, time.Second); err != ErrNilChunk {
		t.Fatalf("PushTimeout(nil) = %v, want ErrNilChunk", err)
	}
	mustPop(t, r, cs[0])
	if err := r.TryPush(cs[3]); err != nil {
		t.Fatalf("TryPush after pop: %v", err)
	}
	if !r.Stop() {
		t.Fatal("Stop returned false on first call")
	}
	if err := r.TryPush(cs[0]); err != ErrStopped {
		t.Fatalf("TryPush stopped = %v, want ErrStopped", err)
	}
	for _, c := range cs[1:] {
		mustPop(t, r, c)
	}
	if _, err := r.TryPop(); err != ErrStopped {
		t.Fatalf("TryPop stopped+empty = %v, want ErrStopped", err)
	}
	if _, err := r.PopTimeout(0); err != ErrStopped {
		t.Fatalf("PopTimeout(0) stopped+empty = %v, want ErrStopped", err)
	}
}

func TestPushBlocksUntilPop(t *testing.T) {
	r := newRing(t, 2)
	cs := chunks(3)
	r.Push(cs[0])
	r.Push(cs[1])
	var err error
	done := async(func() { err = r.Push(cs[2]) })
	assertBlocked(t, done, "Push on full ring")
	mustPop(t, r, cs[0])
	waitDone(t, done, "Push after Pop")
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	mustPop(t, r, cs[1])
	mustPop(t, r, cs[2])
}

func TestPopBlocksUntilPush(t *testing.T) {
	r := newRing(t, 2)
	cs := chunks(1)
	var got *chunk.Chunk
	var err error
	done := async(func() { got, err = r.Pop() })
	assertBlocked(t, done, "Pop on empty ring")
	if err := r.Push(cs[0]); err != nil {
		t.Fatal(err)
	}
	waitDone(t, done, "Pop after Push")
	if err != nil || got != cs[0] {
		t.Fatalf("Pop = %p, %v; want %p", got, err, cs[0])
	}
	if r.Len() != 0 {
		t.Fatalf("Len = %d, want 0", r.Len())
	}
}

func TestStopWakesBlockedCallers(t *testing.T) {
	full := newRing(t, 1)
	empty := newRing(t, 1)
	cs := chunks(2)
	full.Push(cs[0])

	errs := make([]error, 4)
	done := []<-chan struct{}{
		async(func() { errs[0] = full.Push(cs[1]) }),
		async(func() { errs[1] = full.PushTimeout(cs[1], time.Hour) }),
		async(func() { _, errs[2] = empty.Pop() }),
		async(func() { _, errs[3] = empty.PopTimeout(time.Hour) }),
	}
	for i, d := range done {
		assertBlocked(t, d, fmt.Sprintf("caller %d", i))
	}
	full.Stop()
	empty.Stop()
	for i, d := range done {
		waitDone(t, d, fmt.Sprintf("caller %d after Stop", i))
		if errs[i] != ErrStopped {
			t.Errorf("caller %d: %v, want ErrStopped", i, errs[i])
		}
	}
	// The chunk in the stopped full ring is still delivered.
	c, err := full.Pop()
	if err != nil || c != cs[0] {
		t.Fatalf("Pop after stop = %p, %v; want %p", c, err, cs[0])
	}
}

func TestStopDrainsThenStopped(t *testing.T) {
	r := newRing(t, 5)
	cs := chunks(3)
	for _, c := range cs {
		r.Push(c)
	}
	r.Stop()
	if !r.Stopped() {
		t.Fatal("Stopped() = false after Stop")
	}
	if err := r.Push(cs[0]); err != ErrStopped {
		t.Fatalf("Push after stop = %v, want ErrStopped", err)
	}
	if err := r.PushTimeout(cs[0], time.Hour); err != ErrStopped {
		t.Fatalf("PushTimeout after stop = %v, want ErrStopped", err)
	}
	for i, want := range cs {
		var got *chunk.Chunk
		var err error
		if i%2 == 0 {
			got, err = r.Pop()
		} else {
			got, err = r.PopTimeout(time.Hour)
		}
		if err != nil || got != want {
			t.Fatalf("pop %d after stop = %p, %v; want %p", i, got, err, want)
		}
	}
	done := async(func() {
		if _, err := r.Pop(); err != ErrStopped {
			t.Errorf("Pop stopped+empty = %v, want ErrStopped", err)
		}
		if _, err := r.PopTimeout(time.Hour); err != ErrStopped {
			t.Errorf("PopTimeout stopped+empty = %v, want ErrStopped", err)
		}
	})
	waitDone(t, done, "Pop on stopped empty ring")
}

func TestStopTrueOnce(t *testing.T) {
	for round := 0; round < 20; round++ {
		r := newRing(t, 1)
		var trues atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if r.Stop() {
					trues.Add(1)
				}
			}()
		}
		close(start)
		waitDone(t, async(wg.Wait), "concurrent Stop")
		if n := trues.Load(); n != 1 {
			t.Fatalf("round %d: %d Stop calls returned true, want 1", round, n)
		}
		if r.Stop() {
			t.Fatal("Stop on stopped ring returned true")
		}
	}
}

func TestProducers(t *testing.T) {
	r := newRing(t, 2)
	r.AddProducer()
	r.AddProducer()
	if r.RemoveProducer() {
		t.Fatal("removing first of two producers returned true")
	}
	if r.Stopped() {
		t.Fatal("ring stopped with one producer left")
	}
	var err error
	done := async(func() { _, err = r.Pop() })
	assertBlocked(t, done, "Pop with a producer left")
	if !r.RemoveProducer() {
		t.Fatal("removing last producer returned false")
	}
	if !r.Stopped() {
		t.Fatal("ring not stopped after last producer removed")
	}
	waitDone(t, done, "Pop after last producer removed")
	if err != ErrStopped {
		t.Fatalf("Pop = %v, want ErrStopped", err)
	}
	if r.RemoveProducer() {
		t.Fatal("RemoveProducer with no producers returned true")
	}
	if r.Stop() {
		t.Fatal("Stop after producers stopped the ring returned true")
	}

	// No producers ever registered: RemoveProducer must not stop the ring.
	r2 := newRing(t, 1)
	if r2.RemoveProducer() || r2.Stopped() {
		t.Fatal("unmatched RemoveProducer stopped the ring")
	}

	// Stopped by Stop first: the last RemoveProducer did not stop it.
	r3 := newRing(t, 1)
	r3.AddProducer()
	r3.Stop()
	if r3.RemoveProducer() {
		t.Fatal("RemoveProducer on already stopped ring returned true")
	}
}

func TestProducersConcurrent(t *testing.T) {
	for round := 0; round < 20; round++ {
		r := newRing(t, 1)
		const n = 8
		for i := 0; i < n; i++ {
			r.AddProducer()
		}
		var trues atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if r.RemoveProducer() {
					trues.Add(1)
				}
			}()
		}
		close(start)
		waitDone(t, async(wg.Wait), "concurrent RemoveProducer")
		if got := trues.Load(); got != 1 || !r.Stopped() {
			t.Fatalf("round %d: %d true results, stopped %v; want 1, true", round, got, r.Stopped())
		}
	}
}

func TestTimeouts(t *testing.T) {
	r := newRing(t, 1)
	cs := chunks(2)
	const d = 30 * time.Millisecond

	start := time.Now()
	c, err := r.PopTimeout(d)
	if err != ErrTimeout || c != nil {
		t.Fatalf("PopTimeout on empty = %p, %v; want ErrTimeout", c, err)
	}
	if el := time.Since(start); el < d {
		t.Fatalf("PopTimeout returned after %v, before its %v timeout", el, d)
	}
	if _, err := r.PopTimeout(0); err != ErrTimeout {
		t.Fatalf("PopTimeout(0) on empty = %v, want ErrTimeout", err)
	}
	if _, err := r.PopTimeout(-time.Second); err != ErrTimeout {
		t.Fatalf("PopTimeout(<0) on empty = %v, want ErrTimeout", err)
	}

	if err := r.PushTimeout(cs[0], d); err != nil {
		t.Fatalf("PushTimeout with space: %v", err)
	}
	start = time.Now()
	if err := r.PushTimeout(cs[1], d); err != ErrTimeout {
		t.Fatalf("PushTimeout on full = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el < d {
		t.Fatalf("PushTimeout returned after %v, before its %v timeout", el, d)
	}
	if r.Len() != 1 {
		t.Fatalf("Len = %d after timed-out push, want 1", r.Len())
	}

	// A waiting timed push succeeds when space appears in time.
	var perr error
	done := async(func() { perr = r.PushTimeout(cs[1], bound) })
	assertBlocked(t, done, "PushTimeout on full ring")
	mustPop(t, r, cs[0])
	waitDone(t, done, "PushTimeout after Pop")
	if perr != nil {
		t.Fatalf("PushTimeout: %v", perr)
	}

	// A waiting timed pop succeeds when data appears in time.
	mustPop(t, r, cs[1])
	var got *chunk.Chunk
	var gerr error
	done = async(func() { got, gerr = r.PopTimeout(bound) })
	assertBlocked(t, done, "PopTimeout on empty ring")
	r.Push(cs[0])
	waitDone(t, done, "PopTimeout after Push")
	if gerr != nil || got != cs[0] {
		t.Fatalf("PopTimeout = %p, %v; want %p", got, gerr, cs[0])
	}
}

// TestTimeoutsLeaveNoGoroutines checks that timed waits clean up: a burst of
// expiring and of satisfied timed waits leaves the goroutine count where it
// was (AfterFunc timers are stopped, not left to run).
func TestTimeoutsLeaveNoGoroutines(t *testing.T) {
	r := newRing(t, 1)
	c := chunks(1)[0]
	before := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		if _, err := r.PopTimeout(time.Millisecond); err != ErrTimeout {
			t.Fatalf("PopTimeout = %v, want ErrTimeout", err)
		}
	}
	for i := 0; i < 50; i++ {
		done := async(func() {
			if _, err := r.PopTimeout(time.Hour); err != nil {
				t.Errorf("PopTimeout: %v", err)
			}
		})
		if err := r.Push(c); err != nil {
			t.Fatal(err)
		}
		waitDone(t, done, "PopTimeout")
	}
	deadline := time.Now().Add(bound)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after", before, runtime.NumGoroutine())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDrain(t *testing.T) {
	r := newRing(t, 3)
	if d := r.Drain(); d != nil {
		t.Fatalf("Drain empty = %v, want nil", d)
	}
	cs := chunks(5)
	// Offset the head so the drained items wrap around.
	r.Push(cs[0])
	r.Push(cs[1])
	mustPop(t, r, cs[0])
	mustPop(t, r, cs[1])
	r.Push(cs[2])
	r.Push(cs[3])
	r.Push(cs[4])
	var perr error
	done := async(func() { perr = r.Push(cs[0]) })
	assertBlocked(t, done, "Push on full ring")
	d := r.Drain()
	if len(d) != 3 || d[0] != cs[2] || d[1] != cs[3] || d[2] != cs[4] {
		t.Fatalf("Drain = %v, want chunks 2,3,4", d)
	}
	waitDone(t, done, "Push after Drain")
	if perr != nil {
		t.Fatalf("Push after Drain: %v", perr)
	}
	mustPop(t, r, cs[0])
	if r.Stopped() {
		t.Fatal("Drain stopped the ring")
	}
}

func TestClose(t *testing.T) {
	r, err := New(2)
	if err != nil {
		t.Fatal(err)
	}
	cs := chunks(1)
	r.Push(cs[0])
	var perr error
	done := async(func() { _, perr = r.PopTimeout(bound); _, perr = r.Pop() })
	r.Close()
	r.Close()
	waitDone(t, done, "Pop after Close")
	if perr != ErrStopped {
		t.Fatalf("Pop after Close = %v, want ErrStopped", perr)
	}
	if !r.Stopped() {
		t.Fatal("Close did not stop the ring")
	}
	if err := r.Push(cs[0]); err != ErrStopped {
		t.Fatalf("Push after Close = %v, want ErrStopped", err)
	}
	if _, err := r.DataFD(); !errors.Is(err, ErrClosed) {
		t.Fatalf("DataFD after Close = %v, want ErrClosed", err)
	}
	if _, err := r.SpaceFD(); !errors.Is(err, ErrClosed) {
		t.Fatalf("SpaceFD after Close = %v, want ErrClosed", err)
	}
}

// TestStress: 4 producers x 4 consumers through a small ring; every item is
// delivered exactly once, and each consumer sees each producer's items in
// the order they were pushed (FIFO). Producers use Push/PushTimeout/TryPush,
// consumers Pop/PopTimeout/TryPop; the ring stops when the last producer
// leaves.
func TestStress(t *testing.T) {
	const producers, consumers, total = 4, 4, 100000
	const perProducer = total / producers
	r := newRing(t, 8)
	cs := chunks(total)

	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		r.AddProducer()
	}
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.RemoveProducer()
			for i := 0; i < perProducer; i++ {
				c := cs[p*perProducer+i]
				var err error
				switch i % 3 {
				case 0:
					err = r.Push(c)
				case 1:
					for err = r.PushTimeout(c, time.Millisecond); err == ErrTimeout; err = r.PushTimeout(c, time.Millisecond) {
					}
				case 2:
					for err = r.TryPush(c); err == ErrFull; err = r.TryPush(c) {
						runtime.Gosched()
					}
				}
				if err != nil {
					t.Errorf("producer %d push %d: %v", p, i, err)
					return
				}
			}
		}()
	}
	seen := make([][]*chunk.Chunk, consumers)
	for k := 0; k < consumers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var c *chunk.Chunk
				var err error
				switch i % 3 {
				case 0:
					c, err = r.Pop()
				case 1:
					for c, err = r.PopTimeout(time.Millisecond); err == ErrTimeout; c, err = r.PopTimeout(time.Millisecond) {
					}
				case 2:
					for c, err = r.TryPop(); err == ErrEmpty; c, err = r.TryPop() {
						runtime.Gosched()
					}
				}
				if err == ErrStopped {
					return
				}
				if err != nil {
					t.Errorf("consumer %d: %v", k, err)
					return
				}
				seen[k] = append(seen[k], c)
			}
		}()
	}
	select {
	case <-async(wg.Wait):
	case <-time.After(60 * time.Second):
		t.Fatal("stress test did not finish within 60s")
	}

	count := make([]int, total)
	for k, s := range seen {
		last := make([]int64, producers)
		for p := range last {
			last[p] = -1
		}
		for _, c := range s {
			id := c.ChunkID
			if id < 0 || id >= total || cs[id] != c {
				t.Fatalf("consumer %d got unknown chunk %p id %d", k, c, id)
			}
			count[id]++
			p := id / perProducer
			if id <= last[p] {
				t.Fatalf("consumer %d saw chunk %d after %d from producer %d", k, id, last[p], p)
			}
			last[p] = id
		}
	}
	for id, n := range count {
		if n != 1 {
			t.Fatalf("chunk %d delivered %d times", id, n)
		}
	}
	if r.Len() != 0 || !r.Stopped() {
		t.Fatalf("after stress: Len %d Stopped %v", r.Len(), r.Stopped())
	}
}

func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	r := newRing(t, 4)
	c := chunks(1)[0]
	// With fds in use too: the second ring has both readiness fds active.
	rf := newRing(t, 4)
	if _, err := rf.DataFD(); err != nil {
		t.Skip("no readiness fds:", err)
	}
	rf.SpaceFD()
	for _, ring := range []*Ring{r, rf} {
		n := testing.AllocsPerRun(1000, func() {
			ring.Push(c)
			ring.TryPush(c)
			ring.PushTimeout(c, time.Hour)
			ring.Pop()
			ring.TryPop()
			ring.PopTimeout(time.Hour)
		})
		if n != 0 {
			t.Fatalf("%v allocs per push/pop round, want 0", n)
		}
	}
}

func BenchmarkPushPop(b *testing.B) {
	r := newRing(b, 16)
	c := chunks(1)[0]
	b.ReportAllocs()
	for b.Loop() {
		r.Push(c)
		r.Pop()
	}
}

func BenchmarkPushPopWithFDs(b *testing.B) {
	r := newRing(b, 16)
	if _, err := r.DataFD(); err != nil {
		b.Skip(err)
	}
	r.SpaceFD()
	c := chunks(1)[0]
	b.ReportAllocs()
	for b.Loop() {
		r.Push(c) // empty -> non-empty: the data fd level flips each time
		r.Pop()
	}
}

// BenchmarkPushPopTwoGoroutines: one producer, one consumer (the real use).
func BenchmarkPushPopTwoGoroutines(b *testing.B) {
	r := newRing(b, 16)
	c := chunks(1)[0]
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := r.Pop(); err != nil {
				return
			}
		}
	}()
	b.ReportAllocs()
	for b.Loop() {
		r.Push(c)
	}
	r.Stop()
	<-done
}
