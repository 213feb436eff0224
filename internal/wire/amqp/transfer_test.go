package amqp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// readTransfers reads every frame in stream, checks each is at most max
// bytes, and feeds the transfers to an assembler.
func readTransfers(t *testing.T, stream []byte, max uint32, a *Assembler) ([]*Delivery, int) {
	t.Helper()
	r := NewReader(bytes.NewReader(stream), max)
	var out []*Delivery
	frames := 0
	for {
		f, err := r.ReadFrame()
		if err == io.EOF {
			return out, frames
		}
		if err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		frames++
		var tr Transfer
		payload, err := DecodeTransfer(f.Body, &tr)
		if err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		d, err := a.Add(&tr, payload)
		if err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
}

func TestSplitAndAssemble(t *testing.T) {
	message := make([]byte, 5000)
	for i := range message {
		message[i] = byte(i)
	}
	first := &Transfer{Handle: 1, DeliveryID: Some(uint32(77)), DeliveryTag: []byte("tag"), MessageFormat: Some(uint32(0)),
		Settled: true, State: &Accepted{}}
	for _, tt := range []struct {
		max    uint32
		frames int
	}{
		{0, 1},
		{1 << 20, 1},
		{512, 11},
		{1000, 6},
		{5020, 2},
	} {
		stream, err := AppendTransfer(nil, 4, first, message, tt.max)
		if err != nil {
			t.Fatalf("max %d: %v", tt.max, err)
		}
		var a Assembler
		ds, frames := readTransfers(t, stream, tt.max, &a)
		if len(ds) != 1 || frames != tt.frames {
			t.Fatalf("max %d: %d deliveries in %d frames, want 1 in %d", tt.max, len(ds), frames, tt.frames)
		}
		d := ds[0]
		if !bytes.Equal(d.Payload, message) {
			t.Fatalf("max %d: payload changed", tt.max)
		}
		want := *first
		if !reflect.DeepEqual(d.Transfer, want) || d.Frames != tt.frames {
			t.Fatalf("max %d: delivery %#v, want %#v", tt.max, d.Transfer, want)
		}
		if cap(d.Payload) > len(d.Payload)*5/4 {
			t.Fatalf("max %d: payload keeps %d bytes for %d", tt.max, cap(d.Payload), len(d.Payload))
		}
		if a.InProgress() {
			t.Fatal("assembler still in progress")
		}
	}
}

// TestSplitFillsFramesExactly checks the frame boundary arithmetic: every
// frame but the last is exactly max-frame-size, whatever the payload size
// around the boundary.
func TestSplitFillsFramesExactly(t *testing.T) {
	tr := &Transfer{Handle: 0, DeliveryID: Some(uint32(1)), DeliveryTag: []byte{1}}
	single, _ := AppendTransfer(nil, 0, tr, nil, 0)
	overhead := len(single)
	const max = 600
	for size := max - overhead - 3; size < 3*max; size++ {
		stream, err := AppendTransfer(nil, 0, tr, make([]byte, size), max)
		if err != nil {
			t.Fatal(err)
		}
		var frames []int
		for rest := stream; len(rest) > 0; {
			f, n, err := ParseFrame(rest, max)
			if err != nil || n == 0 {
				t.Fatalf("size %d: %v", size, err)
			}
			_ = f
			frames = append(frames, n)
			rest = rest[n:]
		}
		for i, n := range frames[:len(frames)-1] {
			if n != max {
				t.Fatalf("size %d: frame %d of %d is %d bytes", size, i, len(frames), n)
			}
		}
		var a Assembler
		ds, _ := readTransfers(t, stream, max, &a)
		if len(ds) != 1 || len(ds[0].Payload) != size {
			t.Fatalf("size %d: reassembled %d deliveries", size, len(ds))
		}
	}
}

func TestSplitRefuses(t *testing.T) {
	if _, err := AppendTransfer(nil, 0, &Transfer{More: true}, nil, 0); !errors.Is(err, ErrEncode) {
		t.Fatalf("more=true accepted: %v", err)
	}
	// A performative that leaves no room for payload in a tiny frame.
	tr := &Transfer{DeliveryID: Some(uint32(1)), DeliveryTag: make([]byte, 32), State: &Rejected{Error: &Error{Condition: "x", Description: string(make([]byte, 600))}}}
	if _, err := AppendTransfer(nil, 0, tr, []byte("x"), 512); !errors.Is(err, ErrEncode) {
		t.Fatalf("no room: %v", err)
	}
	w := NewWriter(io.Discard)
	w.SetMaxFrameSize(512)
	if err := w.WriteTransfer(0, tr, []byte("x")); !errors.Is(err, ErrEncode) || w.Buffered() != 0 {
		t.Fatalf("writer: %v, %d bytes buffered", err, w.Buffered())
	}
}

func TestAssembler(t *testing.T) {
	id := func(n uint32) Optional[uint32] { return Some(n) }
	tests := []struct {
		name    string
		max     uint64
		steps   []Transfer
		payload []string
		want    *Delivery // after the last step
		err     error     // from the last step
	}{
		{
			name:    "continuations without delivery-id, state and settled on the last",
			steps:   []Transfer{{DeliveryID: id(1), DeliveryTag: []byte{1}, More: true}, {More: true}, {Settled: true, State: &Accepted{}, Batchable: true}},
			payload: []string{"ab", "cd", "e"},
			want:    &Delivery{Transfer: Transfer{DeliveryID: id(1), DeliveryTag: []byte{1}, Settled: true, State: &Accepted{}, Batchable: true}, Payload: []byte("abcde"), Frames: 3},
		},
		{
			name:    "aborted",
			steps:   []Transfer{{DeliveryID: id(2), More: true}, {Aborted: true}},
			payload: []string{"ab", ""},
			want:    &Delivery{Transfer: Transfer{DeliveryID: id(2), Aborted: true}, Frames: 2},
		},
		{
			name:    "too large",
			max:     3,
			steps:   []Transfer{{DeliveryID: id(3), More: true}, {}},
			payload: []string{"ab", "cd"},
			err:     ErrMessageTooLarge,
		},
		{
			name:    "at the limit",
			max:     4,
			steps:   []Transfer{{DeliveryID: id(3), More: true}, {}},
			payload: []string{"ab", "cd"},
			want:    &Delivery{Transfer: Transfer{DeliveryID: id(3)}, Payload: []byte("abcd"), Frames: 2},
		},
		{
			name:    "first without delivery-id",
			steps:   []Transfer{{}},
			payload: []string{"x"},
			err:     ErrTransferSequence,
		},
		{
			name:    "another delivery interleaved",
			steps:   []Transfer{{DeliveryID: id(4), More: true}, {DeliveryID: id(5)}},
			payload: []string{"x", "y"},
			err:     ErrTransferSequence,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := Assembler{MaxMessageSize: tt.max}
			var d *Delivery
			var err error
			for i := range tt.steps {
				p := []byte(tt.payload[i])
				d, err = a.Add(&tt.steps[i], p)
				copy(p, "zz") // the assembler must have copied
				if i < len(tt.steps)-1 && (d != nil || err != nil) {
					t.Fatalf("step %d: %v %v", i, d, err)
				}
			}
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				if a.InProgress() {
					t.Fatal("a failed delivery is still in progress")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d, tt.want) {
				t.Fatalf("got %#v\nwant %#v", d, tt.want)
			}
		})
	}
}

