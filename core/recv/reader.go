package recv

// Sink is what a reader feeds: a stream. AddBatch processes a batch of
// packets; each element is one packet (a datagram, or one record cut out of
// a byte stream) and is only valid during the call. The batch slice is the
// reader's own (reuse it; AddBatch does not keep it). AddBatch returns false
// once the stream has stopped, after which the reader should return from Run.
type Sink interface {
	AddBatch(packets [][]byte) bool
}

// BufferSink is a Sink that also takes packets stored back to back in
// memory and cuts them itself (a stream is one). A reader of such a buffer
// hands the sink the rest of it instead of a batch of packets it found
// first: finding a batch first reads every packet's header before any
// payload, a jump of a packet's size each time that the CPU's prefetcher
// does not follow, where cutting each packet right after the one before it
// is processed reads memory in order (BenchmarkMemReader, 1 KiB packets:
// 77-80 ns a packet against 112-120 with the batch's headers prefetched,
// 163-171 without).
//
// AddBuffer processes packets from the start of buf, at least one and at
// most maxPackets of them as one batch, and returns the bytes they took
// (at least one packet's unless err is set or ok false). It stops before a
// packet that is malformed or runs past the end of buf and returns why
// (spead.Length's error or spead.ErrShort), after processing those before
// it. ok is false once the stream has stopped, as AddBatch's result.
type BufferSink interface {
	Sink
	AddBuffer(buf []byte, maxPackets int) (used int, ok bool, err error)
}

// Reader is a transport feeding one stream. The stream calls Run on a
// goroutine of its own; Run receives packets and passes them to sink in
// batches until the input ends (return nil), it fails (return the error),
// AddBatch returns false, or Close is called (return nil promptly).
//
// Close may be called from any goroutine, more than once, concurrently
// with Run, including from inside sink.AddBatch on Run's own goroutine; it
// must not block waiting for Run. After Run has returned the stream calls
// Close once more so the reader releases its resources.
type Reader interface {
	Run(sink Sink) error
	Close() error
}

// Releaser is implemented by readers that hold resources to be released
// only once nothing can use them any more (a copied buffer, a buffer lent
// by C). The stream calls Release exactly once: after Run has returned,
// or at stop for a reader that never ran.
type Releaser interface {
	Release()
}

func releaseReader(r Reader) {
	if rel, ok := r.(Releaser); ok {
		rel.Release()
	}
}
