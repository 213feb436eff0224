package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	wire "tandem/internal/wire/stomp"
)

func TestAnnounceReadTimeout(t *testing.T) {
	a := &announcer{}
	tests := []struct {
		hb   string
		want time.Duration
	}{
		{"", announceSilence},
		{"0,1000", announceSilence},
		{"1000,1000", announceSilence},
		{"10000,1000", 21 * time.Second}, // the live's default heart-beat
		{"nonsense", announceSilence},
	}
	for _, tc := range tests {
		if got := a.readTimeout(tc.hb); got != tc.want {
			t.Errorf("readTimeout(%q) = %v, want %v", tc.hb, got, tc.want)
		}
	}
}

// TestAnnouncementOutlastsTheLivesHeartBeat runs the announcer against a
// live that heart-beats less often than the announcer's shortest silence:
// the announcement must stay up (one connection) across several beats, as
// it did not when the live logged "backup left" / "backup announced"
// every 6 s.
func TestAnnouncementOutlastsTheLivesHeartBeat(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const beat = 300 * time.Millisecond
	conns := make(chan net.Conn, 10)
	beats := make(chan int, 100)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- nc
			go fakeLive(nc, beat, beats)
		}
	}()
	a := &announcer{urls: []string{"tcp://" + ln.Addr().String()}, nodeID: func() string { return "node-1" },
		selfURL: "tcp://localhost:61617", name: "slave", log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		minSilence: beat / 3}
	announced := make(chan string, 10)
	a.onAnnounced = func(url string) { announced <- url }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.run(ctx)

	first := waitConn(t, conns)
	defer first.Close()
	if url := <-announced; url == "" {
		t.Fatal("the announcer reported no live")
	}
	for n := 0; n < 5; {
		select {
		case n = <-beats:
		case <-time.After(10 * time.Second):
			t.Fatal("the fake live stopped beating: the announcer closed the connection")
		}
	}
	select {
	case nc := <-conns:
		nc.Close()
		t.Fatal("the announcer dropped its announcement and announced again between two heart-beats of the live")
	case url := <-announced:
		t.Fatalf("the announcement changed to %q", url)
	default:
	}
}

func waitConn(t *testing.T, conns chan net.Conn) net.Conn {
	t.Helper()
	select {
	case nc := <-conns:
		return nc
	case <-time.After(10 * time.Second):
		t.Fatal("the announcer did not connect")
		return nil
	}
}

// fakeLive answers a CONNECT with CONNECTED promising heart-beats every
// beat, then sends them, reporting each one written on beats.
func fakeLive(nc net.Conn, beat time.Duration, beats chan<- int) {
	defer nc.Close()
	r := wire.NewReader(nc, wire.ReaderOptions{})
	w := wire.NewWriter(nc)
	if _, err := r.ReadFrame(); err != nil {
		return
	}
	ms := beat.Milliseconds()
	hb := wire.FormatHeartBeat(time.Duration(ms)*time.Millisecond, 10*time.Second)
	if w.WriteFrame(&wire.Frame{Command: wire.CmdConnected, Headers: wire.Headers{{Key: "version", Value: "1.2"}, {Key: "heart-beat", Value: hb}}}) != nil || w.Flush() != nil {
		return
	}
	w.SetVersion(wire.V12)
	go io.Copy(io.Discard, nc) // the announcer's own beats
	for n := 1; ; n++ {
		time.Sleep(beat)
		if w.WriteHeartBeat() != nil || w.Flush() != nil {
			return
		}
		beats <- n
	}
}