// TestSplitterMatchesAppendTransfer cuts messages frame by frame and checks
// the frames are those AppendTransfer writes at once, and that Frames
// predicts their number at every step.
func TestSplitterMatchesAppendTransfer(t *testing.T) {
	message := make([]byte, 70000)
	for i := range message {
		message[i] = byte(i * 7)
	}
	tr := &Transfer{Handle: 3, DeliveryID: Some(uint32(9)), DeliveryTag: []byte("tag-9"), MessageFormat: Some(uint32(0))}
	for _, tt := range []struct {
		size int
		max  uint32
	}{
		{0, 512}, {10, 0}, {10, 512}, {480, 512}, {5000, 512}, {70000, 512}, {70000, 65536}, {70000, 1 << 20},
	} {
		want, err := AppendTransfer(nil, 2, tr, message[:tt.size], tt.max)
		if err != nil {
			t.Fatal(err)
		}
		var s TransferSplitter
		if !s.Done() {
			t.Fatal("the zero splitter is not done")
		}
		if err := s.Reset(2, tr, message[:tt.size], tt.max); err != nil {
			t.Fatal(err)
		}
		var got []byte
		frames := 0
		for !s.Done() {
			left, err := s.Frames()
			if err != nil {
				t.Fatal(err)
			}
			if frames == 0 {
				_, n := readTransfers(t, want, tt.max, &Assembler{})
				if left != n {
					t.Errorf("size %d max %d: Frames says %d, AppendTransfer wrote %d", tt.size, tt.max, left, n)
				}
			}
			if got, err = s.AppendNext(got); err != nil {
				t.Fatal(err)
			}
			frames++
			if after, _ := s.Frames(); after != left-1 {
				t.Fatalf("size %d max %d: Frames went from %d to %d after one frame", tt.size, tt.max, left, after)
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("size %d max %d: splitter frames differ from AppendTransfer's", tt.size, tt.max)
		}
		if _, err := s.AppendNext(nil); !errors.Is(err, ErrEncode) {
			t.Errorf("AppendNext after the last frame: %v, want ErrEncode", err)
		}
	}
	var s TransferSplitter
	if err := s.Reset(0, &Transfer{More: true}, nil, 0); !errors.Is(err, ErrEncode) {
		t.Errorf("Reset with more=true: %v, want ErrEncode", err)
	}
}
