// Package spead is the SPEAD wire format: constants, a zero-allocation packet
// decoder and a heap-to-packets encoder. See ../../../shared/spec/wire-format.md.
// All integers on the wire are big-endian.
package spead

import "errors"

// Header constants.
const (
	Magic       = 0x53
	Version     = 4
	HeaderSize  = 8 // bytes before the item pointers
	PointerSize = 8
)

// Special item IDs.
const (
	NullID          = 0x00
	HeapCntID       = 0x01
	HeapLengthID    = 0x02
	PayloadOffsetID = 0x03
	PayloadLengthID = 0x04
	DescriptorID    = 0x05
	StreamCtrlID    = 0x06
)

// Values of the stream control item.
const (
	CtrlStreamStart       = 0
	CtrlDescriptorReissue = 1
	CtrlStreamStop        = 2
	CtrlDescriptorUpdate  = 3
)

// Decode errors. They are sentinel values so decoding never allocates.
var (
	ErrShort           = errors.New("spead: packet shorter than its header says")
	ErrMagic           = errors.New("spead: bad magic or version")
	ErrFlavour         = errors.New("spead: invalid item-pointer / heap-address widths")
	ErrMissingItem     = errors.New("spead: missing heap counter, payload offset or payload length")
	ErrPayloadRange    = errors.New("spead: payload offset + length exceeds heap length")
	ErrTooManyPointers = errors.New("spead: item pointers overrun the packet")
)
